// Softmax-family and cross-entropy kernels: the row loops come from the ISA table
// (simd/ew_table.h) and see contiguous rows; this file brings a softmax axis that is not the last
// one to that layout (a transposed copy) and splits rows over the pool. Each row is computed by
// one thread from start to end, so results never depend on the thread count.
#include <vector>

#include "parallel.h"
#include "simd/ew_table.h"
#include "tapegrad/kernels.h"

namespace tg::kernels {
namespace {

using i64 = std::int64_t;

// f(first_row, end_row) over rows of D elements, on the pool once the rows hold enough work.
template <class F>
void for_rows(i64 rows, i64 D, F&& f) {
  parallel_ranges(rows, f, std::max<i64>(1, kParallelMinElements / std::max<i64>(D, 1)));
}

// (outer, D, inner) -> (outer, inner, D): the axis made the last one.
template <class T>
std::vector<T> axis_last(const T* x, i64 outer, i64 D, i64 inner) {
  std::vector<T> out(static_cast<std::size_t>(outer * D * inner));
  for (i64 o = 0; o < outer; ++o)
    for (i64 d = 0; d < D; ++d)
      for (i64 i = 0; i < inner; ++i) out[(o * inner + i) * D + d] = x[(o * D + d) * inner + i];
  return out;
}

// The inverse: (outer, inner, D) rows written back to (outer, D, inner).
template <class T>
void axis_back(const std::vector<T>& rows, i64 outer, i64 D, i64 inner, T* x) {
  for (i64 o = 0; o < outer; ++o)
    for (i64 d = 0; d < D; ++d)
      for (i64 i = 0; i < inner; ++i) x[(o * D + d) * inner + i] = rows[(o * inner + i) * D + d];
}

// out (shaped like x) = rows(x1, x2, M, D, out) applied along the axis; x2 may be null.
template <class T, class Rows>
void map_rows(const T* x1, const T* x2, i64 outer, i64 D, i64 inner, T* out, Rows rows) {
  const i64 M = outer * inner;
  if (M == 0 || D == 0) return;
  if (inner == 1) {
    for_rows(M, D, [&](i64 b, i64 e) {
      rows(x1 + b * D, x2 ? x2 + b * D : nullptr, e - b, D, out + b * D);
    });
    return;
  }
  const std::vector<T> r1 = axis_last(x1, outer, D, inner);
  const std::vector<T> r2 = x2 ? axis_last(x2, outer, D, inner) : std::vector<T>();
  std::vector<T> ro(r1.size());
  for_rows(M, D, [&](i64 b, i64 e) {
    rows(r1.data() + b * D, x2 ? r2.data() + b * D : nullptr, e - b, D, ro.data() + b * D);
  });
  axis_back(ro, outer, D, inner, out);
}

// out (one value per row) = rows(x1, x2, M, D, out) along the axis; x2 may be null.
template <class T, class Rows>
void reduce_rows(const T* x1, const T* x2, i64 outer, i64 D, i64 inner, T* out, Rows rows) {
  const i64 M = outer * inner;
  if (M == 0) return;
  if (inner == 1) {
    for_rows(M, D,
             [&](i64 b, i64 e) { rows(x1 + b * D, x2 ? x2 + b * D : nullptr, e - b, D, out + b); });
    return;
  }
  const std::vector<T> r1 = axis_last(x1, outer, D, inner);
  const std::vector<T> r2 = x2 ? axis_last(x2, outer, D, inner) : std::vector<T>();
  for_rows(M, D, [&](i64 b, i64 e) {
    rows(r1.data() + b * D, x2 ? r2.data() + b * D : nullptr, e - b, D, out + b);
  });
}

}  // namespace

template <class T>
void softmax(const T* x, i64 outer, i64 D, i64 inner, T* y) {
  const auto& k = ew<T>();
  map_rows(x, static_cast<const T*>(nullptr), outer, D, inner, y,
           [&](const T* a, const T*, i64 M, i64 n, T* o) { k.softmax_rows(a, M, n, o); });
}

template <class T>
void log_softmax(const T* x, i64 outer, i64 D, i64 inner, T* y) {
  const auto& k = ew<T>();
  map_rows(x, static_cast<const T*>(nullptr), outer, D, inner, y,
           [&](const T* a, const T*, i64 M, i64 n, T* o) { k.log_softmax_rows(a, M, n, o); });
}

template <class T>
void logsumexp(const T* x, i64 outer, i64 D, i64 inner, T* out) {
  const auto& k = ew<T>();
  reduce_rows(x, static_cast<const T*>(nullptr), outer, D, inner, out,
              [&](const T* a, const T*, i64 M, i64 n, T* o) { k.logsumexp_rows(a, M, n, o); });
}

template <class T>
void softmax_grad(const T* g, const T* y, i64 outer, i64 D, i64 inner, T* dx) {
  const auto& k = ew<T>();
  map_rows(g, y, outer, D, inner, dx,
           [&](const T* a, const T* b, i64 M, i64 n, T* o) { k.softmax_grad_rows(a, b, M, n, o); });
}

template <class T>
void log_softmax_grad(const T* g, const T* z, i64 outer, i64 D, i64 inner, T* dx) {
  const auto& k = ew<T>();
  map_rows(g, z, outer, D, inner, dx, [&](const T* a, const T* b, i64 M, i64 n, T* o) {
    k.log_softmax_grad_rows(a, b, M, n, o);
  });
}

template <class T>
void softmax_cross_entropy(const T* labels, const T* logits, i64 outer, i64 D, i64 inner, T* loss) {
  const auto& k = ew<T>();
  reduce_rows(
      labels, logits, outer, D, inner, loss,
      [&](const T* l, const T* x, i64 M, i64 n, T* o) { k.softmax_xent_rows(l, x, M, n, o); });
}

template <class T>
void softmax_cross_entropy_grad(const T* g, const T* labels, const T* logits, i64 outer, i64 D,
                                i64 inner, T* dx) {
  const auto& k = ew<T>();
  const i64 M = outer * inner;
  if (M == 0 || D == 0) return;
  if (inner == 1) {
    for_rows(M, D, [&](i64 b, i64 e) {
      k.softmax_xent_grad_rows(g + b, labels + b * D, logits + b * D, e - b, D, dx + b * D);
    });
    return;
  }
  const std::vector<T> l = axis_last(labels, outer, D, inner),
                       x = axis_last(logits, outer, D, inner);
  std::vector<T> ro(l.size());
  for_rows(M, D, [&](i64 b, i64 e) {
    k.softmax_xent_grad_rows(g + b, l.data() + b * D, x.data() + b * D, e - b, D,
                             ro.data() + b * D);
  });
  axis_back(ro, outer, D, inner, dx);
}

template <class T>
void sigmoid_cross_entropy(const T* z, const T* x, i64 n, T* loss) {
  const auto& k = ew<T>();
  parallel_ranges(n, [&](i64 b, i64 e) { k.sigmoid_xent(z + b, x + b, e - b, loss + b); });
}

template <class T>
void sigmoid_cross_entropy_grad(const T* g, const T* z, const T* x, i64 n, T* dx) {
  const auto& k = ew<T>();
  parallel_ranges(n,
                  [&](i64 b, i64 e) { k.sigmoid_xent_grad(g + b, z + b, x + b, e - b, dx + b); });
}

namespace {
// NumPy's argmax of x[0], x[s], ..., x[(n-1)s]: the first maximum, or the first NaN.
template <class T>
i64 first_argmax(const T* x, i64 s, i64 n) {
  i64 best = 0;
  for (i64 d = 0; d < n; ++d) {
    const T v = x[d * s], b = x[best * s];
    if (b != b) break;
    if (v != v || v > b) best = d;
  }
  return best;
}
}  // namespace

template <class T>
void argmax_equal(const T* a, const T* b, i64 outer, i64 D, i64 inner, T* out) {
  for (i64 o = 0; o < outer; ++o)
    for (i64 i = 0; i < inner; ++i) {
      const i64 base = o * D * inner + i;
      out[o * inner + i] =
          first_argmax(a + base, inner, D) == first_argmax(b + base, inner, D) ? T(1) : T(0);
    }
}

#define TG_INSTANTIATE(T)                                                                       \
  template void softmax<T>(const T*, i64, i64, i64, T*);                                        \
  template void log_softmax<T>(const T*, i64, i64, i64, T*);                                    \
  template void logsumexp<T>(const T*, i64, i64, i64, T*);                                      \
  template void softmax_grad<T>(const T*, const T*, i64, i64, i64, T*);                         \
  template void log_softmax_grad<T>(const T*, const T*, i64, i64, i64, T*);                     \
  template void softmax_cross_entropy<T>(const T*, const T*, i64, i64, i64, T*);                \
  template void softmax_cross_entropy_grad<T>(const T*, const T*, const T*, i64, i64, i64, T*); \
  template void sigmoid_cross_entropy<T>(const T*, const T*, i64, T*);                          \
  template void sigmoid_cross_entropy_grad<T>(const T*, const T*, const T*, i64, T*);           \
  template void argmax_equal<T>(const T*, const T*, i64, i64, i64, T*);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::kernels
