#include "tapegrad/sampling.h"

#include "tapegrad/errors.h"
#include "tapegrad/shape.h"

namespace tg {

namespace {
// SplitMix64 (Steele, Lea and Flood): a 64-bit state, one add and three xor-shift-multiplies per
// draw; every seed gives a full-period, well-mixed stream.
struct SplitMix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) without modulo bias (Lemire's multiply-shift with rejection).
  std::uint64_t below(std::uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(next()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }
};
}  // namespace

std::vector<std::int64_t> random_batch_indices(std::int64_t n, std::int64_t steps, std::int64_t batch,
                                               std::uint64_t seed) {
  if (n <= 0) throw ValueError("random_batch_indices: no samples to draw from (n = " + std::to_string(n) + ")");
  if (steps < 0 || batch < 0)
    throw ValueError("random_batch_indices: steps and batch must be >= 0, got " + std::to_string(steps) +
                     " and " + std::to_string(batch));
  const std::int64_t count = check_shape({steps, batch}, sizeof(std::int64_t), "random_batch_indices");
  SplitMix64 rng{seed};
  std::vector<std::int64_t> out(static_cast<std::size_t>(count));
  for (std::int64_t& i : out) i = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n)));
  return out;
}

}  // namespace tg
