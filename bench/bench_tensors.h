// Tensors for the C++ benchmarks that run ops: float32 normal draws of a given scale.
#pragma once
#include <random>

#include "tapegrad/tensor.h"

namespace tg::bench {

inline Tensor random_tensor(Shape shape, std::mt19937& rng, float scale) {
  Tensor t = Tensor::empty(DType::Float32, std::move(shape));
  std::normal_distribution<float> normal(0.0f, scale);
  for (std::int64_t i = 0; i < t.size(); ++i) t.mutable_data<float>()[i] = normal(rng);
  return t;
}

}  // namespace tg::bench
