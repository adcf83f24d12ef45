// Data movement: broadcast, transpose, strided slices and their adjoints, gather/scatter.
#include <cstring>

#include "strided_loop.h"
#include "tapegrad/kernels.h"

namespace tg::kernels {

namespace {
std::vector<std::int64_t> contiguous_strides(const Shape& s) {
  std::vector<std::int64_t> st(s.size());
  std::int64_t acc = 1;
  for (std::size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

// dst[plan offset 1] = src[plan offset 0] over every element of the plan.
template <class T>
void copy_plan(const StridedPlan<2>& plan, const T* src, T* dst) {
  for_each_run(plan, [&](const std::array<std::int64_t, 2>& off, std::int64_t n,
                         const std::array<std::int64_t, 2>& st) {
    const T* s = src + off[0];
    T* d = dst + off[1];
    if (st[0] == 1 && st[1] == 1) {
      std::memcpy(d, s, static_cast<std::size_t>(n) * sizeof(T));
    } else if (st[0] == 0) {
      const T v = *s;
      for (std::int64_t i = 0; i < n; ++i) d[i * st[1]] = v;
    } else {
      for (std::int64_t i = 0; i < n; ++i) d[i * st[1]] = s[i * st[0]];
    }
  });
}
}  // namespace

template <class T>
void broadcast_to(const T* x, const Shape& xs, T* out, const Shape& os) {
  copy_plan(make_plan<2>(os, {broadcast_strides(xs, os), contiguous_strides(os)}), x, out);
}

template <class T>
void transpose(const T* x, const Shape& xs, const std::vector<std::int64_t>& perm, T* out) {
  const auto xst = contiguous_strides(xs);
  Shape os(perm.size());
  std::vector<std::int64_t> src_st(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) {
    os[i] = xs[perm[i]];
    src_st[i] = xst[perm[i]];
  }
  copy_plan(make_plan<2>(os, {src_st, contiguous_strides(os)}), x, out);
}

namespace {
// Plan walking the slice (out_shape counts) with x's strides times step from x's begin offset.
// The op checked only what the slice visits (check_slice in cpp/src/ops/shape.cpp): the step of
// an axis walked at most once, and begin when the slice is empty, may be any int64, so they never
// enter a product here; the rest stays within x (Note [Shape limits]).
StridedPlan<2> slice_plan(const Shape& xs, const std::vector<std::int64_t>& begin,
                          const std::vector<std::int64_t>& step, const Shape& os) {
  const auto xst = contiguous_strides(xs);
  const bool empty = numel(os) == 0;
  std::vector<std::int64_t> sst(xs.size());
  std::int64_t base = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    sst[i] = os[i] > 1 ? xst[i] * step[i] : xst[i];
    if (!empty) base += begin[i] * xst[i];
  }
  return make_plan<2>(os, {sst, contiguous_strides(os)}, {base, 0});
}
}  // namespace

template <class T>
void strided_slice(const T* x, const Shape& xs, const std::vector<std::int64_t>& begin,
                   const std::vector<std::int64_t>& step, T* out, const Shape& os) {
  copy_plan(slice_plan(xs, begin, step, os), x, out);
}

template <class T>
void strided_scatter(const T* g, const Shape& gs, const std::vector<std::int64_t>& begin,
                     const std::vector<std::int64_t>& step, T* out, const Shape& os) {
  std::memset(out, 0, static_cast<std::size_t>(numel(os)) * sizeof(T));
  const auto plan = slice_plan(os, begin, step, gs);
  for_each_run(plan, [&](const std::array<std::int64_t, 2>& off, std::int64_t n,
                         const std::array<std::int64_t, 2>& st) {
    T* d = out + off[0];
    const T* s = g + off[1];
    for (std::int64_t i = 0; i < n; ++i) d[i * st[0]] = s[i * st[1]];
  });
}

template <class T>
void gather(const T* x, std::int64_t outer, std::int64_t axis_len, std::int64_t inner,
            const std::int64_t* idx, std::int64_t n_idx, T* out) {
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t j = 0; j < n_idx; ++j)
      std::memcpy(out + (o * n_idx + j) * inner, x + (o * axis_len + idx[j]) * inner,
                  static_cast<std::size_t>(inner) * sizeof(T));
}

template <class T>
void scatter_add(const T* g, std::int64_t outer, std::int64_t axis_len, std::int64_t inner,
                 const std::int64_t* idx, std::int64_t n_idx, T* out) {
  std::memset(out, 0, static_cast<std::size_t>(outer * axis_len * inner) * sizeof(T));
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t j = 0; j < n_idx; ++j) {
      T* d = out + (o * axis_len + idx[j]) * inner;
      const T* s = g + (o * n_idx + j) * inner;
      for (std::int64_t i = 0; i < inner; ++i) d[i] += s[i];
    }
}

#define TG_INSTANTIATE(T)                                                                          \
  template void broadcast_to<T>(const T*, const Shape&, T*, const Shape&);                         \
  template void transpose<T>(const T*, const Shape&, const std::vector<std::int64_t>&, T*);        \
  template void strided_slice<T>(const T*, const Shape&, const std::vector<std::int64_t>&,         \
                                 const std::vector<std::int64_t>&, T*, const Shape&);              \
  template void strided_scatter<T>(const T*, const Shape&, const std::vector<std::int64_t>&,       \
                                   const std::vector<std::int64_t>&, T*, const Shape&);            \
  template void gather<T>(const T*, std::int64_t, std::int64_t, std::int64_t, const std::int64_t*, \
                          std::int64_t, T*);                                                       \
  template void scatter_add<T>(const T*, std::int64_t, std::int64_t, std::int64_t,                 \
                               const std::int64_t*, std::int64_t, T*);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

// Integer and bool tensors move too (labels, indices, masks); they have no adjoints.
#define TG_INSTANTIATE_MOVE(T)                                                                     \
  template void broadcast_to<T>(const T*, const Shape&, T*, const Shape&);                         \
  template void transpose<T>(const T*, const Shape&, const std::vector<std::int64_t>&, T*);        \
  template void strided_slice<T>(const T*, const Shape&, const std::vector<std::int64_t>&,         \
                                 const std::vector<std::int64_t>&, T*, const Shape&);              \
  template void gather<T>(const T*, std::int64_t, std::int64_t, std::int64_t, const std::int64_t*, \
                          std::int64_t, T*);
TG_INSTANTIATE_MOVE(std::int32_t)
TG_INSTANTIATE_MOVE(std::int64_t)
TG_INSTANTIATE_MOVE(bool)
#undef TG_INSTANTIATE_MOVE

}  // namespace tg::kernels
