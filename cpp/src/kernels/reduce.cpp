// Reductions over any set of axes: the output (keepdims layout) is an operand with stride 0 on
// the reduced axes, so one StridedPlan walk accumulates every input element into its slot.
#include <limits>

#include "strided_loop.h"
#include "tapegrad/kernels.h"

namespace tg::kernels {

template <class T>
void reduce(ReduceOp op, const T* x, const Shape& xs, const std::vector<char>& red, T* out) {
  Shape os = xs;
  for (std::size_t i = 0; i < xs.size(); ++i)
    if (red[i]) os[i] = 1;
  const std::int64_t n_out = numel(os);
  const T init = op == ReduceOp::Sum ? T(0) : -std::numeric_limits<T>::infinity();
  for (std::int64_t i = 0; i < n_out; ++i) out[i] = init;
  if (numel(xs) == 0) return;
  std::vector<std::int64_t> xst(xs.size());
  std::int64_t acc = 1;
  for (std::size_t i = xs.size(); i-- > 0;) {
    xst[i] = acc;
    acc *= xs[i];
  }
  const auto plan = make_plan<2>(xs, {xst, broadcast_strides(os, xs)});
  for_each_run(plan, [&](const std::array<std::int64_t, 2>& off, std::int64_t n,
                         const std::array<std::int64_t, 2>& st) {
    const T* px = x + off[0];
    T* po = out + off[1];
    if (op == ReduceOp::Sum) {
      if (st[1] == 0) {  // a contiguous run folds into one output
        T s = 0;
#pragma omp simd reduction(+ : s)
        for (std::int64_t i = 0; i < n; ++i) s += px[i * st[0]];
        *po += s;
      } else {
        for (std::int64_t i = 0; i < n; ++i) po[i * st[1]] += px[i * st[0]];
      }
    } else {
      for (std::int64_t i = 0; i < n; ++i) {
        T& m = po[i * st[1]];
        const T v = px[i * st[0]];
        m = (v > m || v != v) ? v : m;  // NaN propagates, as NumPy's max
      }
    }
  });
}

template void reduce<float>(ReduceOp, const float*, const Shape&, const std::vector<char>&, float*);
template void reduce<double>(ReduceOp, const double*, const Shape&, const std::vector<char>&, double*);

}  // namespace tg::kernels
