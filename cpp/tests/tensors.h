// Small float64 tensors for the C++ tests: a vector's values in, a tensor's values out.
#pragma once
#include <vector>

#include "tapegrad/tensor.h"

namespace tg_test {

inline tg::Tensor vec(const std::vector<double>& v) {
  tg::Tensor t = tg::Tensor::empty(tg::DType::Float64, {static_cast<std::int64_t>(v.size())});
  for (std::size_t i = 0; i < v.size(); ++i) t.mutable_data<double>()[i] = v[i];
  return t;
}

inline std::vector<double> values(const tg::Tensor& t) {
  return std::vector<double>(t.data<double>(), t.data<double>() + t.size());
}

}  // namespace tg_test
