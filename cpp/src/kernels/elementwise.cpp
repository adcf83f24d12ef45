// Elementwise kernels: plain loops gcc vectorizes at -O3, broadcasting through StridedPlan with
// contiguous inner runs specialized (both operands contiguous, or one a broadcast scalar).
#include <cmath>

#include "strided_loop.h"
#include "tapegrad/kernels.h"

namespace tg::kernels {

namespace {

// NaN-propagating max/min, as NumPy's maximum/minimum.
template <class T> inline T max_nan(T a, T b) { return (a >= b || a != a) ? a : b; }
template <class T> inline T min_nan(T a, T b) { return (a <= b || a != a) ? a : b; }

// Logistic without overflow: exp of a non-positive number only, so +-100 stays finite.
template <class T> inline T sigmoid1(T x) {
  const T e = std::exp(-std::fabs(x));
  const T r = T(1) / (T(1) + e);
  return x >= 0 ? r : e * r;
}

template <class T, class F> void map1(const T* x, T* y, std::int64_t n, F f) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

template <class T, class F>
void map2(const T* a, const Shape& as, const T* b, const Shape& bs, T* out, const Shape& os, F f) {
  if (as == os && bs == os) {  // the common case: no broadcasting
    const std::int64_t n = numel(os);
    for (std::int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
    return;
  }
  const auto plan = make_plan<3>(
      os, {broadcast_strides(as, os), broadcast_strides(bs, os), broadcast_strides(os, os)});
  for_each_run(plan, [&](const std::array<std::int64_t, 3>& off, std::int64_t n,
                         const std::array<std::int64_t, 3>& st) {
    const T* pa = a + off[0];
    const T* pb = b + off[1];
    T* po = out + off[2];
    if (st[0] == 1 && st[1] == 1) {
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    } else if (st[0] == 0 && st[1] == 1) {
      const T va = *pa;
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(va, pb[i]);
    } else if (st[0] == 1 && st[1] == 0) {
      const T vb = *pb;
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(pa[i], vb);
    } else {
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(pa[i * st[0]], pb[i * st[1]]);
    }
  });
}

}  // namespace

template <class T> void unary(UnaryOp op, const T* x, T* y, std::int64_t n) {
  switch (op) {
    case UnaryOp::Negative: return map1(x, y, n, [](T v) { return -v; });
    case UnaryOp::Square: return map1(x, y, n, [](T v) { return v * v; });
    case UnaryOp::Sqrt: return map1(x, y, n, [](T v) { return std::sqrt(v); });
    case UnaryOp::Exp: return map1(x, y, n, [](T v) { return std::exp(v); });
    case UnaryOp::Log: return map1(x, y, n, [](T v) { return std::log(v); });
    case UnaryOp::Tanh: return map1(x, y, n, [](T v) { return std::tanh(v); });
    case UnaryOp::Sigmoid: return map1(x, y, n, [](T v) { return sigmoid1(v); });
    case UnaryOp::Relu: return map1(x, y, n, [](T v) { return v < T(0) ? T(0) : v; });
    case UnaryOp::Abs: return map1(x, y, n, [](T v) { return std::fabs(v); });
    case UnaryOp::Sign:
      return map1(x, y, n, [](T v) { return v > T(0) ? T(1) : (v < T(0) ? T(-1) : v * T(0)); });
    case UnaryOp::Reciprocal: return map1(x, y, n, [](T v) { return T(1) / v; });
  }
}

template <class T> void pow_scalar(const T* x, T p, T* y, std::int64_t n) {
  if (p == T(2)) return map1(x, y, n, [](T v) { return v * v; });
  if (p == T(1)) return map1(x, y, n, [](T v) { return v; });
  if (p == T(0)) return map1(x, y, n, [](T) { return T(1); });
  if (p == T(0.5)) return map1(x, y, n, [](T v) { return std::sqrt(v); });
  if (p == T(-1)) return map1(x, y, n, [](T v) { return T(1) / v; });
  map1(x, y, n, [p](T v) { return std::pow(v, p); });
}

template <class T> void cast(const float* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(x[i]);
}
template <class T> void cast(const double* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(x[i]);
}
template <class T> void fill(T* y, T value, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = value;
}

template <class T>
void binary(BinaryOp op, const T* a, const Shape& as, const T* b, const Shape& bs, T* out,
            const Shape& os) {
  switch (op) {
    case BinaryOp::Add: return map2(a, as, b, bs, out, os, [](T u, T v) { return u + v; });
    case BinaryOp::Subtract: return map2(a, as, b, bs, out, os, [](T u, T v) { return u - v; });
    case BinaryOp::Multiply: return map2(a, as, b, bs, out, os, [](T u, T v) { return u * v; });
    case BinaryOp::Divide: return map2(a, as, b, bs, out, os, [](T u, T v) { return u / v; });
    case BinaryOp::Maximum: return map2(a, as, b, bs, out, os, max_nan<T>);
    case BinaryOp::Minimum: return map2(a, as, b, bs, out, os, min_nan<T>);
    case BinaryOp::Pow:
      return map2(a, as, b, bs, out, os, [](T u, T v) { return std::pow(u, v); });
    case BinaryOp::ReluGrad:
      return map2(a, as, b, bs, out, os, [](T g, T x) { return x > T(0) ? g : T(0); });
    case BinaryOp::GreaterEqual:
      return map2(a, as, b, bs, out, os, [](T u, T v) { return u >= v ? T(1) : T(0); });
    case BinaryOp::Equal:
      return map2(a, as, b, bs, out, os, [](T u, T v) { return u == v ? T(1) : T(0); });
    case BinaryOp::Greater:
      return map2(a, as, b, bs, out, os, [](T u, T v) { return u > v ? T(1) : T(0); });
  }
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

#define TG_INSTANTIATE(T)                                                                     \
  template void unary<T>(UnaryOp, const T*, T*, std::int64_t);                                \
  template void pow_scalar<T>(const T*, T, T*, std::int64_t);                                  \
  template void cast<T>(const float*, T*, std::int64_t);                                       \
  template void cast<T>(const double*, T*, std::int64_t);                                      \
  template void fill<T>(T*, T, std::int64_t);                                                  \
  template void binary<T>(BinaryOp, const T*, const Shape&, const T*, const Shape&, T*,        \
                          const Shape&);                                                       \
  template void where<T>(const T*, const Shape&, const T*, const Shape&, const T*, const Shape&, \
                         T*, const Shape&);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::kernels
