// Elementwise kernels: the innermost loops come from the ISA table (simd/ew_table.h); this file
// (portable flags) does the broadcasting, through StridedPlan with contiguous inner runs, and the
// splitting of large ops over the thread pool (parallel.h).
#include <cmath>

#include "parallel.h"
#include "simd/ew_table.h"
#include "strided_loop.h"
#include "tapegrad/kernels.h"

namespace tg::kernels {

const EwTable& ew_table() {
  // Follow the GEMM dispatch (one ISA for everything): "scalar", "avx2" or "avx512".
  const char* isa = isa_name();
#if defined(__x86_64__) || defined(_M_X64)
  if (isa[0] == 'a') return isa[3] == '2' ? ew_avx2::kTable : ew_avx512::kTable;
#endif
  (void)isa;
  return ew_scalar::kTable;
}
template <>
const EwKernels<float>& ew<float>() {
  return ew_table().f32;
}
template <>
const EwKernels<double>& ew<double>() {
  return ew_table().f64;
}

template <class T>
void unary(UnaryOp op, const T* x, T* y, std::int64_t n) {
  const auto& k = ew<T>();
  const bool stream = n * std::int64_t(sizeof(T)) >= kStreamMinBytes;
  parallel_ranges(
      n, [&](std::int64_t b, std::int64_t e) { k.unary(op, x + b, y + b, e - b, stream); });
}

namespace {
template <class T, class F>
void map1(const T* x, T* y, std::int64_t n, F f) {
  parallel_ranges(n, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) y[i] = f(x[i]);
  });
}
}  // namespace

template <class T>
void pow_scalar(const T* x, T p, T* y, std::int64_t n) {
  if (p == T(2)) return map1(x, y, n, [](T v) { return v * v; });
  if (p == T(1)) return map1(x, y, n, [](T v) { return v; });
  if (p == T(0)) return map1(x, y, n, [](T) { return T(1); });
  if (p == T(0.5)) return map1(x, y, n, [](T v) { return std::sqrt(v); });
  if (p == T(-1)) return map1(x, y, n, [](T v) { return T(1) / v; });
  map1(x, y, n, [p](T v) { return std::pow(v, p); });
}

template <class T>
void cast(const float* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(x[i]);
}
template <class T>
void cast(const double* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(x[i]);
}
template <class T>
void fill(T* y, T value, std::int64_t n) {
  parallel_ranges(n, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) y[i] = value;
  });
}

template <class T>
void binary(BinaryOp op, const T* a, const Shape& as, const T* b, const Shape& bs, T* out,
            const Shape& os) {
  const auto& k = ew<T>();
  const bool stream = numel(os) * std::int64_t(sizeof(T)) >= kStreamMinBytes;
  if (as == os && bs == os) {  // the common case: no broadcasting
    parallel_ranges(numel(os), [&](std::int64_t i, std::int64_t e) {
      k.binary(op, a + i, 1, b + i, 1, out + i, e - i, stream);
    });
    return;
  }
  const auto plan = make_plan<3>(
      os, {broadcast_strides(as, os), broadcast_strides(bs, os), broadcast_strides(os, os)});
  const std::size_t rank = plan.dims.size();
  const std::int64_t inner = plan.dims.back();
  if (rank >= 2 && inner < kStreamMinRun) {
    // Short inner runs: walk the rows (the plan without its last axis) and hand the kernel a
    // block of rows per call.
    StridedPlan<3> rows_plan;
    rows_plan.dims.assign(plan.dims.begin(), plan.dims.end() - 1);
    rows_plan.strides.assign(plan.strides.begin(), plan.strides.end() - 1);
    rows_plan.base = plan.base;
    const auto& st = plan.strides.back();
    std::int64_t n_rows = 1;
    for (auto d : rows_plan.dims) n_rows *= d;
    parallel_ranges(
        n_rows,
        [&](std::int64_t begin, std::int64_t end) {
          for_each_run_range(rows_plan, begin, end,
                             [&](const std::array<std::int64_t, 3>& off, std::int64_t rows,
                                 const std::array<std::int64_t, 3>& rs) {
                               k.binary_rows(op, a + off[0], rs[0], st[0], b + off[1], rs[1], st[1],
                                             out + off[2], rs[2], rows, inner);
                             });
        },
        std::max<std::int64_t>(1, kParallelMinElements / std::max<std::int64_t>(inner, 1)));
    return;
  }
  // Streaming pays per run (an L1 chunk and a fence): only for long inner runs.
  const bool stream_runs = stream && inner >= kStreamMinRun;
  parallel_ranges(numel(os), [&](std::int64_t begin, std::int64_t end) {
    for_each_run_range(plan, begin, end,
                       [&](const std::array<std::int64_t, 3>& off, std::int64_t n,
                           const std::array<std::int64_t, 3>& st) {
                         k.binary(op, a + off[0], st[0], b + off[1], st[1], out + off[2], n,
                                  stream_runs);
                       });
  });
}

template <class T>
void where(const T* c, const Shape& cs, const T* a, const Shape& as, const T* b, const Shape& bs,
           T* out, const Shape& os) {
  const auto plan = make_plan<4>(os, {broadcast_strides(cs, os), broadcast_strides(as, os),
                                      broadcast_strides(bs, os), broadcast_strides(os, os)});
  for_each_run(plan, [&](const std::array<std::int64_t, 4>& off, std::int64_t n,
                         const std::array<std::int64_t, 4>& st) {
    const T *pc = c + off[0], *pa = a + off[1], *pb = b + off[2];
    T* po = out + off[3];
    for (std::int64_t i = 0; i < n; ++i)
      po[i] = pc[i * st[0]] != T(0) ? pa[i * st[1]] : pb[i * st[2]];
  });
}

template <class T>
void adam_update(const T* g, T* m, T* v, const T* w_old, T* w, std::int64_t n, T one_minus_b1,
                 T one_minus_b2, T a, T eps, T wd, T lr) {
  const auto& k = ew<T>();
  parallel_ranges(n, [&](std::int64_t b, std::int64_t e) {
    k.adam_update(g + b, m + b, v + b, w_old + b, w + b, e - b, one_minus_b1, one_minus_b2, a, eps,
                  wd, lr);
  });
}

#define TG_INSTANTIATE(T)                                                                        \
  template void adam_update<T>(const T*, T*, T*, const T*, T*, std::int64_t, T, T, T, T, T, T);  \
  template void unary<T>(UnaryOp, const T*, T*, std::int64_t);                                   \
  template void pow_scalar<T>(const T*, T, T*, std::int64_t);                                    \
  template void cast<T>(const float*, T*, std::int64_t);                                         \
  template void cast<T>(const double*, T*, std::int64_t);                                        \
  template void fill<T>(T*, T, std::int64_t);                                                    \
  template void binary<T>(BinaryOp, const T*, const Shape&, const T*, const Shape&, T*,          \
                          const Shape&);                                                         \
  template void where<T>(const T*, const Shape&, const T*, const Shape&, const T*, const Shape&, \
                         T*, const Shape&);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

#define TG_INSTANTIATE_TYPED(T)                                                                  \
  template void fill<T>(T*, T, std::int64_t);                                                    \
  template void where<T>(const T*, const Shape&, const T*, const Shape&, const T*, const Shape&, \
                         T*, const Shape&);
TG_INSTANTIATE_TYPED(std::int32_t)
TG_INSTANTIATE_TYPED(std::int64_t)
TG_INSTANTIATE_TYPED(bool)
#undef TG_INSTANTIATE_TYPED

}  // namespace tg::kernels
