// Sparse softmax cross-entropy, fused: for each row x of the logits (C classes) and its integer
// label l, loss = logsumexp(x) - x[l] = -log_softmax(x)[l], stable for logits of any size; the
// backward writes g * (softmax(x) - one_hot(l)). Both run the ISA table's fused, vectorized
// softmax row loops (simd/ew_table.h), then pick or adjust one entry per row; threads take whole
// rows.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "parallel.h"
#include "simd/ew_table.h"
#include "tapegrad/kernels.h"

namespace tg::kernels {

template <class T, class I>
std::int64_t sparse_softmax_xent(const T* logits, const I* labels, std::int64_t rows,
                                 std::int64_t classes, T* loss, T* shift, T* log_sum) {
  for (std::int64_t r = 0; r < rows; ++r)
    if (labels[r] < 0 || labels[r] >= classes) return r;
  const auto& k = ew<T>();
  parallel_ranges(
      rows,
      [&](std::int64_t b, std::int64_t e) {
        // loss = -log_softmax(x)[label] = (shift - x[label]) + log(sum exp(x - shift)): exact for
        // logits of any size, and no log-softmax row is written (one read of each row past its max).
        std::vector<T> own;  // shift and log_sum here when the caller keeps neither
        T* sh = shift ? shift + b : nullptr;
        T* ls = log_sum ? log_sum + b : nullptr;
        if (!sh || !ls) {
          own.resize(2 * static_cast<std::size_t>(e - b));
          sh = own.data();
          ls = own.data() + (e - b);
        }
        k.shift_log_sum_rows(logits + b * classes, e - b, classes, sh, ls);
        for (std::int64_t r = b; r < e; ++r)
          loss[r] = (sh[r - b] - logits[r * classes + labels[r]]) + ls[r - b];
      },
      std::max<std::int64_t>(1, kParallelMinElements / std::max<std::int64_t>(classes, 1)));
  return -1;
}

// The gradient is written once and read no more here, while the logits stream in beside it: from
// half the elementwise threshold its rows go out by streaming stores, which skip reading each
// destination line first (the (4096, 1000) float32 gradient, 16 MB, took 15% less time).
constexpr std::int64_t kXentStreamMinBytes = kStreamMinBytes / 2;

template <class T, class I>
void sparse_softmax_xent_grad(const T* g, std::int64_t g_stride, const T* logits, const I* labels,
                              std::int64_t rows, std::int64_t classes, const T* shift,
                              const T* log_sum, T* out) {
  const auto& k = ew<T>();
  const bool stream =
      rows * classes * std::int64_t(sizeof(T)) >= kXentStreamMinBytes && classes >= kStreamMinRun;
  parallel_ranges(
      rows,
      [&](std::int64_t b, std::int64_t e) {
        // g * softmax(x), the label's entry less g, in one pass per row from the forward's shift
        // and log_sum (computed here the forward's way when not given: the same bits either way).
        std::vector<T> own;
        const T* sh = shift ? shift + b : nullptr;
        const T* ls = log_sum ? log_sum + b : nullptr;
        if (!sh || !ls) {
          own.resize(2 * static_cast<std::size_t>(e - b));
          k.shift_log_sum_rows(logits + b * classes, e - b, classes, own.data(),
                               own.data() + (e - b));
          sh = own.data();
          ls = own.data() + (e - b);
        }
        std::vector<std::int64_t> label(static_cast<std::size_t>(e - b));
        for (std::int64_t r = b; r < e; ++r) label[r - b] = static_cast<std::int64_t>(labels[r]);
        k.scaled_softmax_rows(logits + b * classes, e - b, classes, sh, ls, g + b * g_stride,
                              g_stride, label.data(), out + b * classes, stream);
      },
      std::max<std::int64_t>(1, kParallelMinElements / std::max<std::int64_t>(classes, 1)));
}

#define TG_INSTANTIATE(T, I)                                                                      \
  template std::int64_t sparse_softmax_xent<T, I>(const T*, const I*, std::int64_t, std::int64_t, \
                                                  T*, T*, T*);                                    \
  template void sparse_softmax_xent_grad<T, I>(const T*, std::int64_t, const T*, const I*,        \
                                               std::int64_t, std::int64_t, const T*, const T*,    \
                                               T*);
TG_INSTANTIATE(float, std::int32_t)
TG_INSTANTIATE(float, std::int64_t)
TG_INSTANTIATE(double, std::int32_t)
TG_INSTANTIATE(double, std::int64_t)
#undef TG_INSTANTIATE

}  // namespace tg::kernels
