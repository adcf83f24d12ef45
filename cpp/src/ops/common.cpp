#include "common.h"

#include <type_traits>

namespace tg::detail {

std::pair<Tensor, Tensor> promoted(const Tensor& a, const Tensor& b, const char* broadcast_op) {
  if (a.dtype() == b.dtype()) return {a, b};
  // Check the shapes before the casts are recorded: a failing op must leave no node behind.
  const DType d = promote(a.dtype(), b.dtype());
  if (broadcast_op)
    check_shape(broadcast_shapes(a.shape(), b.shape(), broadcast_op), itemsize(d), broadcast_op);
  return {cast(a, d), cast(b, d)};
}

namespace {
const char* unary_name(kernels::UnaryOp op) {
  static const char* const names[] = {"negative", "square", "sqrt", "exp",  "log",       "tanh",
                                      "sigmoid",  "relu",   "abs",  "sign", "reciprocal"};
  return names[static_cast<int>(op)];
}
}  // namespace

Tensor unary_kernel(kernels::UnaryOp op, const Tensor& x) {
  Tensor y = Tensor::empty(x.dtype(), x.shape());
  if (!is_floating(x.dtype())) {
    // Integers and bools: the ops whose results stay integers; the rest need a float (NumPy would
    // promote to float64, TensorFlow refuses: we refuse, naming the cast that fixes it).
    kernels::IntUnaryOp int_op;
    switch (op) {
      case kernels::UnaryOp::Negative: int_op = kernels::IntUnaryOp::Negative; break;
      case kernels::UnaryOp::Square: int_op = kernels::IntUnaryOp::Square; break;
      case kernels::UnaryOp::Abs: int_op = kernels::IntUnaryOp::Abs; break;
      case kernels::UnaryOp::Sign: int_op = kernels::IntUnaryOp::Sign; break;
      default:
        throw TypeError(std::string(unary_name(op)) +
                        ": expected a float32 or float64 tensor, got " + dtype_name(x.dtype()) +
                        " (convert it with tg.cast(x, tg.float32))");
    }
    if (x.dtype() == DType::Bool && op == kernels::UnaryOp::Negative)
      throw TypeError("negative: not defined for bool tensors (use tg.logical_not)");
    dispatch_any_dtype(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_integral_v<T>)
        kernels::int_unary<T>(int_op, x.data<T>(), y.mutable_data<T>(), x.size());
    });
    return y;
  }
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::unary<T>(op, x.data<T>(), y.mutable_data<T>(), x.size());
  });
  return y;
}

Tensor binary_kernel(kernels::BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  if (a.dtype() != b.dtype())
    throw TypeError(std::string(name) + ": dtypes " + dtype_name(a.dtype()) + " and " +
                    dtype_name(b.dtype()) + " differ");
  Shape out_shape =
      a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), name);
  check_shape(out_shape, itemsize(a.dtype()), name);
  Tensor z = Tensor::empty(a.dtype(), std::move(out_shape));
  if (!is_floating(a.dtype())) {
    kernels::IntBinaryOp int_op;
    switch (op) {
      case kernels::BinaryOp::Add: int_op = kernels::IntBinaryOp::Add; break;
      case kernels::BinaryOp::Subtract: int_op = kernels::IntBinaryOp::Subtract; break;
      case kernels::BinaryOp::Multiply: int_op = kernels::IntBinaryOp::Multiply; break;
      case kernels::BinaryOp::Maximum: int_op = kernels::IntBinaryOp::Maximum; break;
      case kernels::BinaryOp::Minimum: int_op = kernels::IntBinaryOp::Minimum; break;
      default:
        throw TypeError(std::string(name) + ": expected float32 or float64 tensors, got " +
                        dtype_name(a.dtype()) + " (convert them with tg.cast(x, tg.float32))");
    }
    if (a.dtype() == DType::Bool && op == kernels::BinaryOp::Subtract)
      throw TypeError("subtract: not defined for bool tensors (use tg.logical_xor)");
    int_binary_kernel(int_op, a, b, z);
    return z;
  }
  dispatch_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::binary<T>(op, a.data<T>(), a.shape(), b.data<T>(), b.shape(), z.mutable_data<T>(),
                       z.shape());
  });
  return z;
}

void int_binary_kernel(kernels::IntBinaryOp op, const Tensor& a, const Tensor& b, Tensor& z) {
  dispatch_any_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>)
      kernels::int_binary<T>(op, a.data<T>(), a.shape(), b.data<T>(), b.shape(),
                             z.mutable_data<T>(), z.shape());
  });
}

Tensor jvp_sum(std::initializer_list<Tensor> terms, const Node& node) {
  Tensor sum;
  for (const Tensor& t : terms)
    if (t.defined()) sum = sum.defined() ? add(sum, t) : t;
  if (!sum.defined()) return sum;
  if (sum.dtype() != node.out_dtype) sum = cast(sum, node.out_dtype);
  return sum.shape() == node.out_shape ? sum : broadcast_to(sum, node.out_shape);
}

static const OpDef kUntapedUnary{
    "untaped_unary", nullptr, [](const std::vector<Tensor>& in, const Node& n) {
      return unary_kernel(static_cast<kernels::UnaryOp>(n.attrs.ints[0]), in[0]);
    }};
Tensor untaped_unary(kernels::UnaryOp op, const Tensor& x) {
  Tensor y = unary_kernel(op, x);
  if (active_trace()) {
    Attrs attrs;
    attrs.ints = {static_cast<std::int64_t>(op)};
    record_on_trace(kUntapedUnary, {x}, y, std::move(attrs));
  }
  return y;
}

static const OpDef kUntapedBinary{
    "untaped_binary", nullptr, [](const std::vector<Tensor>& in, const Node& n) {
      return binary_kernel(static_cast<kernels::BinaryOp>(n.attrs.ints[0]), in[0], in[1],
                           "untaped_binary");
    }};
Tensor untaped_binary(kernels::BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor z = binary_kernel(op, a, b, "untaped_binary");
  if (active_trace()) {
    Attrs attrs;
    attrs.ints = {static_cast<std::int64_t>(op)};
    record_on_trace(kUntapedBinary, {a, b}, z, std::move(attrs));
  }
  return z;
}

}  // namespace tg::detail
