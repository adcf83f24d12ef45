// Sparse softmax cross-entropy, fused: for each row x of the logits (C classes) and its integer
// label l, loss = logsumexp(x) - x[l], computed stably as log(sum(exp(x - max x))) + max x - x[l];
// the backward writes g * (softmax(x) - one_hot(l)) in the same row pass. The row loops use the
// ISA table's exp, sum and max (simd/ew_table.h), so every row costs three passes over data
// already in L1; threads take whole rows.
#include <cmath>
#include <limits>
#include <vector>

#include "parallel.h"
#include "simd/ew_table.h"
#include "tapegrad/kernels.h"

namespace tg::kernels {

template <class T, class I>
std::int64_t sparse_softmax_xent(const T* logits, const I* labels, std::int64_t rows,
                                 std::int64_t classes, T* loss) {
  for (std::int64_t r = 0; r < rows; ++r)
    if (labels[r] < 0 || labels[r] >= classes) return r;
  const auto& k = ew<T>();
  parallel_ranges(rows, [&](std::int64_t b, std::int64_t e) {
    std::vector<T> tmp(static_cast<std::size_t>(classes));
    for (std::int64_t r = b; r < e; ++r) {
      const T* x = logits + r * classes;
      const T m = k.max(x, 1, classes, -std::numeric_limits<T>::infinity());
      if (!std::isfinite(m)) {  // an infinite or NaN logit: the plain formula's value
        T s = 0;
        for (std::int64_t j = 0; j < classes; ++j) s += std::exp(x[j] - m);
        loss[r] = std::log(s) + (m - x[labels[r]]);  // m - x[l] first: exact when both are large
        continue;
      }
      k.binary(BinaryOp::Subtract, x, 1, &m, 0, tmp.data(), classes, false);
      k.unary(UnaryOp::Exp, tmp.data(), tmp.data(), classes, false);
      const T s = k.sum(tmp.data(), 1, classes);
      loss[r] = std::log(s) + (m - x[labels[r]]);  // m - x[l] first: exact when both are large
    }
  }, std::max<std::int64_t>(1, kParallelMinElements / std::max<std::int64_t>(classes, 1)));
  return -1;
}

template <class T, class I>
void sparse_softmax_xent_grad(const T* g, std::int64_t g_stride, const T* logits, const I* labels,
                              std::int64_t rows, std::int64_t classes, T* out) {
  const auto& k = ew<T>();
  parallel_ranges(rows, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t r = b; r < e; ++r) {
      const T* x = logits + r * classes;
      T* o = out + r * classes;
      const T m = k.max(x, 1, classes, -std::numeric_limits<T>::infinity());
      k.binary(BinaryOp::Subtract, x, 1, &m, 0, o, classes, false);
      k.unary(UnaryOp::Exp, o, o, classes, false);
      const T gr = g[r * g_stride];
      const T scale = gr / k.sum(o, 1, classes);
      k.binary(BinaryOp::Multiply, o, 1, &scale, 0, o, classes, false);
      const I l = labels[r];
      if (l >= 0 && l < classes) o[l] -= gr;
    }
  }, std::max<std::int64_t>(1, kParallelMinElements / std::max<std::int64_t>(classes, 1)));
}

#define TG_INSTANTIATE(T, I)                                                                      \
  template std::int64_t sparse_softmax_xent<T, I>(const T*, const I*, std::int64_t, std::int64_t, \
                                                  T*);                                            \
  template void sparse_softmax_xent_grad<T, I>(const T*, std::int64_t, const T*, const I*,        \
                                               std::int64_t, std::int64_t, T*);
TG_INSTANTIATE(float, std::int32_t)
TG_INSTANTIATE(float, std::int64_t)
TG_INSTANTIATE(double, std::int32_t)
TG_INSTANTIATE(double, std::int64_t)
#undef TG_INSTANTIATE

}  // namespace tg::kernels
