// Kernels for every dtype, written once as plain loops over StridedPlans (the compiler vectorizes
// the contiguous runs): casts between any two dtypes, comparisons, integer and logical
// arithmetic, integer reductions, arg-reductions and one_hot. They run on labels, indices and
// masks; the float hot paths (elementwise.cpp, reduce.cpp) keep their ISA tables.
//
// Integer arithmetic wraps around (as NumPy's does) and is computed in unsigned types, so no
// input is undefined behaviour; division by zero gives 0 and INT_MIN // -1 wraps, where C++ would
// trap.
#include <cmath>
#include <limits>
#include <type_traits>

#include "strided_loop.h"
#include "tapegrad/kernels.h"

namespace tg::kernels {
namespace {

std::vector<std::int64_t> contiguous(const Shape& s) {
  std::vector<std::int64_t> st(s.size());
  std::int64_t acc = 1;
  for (std::size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

// One value converted as NumPy's astype does, except that a float outside the target integer's
// range saturates and NaN becomes 0 (C++ leaves both undefined; NumPy gives INT_MIN).
template <class To, class From>
To convert(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (v != v) return To(0);
    constexpr auto lo = static_cast<From>(std::numeric_limits<To>::min());
    // max() + 1 is a power of two, exact in any float type; v >= it saturates.
    constexpr auto hi = static_cast<From>(std::numeric_limits<To>::max()) + From(1);
    if (v <= lo) return std::numeric_limits<To>::min();
    if (v >= hi) return std::numeric_limits<To>::max();
    return static_cast<To>(v);  // truncates toward zero
  } else {
    return static_cast<To>(v);
  }
}

template <class T>
using Unsigned = std::make_unsigned_t<T>;
template <class T>
T wrap_add(T a, T b) {
  return T(Unsigned<T>(a) + Unsigned<T>(b));
}
template <class T>
T wrap_sub(T a, T b) {
  return T(Unsigned<T>(a) - Unsigned<T>(b));
}
template <class T>
T wrap_mul(T a, T b) {
  return T(Unsigned<T>(a) * Unsigned<T>(b));
}

// Python's floor division and modulo (the sign of the modulo follows the divisor).
template <class T>
T floor_div(T a, T b) {
  if (b == 0) return 0;
  if (b == -1) return wrap_sub(T(0), a);
  T q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
template <class T>
T floor_mod(T a, T b) {
  if (b == 0 || b == -1) return 0;
  T r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

template <class T>
T int_binary_one(IntBinaryOp op, T a, T b) {
  if constexpr (std::is_same_v<T, bool>) {
    switch (op) {
      case IntBinaryOp::LogicalAnd:
      case IntBinaryOp::Multiply:
      case IntBinaryOp::Minimum: return a && b;
      case IntBinaryOp::LogicalOr:
      case IntBinaryOp::Add:
      case IntBinaryOp::Maximum: return a || b;
      case IntBinaryOp::LogicalXor:
      case IntBinaryOp::Subtract: return a != b;
      default: return false;  // the op layer never sends // or % on bools
    }
  } else {
    switch (op) {
      case IntBinaryOp::Add: return wrap_add(a, b);
      case IntBinaryOp::Subtract: return wrap_sub(a, b);
      case IntBinaryOp::Multiply: return wrap_mul(a, b);
      case IntBinaryOp::Maximum: return a < b ? b : a;
      case IntBinaryOp::Minimum: return b < a ? b : a;
      case IntBinaryOp::FloorDiv: return floor_div(a, b);
      case IntBinaryOp::FloorMod: return floor_mod(a, b);
      case IntBinaryOp::LogicalAnd: return (a != 0) && (b != 0);
      case IntBinaryOp::LogicalOr: return (a != 0) || (b != 0);
      case IntBinaryOp::LogicalXor: return (a != 0) != (b != 0);
    }
    return 0;
  }
}

template <class T>
bool compare_one(CompareOp op, T a, T b) {
  switch (op) {
    case CompareOp::Equal: return a == b;
    case CompareOp::NotEqual: return a != b;
    case CompareOp::Less: return a < b;
    case CompareOp::LessEqual: return a <= b;
    case CompareOp::Greater: return a > b;
    case CompareOp::GreaterEqual: return a >= b;
  }
  return false;
}

// out[i] = f(a[i], b[i]) over out_shape, a and b broadcast to it.
template <class A, class Out, class F>
void broadcast_map(const A* a, const Shape& as, const A* b, const Shape& bs, Out* out,
                   const Shape& os, F f) {
  const auto plan =
      make_plan<3>(os, {broadcast_strides(as, os), broadcast_strides(bs, os), contiguous(os)});
  for_each_run(plan, [&](const std::array<std::int64_t, 3>& off, std::int64_t n,
                         const std::array<std::int64_t, 3>& st) {
    const A *pa = a + off[0], *pb = b + off[1];
    Out* po = out + off[2];
    if (st[0] == 1 && st[1] == 1) {
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    } else {
      for (std::int64_t i = 0; i < n; ++i) po[i * st[2]] = f(pa[i * st[0]], pb[i * st[1]]);
    }
  });
}

}  // namespace

void cast_any(DType from, const void* x, DType to, void* y, std::int64_t n) {
  dispatch_any_dtype(from, [&](auto from_tag) {
    using From = decltype(from_tag);
    dispatch_any_dtype(to, [&](auto to_tag) {
      using To = decltype(to_tag);
      const From* src = static_cast<const From*>(x);
      To* dst = static_cast<To*>(y);
      for (std::int64_t i = 0; i < n; ++i) dst[i] = convert<To>(src[i]);
    });
  });
}

template <class T>
void compare(CompareOp op, const T* a, const Shape& as, const T* b, const Shape& bs, bool* out,
             const Shape& os) {
  broadcast_map(a, as, b, bs, out, os, [op](T x, T y) { return compare_one(op, x, y); });
}

template <class T>
void int_binary(IntBinaryOp op, const T* a, const Shape& as, const T* b, const Shape& bs, T* out,
                const Shape& os) {
  broadcast_map(a, as, b, bs, out, os, [op](T x, T y) { return int_binary_one(op, x, y); });
}

template <class T>
void int_unary(IntUnaryOp op, const T* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    if constexpr (std::is_same_v<T, bool>) {
      y[i] = op == IntUnaryOp::LogicalNot ? !v : v;  // abs, square, sign of a bool are itself
    } else {
      switch (op) {
        case IntUnaryOp::Negative: y[i] = wrap_sub(T(0), v); break;
        case IntUnaryOp::Abs: y[i] = v < 0 ? wrap_sub(T(0), v) : v; break;
        case IntUnaryOp::Square: y[i] = wrap_mul(v, v); break;
        case IntUnaryOp::Sign: y[i] = T((v > 0) - (v < 0)); break;
        case IntUnaryOp::LogicalNot: y[i] = v == 0; break;
      }
    }
  }
}

template <class T, class Acc>
void int_reduce(IntReduceOp op, const T* x, const Shape& xs, const std::vector<char>& red,
                Acc* out) {
  Shape os = xs;
  for (std::size_t i = 0; i < xs.size(); ++i)
    if (red[i]) os[i] = 1;
  const std::int64_t n_out = numel(os);
  Acc init{};
  switch (op) {
    case IntReduceOp::Sum:
    case IntReduceOp::Any: init = Acc(0); break;
    case IntReduceOp::All: init = Acc(1); break;
    case IntReduceOp::Max: init = std::numeric_limits<Acc>::lowest(); break;
    case IntReduceOp::Min: init = std::numeric_limits<Acc>::max(); break;
  }
  for (std::int64_t i = 0; i < n_out; ++i) out[i] = init;
  if (numel(xs) == 0) return;
  const auto plan = make_plan<2>(xs, {contiguous(xs), broadcast_strides(os, xs)});
  for_each_run(plan, [&](const std::array<std::int64_t, 2>& off, std::int64_t n,
                         const std::array<std::int64_t, 2>& st) {
    const T* px = x + off[0];
    Acc* po = out + off[1];
    for (std::int64_t i = 0; i < n; ++i) {
      Acc& o = po[i * st[1]];
      const Acc v = static_cast<Acc>(px[i * st[0]]);
      switch (op) {
        case IntReduceOp::Sum:
          if constexpr (std::is_same_v<Acc, bool>)
            o = o || v;
          else
            o = wrap_add(o, v);
          break;
        case IntReduceOp::Max: o = o < v ? v : o; break;
        case IntReduceOp::Min: o = v < o ? v : o; break;
        case IntReduceOp::Any: o = o || v; break;
        case IntReduceOp::All: o = o && v; break;
      }
    }
  });
}

template <class T>
void arg_reduce(bool is_max, const T* x, std::int64_t outer, std::int64_t axis_len,
                std::int64_t inner, std::int64_t* out) {
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t j = 0; j < inner; ++j) {
      const T* p = x + o * axis_len * inner + j;
      std::int64_t best = 0;
      T best_v = p[0];
      for (std::int64_t k = 1; k < axis_len; ++k) {
        if constexpr (std::is_floating_point_v<T>) {
          if (best_v != best_v) break;  // the first NaN wins, as in NumPy
        }
        const T v = p[k * inner];
        bool better = is_max ? best_v < v : v < best_v;
        if constexpr (std::is_floating_point_v<T>) better = better || v != v;
        if (better) {
          best = k;
          best_v = v;
        }
      }
      out[o * inner + j] = best;
    }
  }
}

template <class I, class T>
void one_hot(const I* idx, std::int64_t outer, std::int64_t inner, std::int64_t depth, T on, T off,
             T* out) {
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t d = 0; d < depth; ++d) {
      T* row = out + (o * depth + d) * inner;
      const I* ix = idx + o * inner;
      for (std::int64_t j = 0; j < inner; ++j) row[j] = ix[j] == I(d) ? on : off;
    }
}

#define TG_INSTANTIATE_ALL(T)                                                                \
  template void compare<T>(CompareOp, const T*, const Shape&, const T*, const Shape&, bool*, \
                           const Shape&);                                                    \
  template void arg_reduce<T>(bool, const T*, std::int64_t, std::int64_t, std::int64_t,      \
                              std::int64_t*);
TG_INSTANTIATE_ALL(float)
TG_INSTANTIATE_ALL(double)
TG_INSTANTIATE_ALL(std::int32_t)
TG_INSTANTIATE_ALL(std::int64_t)
TG_INSTANTIATE_ALL(bool)
#undef TG_INSTANTIATE_ALL

#define TG_INSTANTIATE_INT(T)                                                                  \
  template void int_binary<T>(IntBinaryOp, const T*, const Shape&, const T*, const Shape&, T*, \
                              const Shape&);                                                   \
  template void int_unary<T>(IntUnaryOp, const T*, T*, std::int64_t);
TG_INSTANTIATE_INT(std::int32_t)
TG_INSTANTIATE_INT(std::int64_t)
TG_INSTANTIATE_INT(bool)
#undef TG_INSTANTIATE_INT

template void int_reduce<std::int32_t, std::int32_t>(IntReduceOp, const std::int32_t*, const Shape&,
                                                     const std::vector<char>&, std::int32_t*);
template void int_reduce<std::int64_t, std::int64_t>(IntReduceOp, const std::int64_t*, const Shape&,
                                                     const std::vector<char>&, std::int64_t*);
template void int_reduce<bool, bool>(IntReduceOp, const bool*, const Shape&,
                                     const std::vector<char>&, bool*);
template void int_reduce<bool, std::int64_t>(IntReduceOp, const bool*, const Shape&,
                                             const std::vector<char>&, std::int64_t*);

#define TG_INSTANTIATE_ONE_HOT(I, T) \
  template void one_hot<I, T>(const I*, std::int64_t, std::int64_t, std::int64_t, T, T, T*);
#define TG_INSTANTIATE_ONE_HOT_ALL(I)     \
  TG_INSTANTIATE_ONE_HOT(I, float)        \
  TG_INSTANTIATE_ONE_HOT(I, double)       \
  TG_INSTANTIATE_ONE_HOT(I, std::int32_t) \
  TG_INSTANTIATE_ONE_HOT(I, std::int64_t) \
  TG_INSTANTIATE_ONE_HOT(I, bool)
TG_INSTANTIATE_ONE_HOT_ALL(std::int32_t)
TG_INSTANTIATE_ONE_HOT_ALL(std::int64_t)
#undef TG_INSTANTIATE_ONE_HOT_ALL
#undef TG_INSTANTIATE_ONE_HOT

}  // namespace tg::kernels
