// Random tensors from counter-based streams (tg.random, python/tapegrad/random.py): element k of
// a tensor drawn with `key` depends only on (key, k), so the numbers do not depend on the ISA
// path, the thread count or how the work is split. The Python layer turns TensorFlow's global
// and op seeds into the key.
#pragma once
#include <cstdint>
#include <vector>

#include "tapegrad/tensor.h"

namespace tg {

// Uniform in [minval, maxval) (float32 or float64; ValueError unless minval < maxval, both finite).
Tensor random_uniform(DType dtype, const Shape& shape, double minval, double maxval, std::uint64_t key);
// Normal(mean, stddev) by Box-Muller: elements 2i and 2i+1 come from the uniform pair i.
Tensor random_normal(DType dtype, const Shape& shape, double mean, double stddev, std::uint64_t key);
// Normal(mean, stddev) with draws more than two standard deviations from the mean drawn again
// (TensorFlow's truncated_normal); each element redraws from its own stream.
Tensor random_truncated_normal(DType dtype, const Shape& shape, double mean, double stddev, std::uint64_t key);
// A uniform random permutation of 0..n-1 (Fisher-Yates).
std::vector<std::int64_t> random_permutation(std::int64_t n, std::uint64_t key);

}  // namespace tg
