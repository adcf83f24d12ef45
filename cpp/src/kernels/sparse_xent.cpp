// Sparse softmax cross-entropy, fused: for each row x of the logits (C classes) and its integer
// label l, loss = logsumexp(x) - x[l] = -log_softmax(x)[l], stable for logits of any size; the
// backward writes g * (softmax(x) - one_hot(l)). Both run the ISA table's fused, vectorized
// softmax row loops (simd/ew_table.h) over blocks of rows that stay in L1, then pick or adjust
// one entry per row; threads take whole rows.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "parallel.h"
#include "simd/ew_table.h"
#include "tapegrad/kernels.h"

namespace tg::kernels {

namespace {
// Rows per block: a block of logits rows (and its log-softmax) stays within L1.
std::int64_t block_rows(std::int64_t classes) {
  return std::max<std::int64_t>(1, 2048 / std::max<std::int64_t>(classes, 1));
}
}  // namespace

template <class T, class I>
std::int64_t sparse_softmax_xent(const T* logits, const I* labels, std::int64_t rows,
                                 std::int64_t classes, T* loss) {
  for (std::int64_t r = 0; r < rows; ++r)
    if (labels[r] < 0 || labels[r] >= classes) return r;
  const auto& k = ew<T>();
  const std::int64_t block = block_rows(classes);
  parallel_ranges(
      rows,
      [&](std::int64_t b, std::int64_t e) {
        // loss = -log_softmax(x)[label] = (max - x[label]) + log(sum exp(x - max)): the ISA's fused
        // log-softmax row loop keeps that form, exact for logits of any size.
        std::vector<T> log_p(static_cast<std::size_t>(std::min(block, e - b) * classes));
        for (std::int64_t r0 = b; r0 < e; r0 += block) {
          const std::int64_t m = std::min(block, e - r0);
          k.log_softmax_rows(logits + r0 * classes, m, classes, log_p.data());
          for (std::int64_t i = 0; i < m; ++i) loss[r0 + i] = -log_p[i * classes + labels[r0 + i]];
        }
      },
      std::max<std::int64_t>(1, kParallelMinElements / std::max<std::int64_t>(classes, 1)));
  return -1;
}

template <class T, class I>
void sparse_softmax_xent_grad(const T* g, std::int64_t g_stride, const T* logits, const I* labels,
                              std::int64_t rows, std::int64_t classes, T* out) {
  const auto& k = ew<T>();
  const std::int64_t block = block_rows(classes);
  parallel_ranges(
      rows,
      [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t r0 = b; r0 < e; r0 += block) {
          const std::int64_t m = std::min(block, e - r0);
          T* o = out + r0 * classes;
          k.softmax_rows(logits + r0 * classes, m, classes,
                         o);  // the block stays in L1 for the scaling
          for (std::int64_t i = 0; i < m; ++i) {
            const T gr = g[(r0 + i) * g_stride];
            T* row = o + i * classes;
            for (std::int64_t j = 0; j < classes; ++j) row[j] *= gr;
            const I l = labels[r0 + i];
            if (l >= 0 && l < classes) row[l] -= gr;
          }
        }
      },
      std::max<std::int64_t>(1, kParallelMinElements / std::max<std::int64_t>(classes, 1)));
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
