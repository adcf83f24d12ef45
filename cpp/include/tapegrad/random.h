// Random tensors from counter-based streams (tg.random, python/tapegrad/random.py): element k of
// a tensor drawn with `key` depends only on (key, k), so the numbers do not depend on the ISA
// path, the thread count or how the work is split. The Python layer turns TensorFlow's global
// and op seeds into the key.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "tapegrad/tensor.h"

namespace tg {

// Uniform in [minval, maxval) (float32 or float64; ValueError unless minval < maxval, both finite).
Tensor random_uniform(DType dtype, const Shape& shape, double minval, double maxval,
                      std::uint64_t key);
// Normal(mean, stddev) by Box-Muller: elements 2i and 2i+1 come from the uniform pair i.
Tensor random_normal(DType dtype, const Shape& shape, double mean, double stddev,
                     std::uint64_t key);
// Normal(mean, stddev) with draws more than two standard deviations from the mean drawn again
// (TensorFlow's truncated_normal); each element redraws from its own stream.
Tensor random_truncated_normal(DType dtype, const Shape& shape, double mean, double stddev,
                               std::uint64_t key);
// A stream of draws for a stateful random op (a Dropout layer's masks): each call takes the next
// key, derived from the stream's key and its call count, so a compiled program that replays the
// op draws new numbers every time, as eager calls do.
struct RandomStream {
  explicit RandomStream(std::uint64_t key) : key(key) {}
  std::uint64_t next_key();
  const std::uint64_t key;
  std::atomic<std::uint64_t> calls{0};
};
// 1 / (1 - rate) with probability 1 - rate, else 0 (inverted dropout's mask), of `shape`, from
// the stream's next key; 0 <= rate < 1. A stateful op: traced, never folded.
Tensor dropout_mask(DType dtype, const Shape& shape, double rate,
                    const std::shared_ptr<RandomStream>& stream);

// A uniform random permutation of 0..n-1 (Fisher-Yates).
std::vector<std::int64_t> random_permutation(std::int64_t n, std::uint64_t key);

}  // namespace tg
