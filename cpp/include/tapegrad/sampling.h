// Batch sampling for training loops: row indices drawn in C++, the same for a given seed on every
// platform (a fixed generator, not std::uniform_int_distribution, whose output is
// implementation-defined), so a compiled training loop and an eager one see the same batches.
#pragma once
#include <cstdint>
#include <vector>

namespace tg {

// steps x batch row indices in [0, n), drawn uniformly with replacement (the seed notebook's
// random_batch), row-major. n must be > 0.
std::vector<std::int64_t> random_batch_indices(std::int64_t n, std::int64_t steps,
                                               std::int64_t batch, std::uint64_t seed);

// TensorFlow's shuffle buffer (tf.data.Dataset.shuffle) over a stream of ids: the first `capacity`
// ids fill the buffer; each later id replaces a uniformly chosen buffered one, which leaves; at
// the end the rest leave in uniform random order. Every id leaves exactly once, so the output is
// a permutation of the input; a capacity >= the input's length gives a uniform permutation.
class ShuffleBuffer {
 public:
  ShuffleBuffer(std::int64_t capacity, std::uint64_t seed);  // ValueError unless capacity > 0
  // Feeds n ids; appends to `out` those that leave the buffer (one per id beyond the capacity).
  void push(const std::int64_t* ids, std::int64_t n, std::vector<std::int64_t>& out);
  // Appends every buffered id to `out` in random order and empties the buffer.
  void drain(std::vector<std::int64_t>& out);
  std::int64_t size() const { return static_cast<std::int64_t>(buffer_.size()); }

 private:
  std::int64_t capacity_;
  std::uint64_t rng_state_;  // a SplitMix64 state (cpp/src/splitmix64.h)
  std::vector<std::int64_t> buffer_;
};

// Copies rows[i] of the row-major (n_rows, row_bytes) block src to row i of dst, for `count`
// rows: a batch gathered from whole arrays of any element type. IndexError for a row outside
// [0, n_rows), checked before anything is written.
void gather_rows(const void* src, std::int64_t n_rows, std::int64_t row_bytes,
                 const std::int64_t* rows, std::int64_t count, void* dst);

}  // namespace tg
