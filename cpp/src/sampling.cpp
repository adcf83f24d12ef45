#include "tapegrad/sampling.h"

#include <cstring>

#include "splitmix64.h"
#include "tapegrad/errors.h"
#include "tapegrad/shape.h"

namespace tg {

std::vector<std::int64_t> random_batch_indices(std::int64_t n, std::int64_t steps,
                                               std::int64_t batch, std::uint64_t seed) {
  if (n <= 0)
    throw ValueError("random_batch_indices: no samples to draw from (n = " + std::to_string(n) +
                     ")");
  if (steps < 0 || batch < 0)
    throw ValueError("random_batch_indices: steps and batch must be >= 0, got " +
                     std::to_string(steps) + " and " + std::to_string(batch));
  const std::int64_t count =
      check_shape({steps, batch}, sizeof(std::int64_t), "random_batch_indices");
  detail::SplitMix64 rng{seed};
  std::vector<std::int64_t> out(static_cast<std::size_t>(count));
  for (std::int64_t& i : out)
    i = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n)));
  return out;
}

ShuffleBuffer::ShuffleBuffer(std::int64_t capacity, std::uint64_t seed)
    : capacity_(capacity), rng_state_(seed) {
  if (capacity <= 0)
    throw ValueError("ShuffleBuffer: capacity must be > 0, got " + std::to_string(capacity));
}

void ShuffleBuffer::push(const std::int64_t* ids, std::int64_t n, std::vector<std::int64_t>& out) {
  detail::SplitMix64 rng{rng_state_};
  for (std::int64_t i = 0; i < n; ++i) {
    if (static_cast<std::int64_t>(buffer_.size()) < capacity_) {
      buffer_.push_back(ids[i]);
      continue;
    }
    std::int64_t& slot = buffer_[rng.below(static_cast<std::uint64_t>(capacity_))];
    out.push_back(slot);
    slot = ids[i];
  }
  rng_state_ = rng.state;
}

void ShuffleBuffer::drain(std::vector<std::int64_t>& out) {
  // Each step takes a uniformly chosen remaining id (Fisher-Yates from the back), so a buffer
  // that held the whole input comes out as a uniform permutation.
  detail::SplitMix64 rng{rng_state_};
  while (!buffer_.empty()) {
    std::int64_t& slot = buffer_[rng.below(buffer_.size())];
    out.push_back(slot);
    slot = buffer_.back();
    buffer_.pop_back();
  }
  rng_state_ = rng.state;
}

void gather_rows(const void* src, std::int64_t n_rows, std::int64_t row_bytes,
                 const std::int64_t* rows, std::int64_t count, void* dst) {
  for (std::int64_t i = 0; i < count; ++i)
    if (rows[i] < 0 || rows[i] >= n_rows)
      throw IndexError("gather_rows: row " + std::to_string(rows[i]) + " is out of range for " +
                       std::to_string(n_rows) + " rows");
  const auto* from = static_cast<const char*>(src);
  auto* to = static_cast<char*>(dst);
  for (std::int64_t i = 0; i < count; ++i)
    std::memcpy(to + i * row_bytes, from + rows[i] * row_bytes,
                static_cast<std::size_t>(row_bytes));
}

}  // namespace tg
