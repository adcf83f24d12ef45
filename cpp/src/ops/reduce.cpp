// Reductions and broadcasting: reduce_sum/mean/max, broadcast_to and sum_to_shape.
#include <cmath>
#include <type_traits>

#include "common.h"

namespace tg {

using detail::scalar_like;

namespace {
// Which axes reduce (nullopt: all), validated against the rank; repeated axes are an error.
std::vector<char> reduced_axes(const Axes& axes, int rank, const char* op) {
  std::vector<char> red(rank, axes ? 0 : 1);
  if (axes)
    for (auto a : *axes) {
      const int ax = normalize_axis(a, rank, op);
      if (red[ax]) throw ValueError(std::string(op) + ": duplicate value in axis");
      red[ax] = 1;
    }
  return red;
}

Shape keepdims_shape(const Shape& s, const std::vector<char>& red) {
  Shape out = s;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (red[i]) out[i] = 1;
  return out;
}

// The reduced axes and keepdims as attributes, so a compiled program can run the reduction again.
Attrs reduction_attrs(const std::vector<char>& red, bool keepdims) {
  Attrs attrs;
  for (std::size_t i = 0; i < red.size(); ++i)
    if (red[i]) attrs.ints.push_back(static_cast<std::int64_t>(i));
  attrs.flag_a = keepdims;
  return attrs;
}

Shape squeezed_shape(const Shape& s, const std::vector<char>& red) {
  Shape out;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (!red[i]) out.push_back(s[i]);
  return out;
}

// Integer and bool reductions: sums of bools count (int64, as NumPy); the rest keep the dtype.
Tensor int_reduce_kernel(kernels::IntReduceOp op, const Tensor& x, const std::vector<char>& red) {
  const bool count = x.dtype() == DType::Bool && op == kernels::IntReduceOp::Sum;
  Tensor y = Tensor::empty(count ? DType::Int64 : x.dtype(), keepdims_shape(x.shape(), red));
  if (count) {
    kernels::int_reduce<bool, std::int64_t>(op, x.data<bool>(), x.shape(), red,
                                            y.mutable_data<std::int64_t>());
    return y;
  }
  dispatch_any_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>)
      kernels::int_reduce<T, T>(op, x.data<T>(), x.shape(), red, y.mutable_data<T>());
  });
  return y;
}

Tensor reduce_kernel(kernels::ReduceOp op, const Tensor& x, const std::vector<char>& red) {
  if (!is_floating(x.dtype())) {
    switch (op) {
      case kernels::ReduceOp::Sum: return int_reduce_kernel(kernels::IntReduceOp::Sum, x, red);
      case kernels::ReduceOp::Max: return int_reduce_kernel(kernels::IntReduceOp::Max, x, red);
    }
  }
  Tensor y = Tensor::empty(x.dtype(), keepdims_shape(x.shape(), red));
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::reduce<T>(op, x.data<T>(), x.shape(), red, y.mutable_data<T>());
  });
  return y;
}
}  // namespace

// ---- reduce_sum: z = sum of x over axes.  dx = g reshaped to keepdims, broadcast to x's shape.
// Saves nothing (attrs.shape: the keepdims shape; attrs.ints, flag_a: the axes and keepdims).
static const OpDef kReduceSum{
    "reduce_sum",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      return {broadcast_to(reshape(g, n.attrs.shape), n.input_shape(0))};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return reduce_sum(in[0], n.attrs.ints, n.attrs.flag_a);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return reduce_sum(t[0], n.attrs.ints, n.attrs.flag_a);
    }};
Tensor reduce_sum(const Tensor& x, const Axes& axes, bool keepdims) {
  const auto red = reduced_axes(axes, x.rank(), "reduce_sum");
  Tensor kd = reduce_kernel(kernels::ReduceOp::Sum, x, red);
  Tensor z = keepdims ? kd : kd.view_as(squeezed_shape(x.shape(), red));
  Attrs attrs = reduction_attrs(red, keepdims);
  attrs.shape = kd.shape();
  record(kReduceSum, {x}, z, {}, std::move(attrs));
  return z;
}

// ---- reduce_mean: reduce_sum times 1/count, a composition (its gradient comes for free).
Tensor reduce_mean(const Tensor& x_, const Axes& axes, bool keepdims) {
  // The mean of integers or bools is float64, as NumPy's (TensorFlow's integer mean truncates).
  const Tensor x = is_floating(x_.dtype()) ? x_ : cast(x_, DType::Float64);
  const auto red = reduced_axes(axes, x.rank(), "reduce_mean");
  std::int64_t count = 1;
  for (int i = 0; i < x.rank(); ++i)
    if (red[i]) count *= x.shape()[i];
  const Tensor s = reduce_sum(x, axes, keepdims);
  return multiply(s, scalar_like(x, count ? 1.0 / static_cast<double>(count) : std::nan("")));
}

// ---- reduce_max: z = max of x over axes, NaN where the slice holds one (as NumPy's max).
// dx = g split evenly among the maxima of each slice (ties share: [1,3,3] -> [0,.5,.5]); in a
// slice whose max is NaN its NaNs are the maxima ([1,nan,3] -> [0,1,0]), as maximum's VJP.  Saves x and z; attrs.shape is z's keepdims layout, made
// from z by an op: a compiled program must see the maximum come from the output it recorded.
static const OpDef kReduceMax{
    "reduce_max",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      const Tensor& x = n.saved[0];
      const Tensor z_kd = reshape(n.saved[1], n.attrs.shape);
      const Tensor is_max = detail::mask(kernels::BinaryOp::SameValue, x, z_kd);
      const Shape& kd = z_kd.shape();
      std::vector<std::int64_t> axes;
      for (std::size_t i = 0; i < kd.size(); ++i)
        if (kd[i] == 1 && x.shape()[i] != 1) axes.push_back(static_cast<std::int64_t>(i));
      const Tensor share =
          detail::untaped_binary(kernels::BinaryOp::Divide, is_max, reduce_sum(is_max, axes, true));
      return {multiply(broadcast_to(reshape(g, kd), x.shape()), share)};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return reduce_max(in[0], n.attrs.ints, n.attrs.flag_a);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      const Tensor& x = in[0];
      const Tensor z_kd = reshape(z, n.attrs.shape);
      const Tensor is_max = detail::mask(kernels::BinaryOp::SameValue, x, z_kd);
      const Tensor share = detail::untaped_binary(kernels::BinaryOp::Divide, is_max,
                                                  reduce_sum(is_max, n.attrs.ints, true));
      return reduce_sum(multiply(t[0], share), n.attrs.ints, n.attrs.flag_a);
    }};
Tensor reduce_max(const Tensor& x, const Axes& axes, bool keepdims) {
  const auto red = reduced_axes(axes, x.rank(), "reduce_max");
  for (int i = 0; i < x.rank(); ++i)
    if (red[i] && x.shape()[i] == 0)
      throw ValueError("reduce_max: zero-size tensor of shape " + shape_str(x.shape()) +
                       " has no maximum along axis " + std::to_string(i));
  Tensor kd = reduce_kernel(kernels::ReduceOp::Max, x, red);
  Tensor z = keepdims ? kd : kd.view_as(squeezed_shape(x.shape(), red));
  Attrs attrs = reduction_attrs(red, keepdims);
  attrs.shape = kd.shape();
  record(kReduceMax, {x}, z, {x, z}, std::move(attrs));
  return z;
}

// ---- reduce_any / reduce_all: logical or / and of a bool tensor over axes.  Never
// differentiable (bool results), so only a trace records them.
static const OpDef kReduceAny{"reduce_any", nullptr,
                              [](const std::vector<Tensor>& in, const Node& n) {
                                return reduce_any(in[0], n.attrs.ints, n.attrs.flag_a);
                              }};
static const OpDef kReduceAll{"reduce_all", nullptr,
                              [](const std::vector<Tensor>& in, const Node& n) {
                                return reduce_all(in[0], n.attrs.ints, n.attrs.flag_a);
                              }};
namespace {
Tensor logical_reduction(const OpDef& op, kernels::IntReduceOp kind, const Tensor& x,
                         const Axes& axes, bool keepdims) {
  if (x.dtype() != DType::Bool)
    throw TypeError(std::string(op.name) + ": expected a bool tensor, got " +
                    dtype_name(x.dtype()) + " (compare it first, e.g. tg.not_equal(x, 0))");
  const auto red = reduced_axes(axes, x.rank(), op.name);
  Tensor kd = int_reduce_kernel(kind, x, red);
  Tensor z = keepdims ? kd : kd.view_as(squeezed_shape(x.shape(), red));
  record(op, {x}, z, {}, reduction_attrs(red, keepdims));
  return z;
}
}  // namespace
Tensor reduce_any(const Tensor& x, const Axes& axes, bool keepdims) {
  return logical_reduction(kReduceAny, kernels::IntReduceOp::Any, x, axes, keepdims);
}
Tensor reduce_all(const Tensor& x, const Axes& axes, bool keepdims) {
  return logical_reduction(kReduceAll, kernels::IntReduceOp::All, x, axes, keepdims);
}

// ---- broadcast_to: z = x broadcast (NumPy rules) to shape.  dx = sum_to_shape(g, x.shape).
static const OpDef kBroadcastTo{
    "broadcast_to",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      return {sum_to_shape(g, n.input_shape(0))};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return broadcast_to(in[0], n.out_shape); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return broadcast_to(t[0], n.out_shape);
    }};
Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  check_shape(shape, itemsize(x.dtype()), "broadcast_to");
  if (broadcast_shapes(x.shape(), shape, "broadcast_to") != shape)
    throw ValueError("broadcast_to: cannot broadcast shape " + shape_str(x.shape()) + " to " +
                     shape_str(shape));
  Tensor z = Tensor::empty(x.dtype(), shape);
  dispatch_any_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::broadcast_to<T>(x.data<T>(), x.shape(), z.mutable_data<T>(), shape);
  });
  record(kBroadcastTo, {x}, z);
  return z;
}

// sum_to_shape: the adjoint of broadcasting, composed of reduce_sum and reshape.
Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const std::size_t lead = g.shape().size() - shape.size();
  std::vector<std::int64_t> axes;
  for (std::size_t i = 0; i < g.shape().size(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1))
      axes.push_back(static_cast<std::int64_t>(i));
  return reshape(reduce_sum(g, axes, false), shape);
}

}  // namespace tg
