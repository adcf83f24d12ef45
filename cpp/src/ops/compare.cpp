// Ops whose results are integers or bools, and ops on bools: comparisons, logical ops, integer
// floor division and modulo, argmax/argmin and one_hot. None is differentiable (record() keeps
// integer results off the tapes; one_hot's float result comes from integer indices, which no tape
// tracks), but a trace records each one, so a compiled program computes them again at every
// replay: each OpDef has a compute part and no VJP.
#include <type_traits>

#include "common.h"

namespace tg {

namespace {
// a and b promoted to their common dtype with their shapes checked (naming the op) first.
std::pair<Tensor, Tensor> common_dtype(const Tensor& a, const Tensor& b, const char* op) {
  return detail::promoted(a, b, op);
}

Tensor compare_kernel(kernels::CompareOp op, const Tensor& a_, const Tensor& b_, const char* name) {
  auto [a, b] = common_dtype(a_, b_, name);
  Shape out_shape =
      a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), name);
  Tensor z = Tensor::empty(DType::Bool, std::move(out_shape));
  dispatch_any_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::compare<T>(op, a.data<T>(), a.shape(), b.data<T>(), b.shape(), z.mutable_data<bool>(),
                        z.shape());
  });
  return z;
}

void require_bool(const Tensor& x, const char* op) {
  if (x.dtype() != DType::Bool)
    throw TypeError(std::string(op) + ": expected bool tensors, got " + dtype_name(x.dtype()) +
                    " (compare first, e.g. tg.not_equal(x, 0), or tg.cast(x, tg.bool))");
}
}  // namespace

// ---- comparisons: z (bool) = a op b, NumPy broadcasting and promotion.  NaN compares unequal
// to everything, itself included.
#define TG_COMPARISON(fn, op_enum)                                                                \
  static const OpDef k_##fn{                                                                      \
      #fn, nullptr, [](const std::vector<Tensor>& in, const Node&) { return fn(in[0], in[1]); }}; \
  Tensor fn(const Tensor& a, const Tensor& b) {                                                   \
    Tensor z = compare_kernel(kernels::CompareOp::op_enum, a, b, #fn);                            \
    record(k_##fn, {a, b}, z);                                                                    \
    return z;                                                                                     \
  }
TG_COMPARISON(equal, Equal)
TG_COMPARISON(not_equal, NotEqual)
TG_COMPARISON(less, Less)
TG_COMPARISON(less_equal, LessEqual)
TG_COMPARISON(greater, Greater)
TG_COMPARISON(greater_equal, GreaterEqual)
#undef TG_COMPARISON

// ---- logical_and / logical_or / logical_xor: z = a op b on bool tensors, broadcasting.
#define TG_LOGICAL(fn, op_enum)                                                                   \
  static const OpDef k_##fn{                                                                      \
      #fn, nullptr, [](const std::vector<Tensor>& in, const Node&) { return fn(in[0], in[1]); }}; \
  Tensor fn(const Tensor& a, const Tensor& b) {                                                   \
    require_bool(a, #fn);                                                                         \
    require_bool(b, #fn);                                                                         \
    Shape shape =                                                                                 \
        a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), #fn);         \
    Tensor z = Tensor::empty(DType::Bool, std::move(shape));                                      \
    detail::int_binary_kernel(kernels::IntBinaryOp::op_enum, a, b, z);                            \
    record(k_##fn, {a, b}, z);                                                                    \
    return z;                                                                                     \
  }
TG_LOGICAL(logical_and, LogicalAnd)
TG_LOGICAL(logical_or, LogicalOr)
TG_LOGICAL(logical_xor, LogicalXor)
#undef TG_LOGICAL

// ---- logical_not: z = !x on a bool tensor.
static const OpDef kLogicalNot{
    "logical_not", nullptr,
    [](const std::vector<Tensor>& in, const Node&) { return logical_not(in[0]); }};
Tensor logical_not(const Tensor& x) {
  require_bool(x, "logical_not");
  Tensor z = Tensor::empty(DType::Bool, x.shape());
  kernels::int_unary<bool>(kernels::IntUnaryOp::LogicalNot, x.data<bool>(), z.mutable_data<bool>(),
                           x.size());
  record(kLogicalNot, {x}, z);
  return z;
}

// ---- floor_div / floor_mod: Python's // and % on integer tensors (the modulo takes the
// divisor's sign); a zero divisor gives 0, as NumPy's result (with no warning).
#define TG_FLOOR(fn, op_enum)                                                                     \
  static const OpDef k_##fn{                                                                      \
      #fn, nullptr, [](const std::vector<Tensor>& in, const Node&) { return fn(in[0], in[1]); }}; \
  Tensor fn(const Tensor& a_, const Tensor& b_) {                                                 \
    auto [a, b] = common_dtype(a_, b_, #fn);                                                      \
    if (a.dtype() != DType::Int32 && a.dtype() != DType::Int64)                                   \
      throw TypeError(std::string(#fn) + ": expected integer tensors, got " +                     \
                      dtype_name(a_.dtype()) + " and " + dtype_name(b_.dtype()));                 \
    Shape shape =                                                                                 \
        a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), #fn);         \
    Tensor z = Tensor::empty(a.dtype(), std::move(shape));                                        \
    detail::int_binary_kernel(kernels::IntBinaryOp::op_enum, a, b, z);                            \
    record(k_##fn, {a, b}, z);                                                                    \
    return z;                                                                                     \
  }
TG_FLOOR(floor_div, FloorDiv)
TG_FLOOR(floor_mod, FloorMod)
#undef TG_FLOOR

// ---- argmax / argmin: the index of the largest (smallest) entry along axis (the first on ties;
// a NaN counts as the largest and the smallest, as in NumPy), as int64 or int32.
namespace {
Tensor arg_reduction(const OpDef& op, bool is_max, const Tensor& x, std::int64_t axis_,
                     DType out_dtype) {
  if (out_dtype != DType::Int32 && out_dtype != DType::Int64)
    throw TypeError(std::string(op.name) + ": output_type must be int32 or int64, got " +
                    dtype_name(out_dtype));
  if (x.rank() == 0)
    throw ValueError(std::string(op.name) + ": needs a tensor of rank >= 1, got a 0-d tensor");
  const int axis = normalize_axis(axis_, x.rank(), op.name);
  const std::int64_t len = x.shape()[axis];
  if (len == 0)
    throw ValueError(std::string(op.name) + ": axis " + std::to_string(axis) + " of shape " +
                     shape_str(x.shape()) + " is empty");
  std::int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.shape()[d];
  Shape out_shape = x.shape();
  out_shape.erase(out_shape.begin() + axis);
  Tensor z64 = Tensor::empty(DType::Int64, out_shape);
  dispatch_any_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::arg_reduce<T>(is_max, x.data<T>(), outer, len, inner,
                           z64.mutable_data<std::int64_t>());
  });
  Tensor z = z64;
  if (out_dtype == DType::Int32) {
    z = Tensor::empty(DType::Int32, out_shape);
    kernels::cast_any(DType::Int64, z64.raw(), DType::Int32, z.raw_mutable(), z64.size());
  }
  Attrs attrs;
  attrs.ints = {axis};
  record(op, {x}, z, {}, std::move(attrs));
  return z;
}
}  // namespace

static const OpDef kArgmax{"argmax", nullptr, [](const std::vector<Tensor>& in, const Node& n) {
                             return argmax(in[0], n.attrs.ints[0], n.out_dtype);
                           }};
Tensor argmax(const Tensor& x, std::int64_t axis, DType output_type) {
  return arg_reduction(kArgmax, true, x, axis, output_type);
}
static const OpDef kArgmin{"argmin", nullptr, [](const std::vector<Tensor>& in, const Node& n) {
                             return argmin(in[0], n.attrs.ints[0], n.out_dtype);
                           }};
Tensor argmin(const Tensor& x, std::int64_t axis, DType output_type) {
  return arg_reduction(kArgmin, false, x, axis, output_type);
}

// ---- one_hot: z[..., d, ...] = on where indices[...] == d else off, the new axis of extent depth
// at `axis` (-1: last); indices outside [0, depth) give a row of off values (TensorFlow's rule).
// on and off are 0-d tensors of the result's dtype.
static const OpDef kOneHot{"one_hot", nullptr, [](const std::vector<Tensor>& in, const Node& n) {
                             return one_hot(in[0], n.attrs.ints[0], in[1], in[2], n.attrs.ints[1]);
                           }};
Tensor one_hot(const Tensor& indices, std::int64_t depth, const Tensor& on, const Tensor& off,
               std::int64_t axis_) {
  if (indices.dtype() != DType::Int32 && indices.dtype() != DType::Int64)
    throw TypeError(std::string("one_hot: indices must be int32 or int64, got ") +
                    dtype_name(indices.dtype()) + " (cast them with tg.cast(indices, tg.int64))");
  if (depth < 0) throw ValueError("one_hot: depth must be >= 0, got " + std::to_string(depth));
  if (on.rank() != 0 || off.rank() != 0)
    throw ValueError("one_hot: on_value and off_value must be scalars, got shapes " +
                     shape_str(on.shape()) + " and " + shape_str(off.shape()));
  if (on.dtype() != off.dtype())
    throw TypeError(std::string("one_hot: on_value and off_value dtypes differ: ") +
                    dtype_name(on.dtype()) + " and " + dtype_name(off.dtype()));
  const int axis =
      axis_ == -1 ? indices.rank() : normalize_axis(axis_, indices.rank() + 1, "one_hot");
  std::int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= indices.shape()[d];
  for (int d = axis; d < indices.rank(); ++d) inner *= indices.shape()[d];
  Shape out_shape = indices.shape();
  out_shape.insert(out_shape.begin() + axis, depth);
  Tensor z = Tensor::empty(on.dtype(), out_shape);
  dispatch_any_dtype(on.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (indices.dtype() == DType::Int32)
      kernels::one_hot<std::int32_t, T>(indices.data<std::int32_t>(), outer, inner, depth,
                                        *on.data<T>(), *off.data<T>(), z.mutable_data<T>());
    else
      kernels::one_hot<std::int64_t, T>(indices.data<std::int64_t>(), outer, inner, depth,
                                        *on.data<T>(), *off.data<T>(), z.mutable_data<T>());
  });
  Attrs attrs;
  attrs.ints = {depth, axis};
  // Recorded with stopped on/off values: one_hot is not differentiable in them either.
  record_on_trace(kOneHot, {indices, on, off}, z, std::move(attrs));
  return z;
}

}  // namespace tg
