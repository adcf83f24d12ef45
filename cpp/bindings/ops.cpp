// One binding line per op, in the `_core.ops` submodule: that submodule IS the op list (the test
// suite fails for any name here without an op_table row).
#include <pybind11/stl.h>

#include "convert.h"
#include "tapegrad/errors.h"
#include "tapegrad/ops.h"

namespace tg::py_bind {

namespace {

using tg::Tensor;

template <Tensor (*F)(const Tensor&)>
TensorResult unary(TensorLike x_) {
  const Tensor x = to_tensor(x_);
  return wrap(run_op(x.size(), [&] { return F(x); }));
}
template <Tensor (*F)(const Tensor&, const Tensor&)>
TensorResult binary(TensorLike a_, TensorLike b_) {
  auto [a, b] = to_tensors(a_, b_);
  return wrap(run_op(std::max(a.size(), b.size()), [&] { return F(a, b); }));
}

// An int or a sequence of ints (Python ints, NumPy integers, an integer ndarray or a tensor
// holding whole numbers), as TensorFlow and NumPy accept shapes, axes and permutations. A value
// outside int64 is a ValueError naming `what` (to_int64).
std::vector<std::int64_t> to_int_list(py::handle obj, const char* what) {
  auto bad = [&] {
    return TypeError(std::string(what) + " must be an int or a sequence of ints, got " +
                     std::string(py::str(py::type::of(obj).attr("__name__"))));
  };
  if (PyBool_Check(obj.ptr())) throw bad();
  if (PyLong_Check(obj.ptr())) return {to_int64(obj, what)};
  if (is_tensor(obj)) {
    const Tensor t = to_tensor(obj);
    if (t.rank() > 1) throw bad();
    std::vector<std::int64_t> out(t.size());
    for (std::int64_t i = 0; i < t.size(); ++i) {
      if (t.dtype() == DType::Int64) {
        out[i] = t.data<std::int64_t>()[i];
        continue;
      }
      const double v = dispatch_any_dtype(
          t.dtype(), [&](auto tag) { return static_cast<double>(t.data<decltype(tag)>()[i]); });
      // Range first: converting a double outside int64 (or NaN) is undefined behaviour.
      if (!(v >= -0x1p63 && v < 0x1p63))
        throw ValueError(std::string(what) + " " + std::to_string(v) +
                         " does not fit in a 64-bit integer");
      if (v != static_cast<double>(static_cast<std::int64_t>(v))) throw bad();
      out[i] = static_cast<std::int64_t>(v);
    }
    return out;
  }
  if (PyIndex_Check(obj.ptr()) && !py::isinstance<py::array>(obj)) return {to_int64(obj, what)};
  if (py::isinstance<py::array>(obj)) {
    py::array arr = py::reinterpret_borrow<py::array>(obj);
    if ((arr.dtype().kind() != 'i' && arr.dtype().kind() != 'u') || arr.ndim() > 1) throw bad();
    std::vector<std::int64_t> out;
    for (py::handle item : arr.attr("ravel")().attr("tolist")())
      out.push_back(to_int64(item, what));
    return out;
  }
  if (!PySequence_Check(obj.ptr()) || PyUnicode_Check(obj.ptr()) || PyBytes_Check(obj.ptr()))
    throw bad();
  std::vector<std::int64_t> out;
  for (py::handle item : py::reinterpret_borrow<py::sequence>(obj)) {
    if (PyBool_Check(item.ptr()) || !PyIndex_Check(item.ptr())) throw bad();
    out.push_back(to_int64(item, what));
  }
  return out;
}

Axes to_axes(py::handle axis) {
  if (axis.is_none()) return std::nullopt;
  return to_int_list(axis, "axis");
}

Shape to_shape(py::handle s) { return to_int_list(s, "shape"); }

std::vector<Tensor> to_tensor_list(py::handle values) {
  std::vector<Tensor> out;
  std::optional<DType> like;
  for (py::handle v : values)
    if (is_tensor(v) || is_variable(v)) {
      like = to_tensor(v).dtype();
      break;
    }
  for (py::handle v : values) out.push_back(to_tensor(v, like));
  return out;
}

template <Tensor (*F)(const Tensor&, const Axes&, bool)>
TensorResult reduction(TensorLike x_, OptionalShapeLike axis, bool keepdims) {
  const Tensor x = to_tensor(x_);
  const Axes axes = to_axes(axis);
  return wrap(run_op(x.size(), [&] { return F(x, axes, keepdims); }));
}

// Ops along one axis of one tensor (softmax, log_softmax).
template <Tensor (*F)(const Tensor&, std::int64_t)>
TensorResult along_axis(TensorLike x_, std::int64_t axis) {
  const Tensor x = to_tensor(x_);
  return wrap(run_op(x.size(), [&] { return F(x, axis); }));
}
template <Tensor (*F)(const Tensor&, const Tensor&, std::int64_t)>
TensorResult along_axis2(TensorLike a_, TensorLike b_, std::int64_t axis) {
  auto [a, b] = to_tensors(a_, b_);
  return wrap(run_op(std::max(a.size(), b.size()), [&] { return F(a, b, axis); }));
}

}  // namespace

void bind_ops(py::module_& m) {
  py::module_ ops = m.def_submodule("ops", "The differentiable ops, one binding each.");
  ops.def("add", binary<tg::add>, py::arg("x"), py::arg("y"),
          "x + y elementwise, with NumPy broadcasting.");
  ops.def("subtract", binary<tg::subtract>, py::arg("x"), py::arg("y"),
          "x - y elementwise, with NumPy broadcasting.");
  ops.def("multiply", binary<tg::multiply>, py::arg("x"), py::arg("y"),
          "x * y elementwise, with NumPy broadcasting.");
  ops.def("divide", binary<tg::divide>, py::arg("x"), py::arg("y"),
          "x / y elementwise, with NumPy broadcasting.");
  ops.def("maximum", binary<tg::maximum>, py::arg("x"), py::arg("y"),
          "The larger of x and y elementwise, with broadcasting.");
  ops.def("minimum", binary<tg::minimum>, py::arg("x"), py::arg("y"),
          "The smaller of x and y elementwise, with broadcasting.");
  ops.def(
      "pow",
      [](TensorLike x, TensorLike y) {
        if (PyFloat_Check(y.ptr()) || PyLong_Check(y.ptr())) {
          const Tensor t = to_tensor(x);
          const double p = py::cast<double>(y);
          return wrap(run_op(t.size(), [&] { return tg::pow_scalar(t, p); }));
        }
        return binary<tg::pow>(x, y);
      },
      py::arg("x"), py::arg("y"), "x ** y; a Python number y uses the scalar-exponent kernel.");
  ops.def("negative", unary<tg::negative>, py::arg("x"), "-x elementwise.");
  ops.def("square", unary<tg::square>, py::arg("x"), "x * x elementwise.");
  ops.def("sqrt", unary<tg::sqrt>, py::arg("x"), "The square root elementwise.");
  ops.def("exp", unary<tg::exp>, py::arg("x"), "e ** x elementwise.");
  ops.def("log", unary<tg::log>, py::arg("x"), "The natural logarithm elementwise.");
  ops.def("tanh", unary<tg::tanh>, py::arg("x"), "The hyperbolic tangent elementwise.");
  ops.def("sigmoid", unary<tg::sigmoid>, py::arg("x"), "1 / (1 + exp(-x)) elementwise.");
  ops.def("relu", unary<tg::relu>, py::arg("x"), "max(x, 0) elementwise.");
  ops.def("relu_grad", binary<tg::relu_grad>, py::arg("g"), py::arg("x"),
          "g where x > 0, else 0: relu's VJP, differentiable again.");
  ops.def("mean_squared_error", binary<tg::mean_squared_error>, py::arg("y_true"),
          py::arg("y_pred"), "mean((y_true - y_pred) ** 2) over the last axis (Keras's loss).");
  ops.def(
      "mean_squared_error_grad",
      [](TensorLike g_, TensorLike t_, TensorLike p_) {
        auto [t, p] = to_tensors(t_, p_);
        const Tensor g = to_tensor(g_, t.dtype());
        return wrap(run_op(std::max(t.size(), p.size()),
                           [&] { return tg::mean_squared_error_grad(g, t, p); }));
      },
      py::arg("g"), py::arg("y_true"), py::arg("y_pred"),
      "mean_squared_error's VJP with respect to y_true and y_pred.");
  ops.def(
      "sparse_softmax_cross_entropy_with_logits",
      [](TensorLike labels_, TensorLike logits_) {
        const Tensor logits = to_tensor(logits_), labels = to_tensor(labels_);
        return wrap(run_op(logits.size(), [&] {
          return tg::sparse_softmax_cross_entropy_with_logits(labels, logits);
        }));
      },
      py::arg("labels"), py::arg("logits"),
      "Per-sample logsumexp(logits) - logits[label] for integer labels, in one stable op.");
  ops.def(
      "sparse_softmax_cross_entropy_grad",
      [](TensorLike g_, TensorLike labels_, TensorLike logits_) {
        const Tensor logits = to_tensor(logits_), labels = to_tensor(labels_),
                     g = to_tensor(g_, logits.dtype());
        return wrap(run_op(logits.size(), [&] {
          return tg::sparse_softmax_cross_entropy_grad(g, labels, logits);
        }));
      },
      py::arg("g"), py::arg("labels"), py::arg("logits"),
      "The VJP of sparse_softmax_cross_entropy_with_logits: g * (softmax(logits) - "
      "one_hot(labels)).");
  ops.def("abs", unary<tg::abs>, py::arg("x"), "|x| elementwise.");
  ops.def("stop_gradient", unary<tg::stop_gradient>, py::arg("x"),
          "x itself, with no gradient flowing through it.");
  ops.def(
      "where",
      [](TensorLike c, TensorLike a_, TensorLike b_) {
        auto [a, b] = to_tensors(a_, b_);
        const Tensor cond = to_tensor(c, a.dtype());
        return wrap(run_op(std::max(a.size(), b.size()), [&] { return tg::where(cond, a, b); }));
      },
      py::arg("condition"), py::arg("x"), py::arg("y"),
      "x where condition holds, else y, elementwise with broadcasting.");
  ops.def(
      "cast",
      [](TensorLike x, DTypeLike dtype) {
        const Tensor t = to_tensor(x);
        const auto dt = to_dtype(dtype);
        return wrap(dt ? tg::cast(t, *dt) : t);
      },
      py::arg("x"), py::arg("dtype"), "x converted to dtype.");
  ops.def("reduce_sum", reduction<tg::reduce_sum>, py::arg("x"), py::arg("axis") = py::none(),
          py::arg("keepdims") = false,
          "The sum over axis (all axes when None), the reduced axes kept as 1 with keepdims.");
  ops.def("reduce_mean", reduction<tg::reduce_mean>, py::arg("x"), py::arg("axis") = py::none(),
          py::arg("keepdims") = false,
          "The mean over axis (all axes when None), the reduced axes kept as 1 with keepdims.");
  ops.def("reduce_max", reduction<tg::reduce_max>, py::arg("x"), py::arg("axis") = py::none(),
          py::arg("keepdims") = false, "The maximum over axis (all axes when None).");
  // ---- classification (cpp/src/ops/classification.cpp) ----
  ops.def("softmax", along_axis<tg::softmax>, py::arg("logits"), py::arg("axis") = -1,
          "exp(logits) / sum(exp(logits)) along axis, computed stably.");
  ops.def("softmax_grad", along_axis2<tg::softmax_grad>, py::arg("g"), py::arg("y"),
          py::arg("axis") = -1, "softmax's VJP for output y: y * (g - sum(g * y)) along axis.");
  ops.def("log_softmax", along_axis<tg::log_softmax>, py::arg("logits"), py::arg("axis") = -1,
          "logits - logsumexp(logits) along axis.");
  ops.def("log_softmax_grad", along_axis2<tg::log_softmax_grad>, py::arg("g"), py::arg("z"),
          py::arg("axis") = -1, "log_softmax's VJP for output z: g - exp(z) * sum(g) along axis.");
  ops.def("reduce_logsumexp", reduction<tg::reduce_logsumexp>, py::arg("x"),
          py::arg("axis") = py::none(), py::arg("keepdims") = false,
          "log(sum(exp(x))) over axis, computed stably (all axes when None).");
  ops.def("reduce_min", reduction<tg::reduce_min>, py::arg("x"), py::arg("axis") = py::none(),
          py::arg("keepdims") = false, "The minimum over axis (all axes when None).");
  ops.def(
      "clip_by_value",
      [](TensorLike t_, TensorLike lo_, TensorLike hi_) {
        const Tensor t = to_tensor(t_);
        const Tensor lo = to_tensor(lo_, t.dtype()), hi = to_tensor(hi_, t.dtype());
        return wrap(run_op(t.size(), [&] { return tg::clip_by_value(t, lo, hi); }));
      },
      py::arg("t"), py::arg("clip_value_min"), py::arg("clip_value_max"),
      "t limited to [clip_value_min, clip_value_max] elementwise.");
  ops.def("softmax_cross_entropy_with_logits", along_axis2<tg::softmax_cross_entropy_with_logits>,
          py::arg("labels"), py::arg("logits"), py::arg("axis") = -1,
          "-sum(labels * log_softmax(logits)) along axis, in one stable op.");
  ops.def(
      "softmax_cross_entropy_with_logits_grad",
      [](TensorLike g_, TensorLike l_, TensorLike x_, std::int64_t axis) {
        auto [l, x] = to_tensors(l_, x_);
        const Tensor g = to_tensor(g_, x.dtype());
        return wrap(run_op(
            x.size(), [&] { return tg::softmax_cross_entropy_with_logits_grad(g, l, x, axis); }));
      },
      py::arg("g"), py::arg("labels"), py::arg("logits"), py::arg("axis") = -1,
      "The VJP of softmax_cross_entropy_with_logits with respect to labels and logits.");
  ops.def("sigmoid_cross_entropy_with_logits", binary<tg::sigmoid_cross_entropy_with_logits>,
          py::arg("labels"), py::arg("logits"),
          "max(x, 0) - x * z + log1p(exp(-|x|)) for labels z and logits x.");
  ops.def(
      "sigmoid_cross_entropy_with_logits_grad",
      [](TensorLike g_, TensorLike l_, TensorLike x_) {
        auto [l, x] = to_tensors(l_, x_);
        const Tensor g = to_tensor(g_, x.dtype());
        return wrap(
            run_op(x.size(), [&] { return tg::sigmoid_cross_entropy_with_logits_grad(g, l, x); }));
      },
      py::arg("g"), py::arg("labels"), py::arg("logits"),
      "The VJP of sigmoid_cross_entropy_with_logits with respect to labels and logits.");
  ops.def("_argmax_equal", along_axis2<tg::argmax_equal>, py::arg("y_true"), py::arg("y_pred"),
          py::arg("axis") = -1,
          "1.0 where argmax(y_true) == argmax(y_pred) along axis, else 0.0 (no gradient): "
          "categorical accuracy.");
  ops.def(
      "broadcast_to",
      [](TensorLike x, ShapeLike shape) {
        const Tensor t = to_tensor(x);
        const Shape s = to_shape(shape);
        const std::int64_t work = check_shape(s, itemsize(t.dtype()), "broadcast_to");
        return wrap(run_op(work, [&] { return tg::broadcast_to(t, s); }));
      },
      py::arg("x"), py::arg("shape"), "x broadcast to shape (NumPy's rules).");
  ops.def(
      "matmul",
      [](TensorLike a_, TensorLike b_, bool ta, bool tb) {
        auto [a, b] = to_tensors(a_, b_);
        return wrap(
            run_op(std::max(a.size(), b.size()) * 8, [&] { return tg::matmul(a, b, ta, tb); }));
      },
      py::arg("a"), py::arg("b"), py::arg("transpose_a") = false, py::arg("transpose_b") = false,
      "The matrix product a @ b (batched over leading axes), each side optionally transposed.");
  ops.def(
      "matmul_tangent",
      [](TensorLike da_, TensorLike b_, TensorLike a_, TensorLike db_, bool ta, bool tb) {
        const Tensor da = to_tensor(da_), b = to_tensor(b_), a = to_tensor(a_), db = to_tensor(db_);
        return wrap(run_op((da.size() + a.size()) * 8,
                           [&] { return tg::matmul_tangent(da, b, a, db, ta, tb); }));
      },
      py::arg("da"), py::arg("b"), py::arg("a"), py::arg("db"), py::arg("transpose_a") = false,
      py::arg("transpose_b") = false,
      "op(da) @ op(b) + op(a) @ op(db) in one op (matmul's tangent; op transposes when asked).");
  ops.def(
      "dense",
      [](TensorLike x_, TensorLike w_, OptionalTensorLike b_, py::handle activation) {
        auto [x, w] = to_tensors(x_, w_);
        std::optional<Tensor> b;
        if (!b_.is_none()) b = to_tensor(b_, w.dtype());
        if (!activation.is_none() && !py::isinstance<py::str>(activation))
          throw TypeError("dense: activation must be None or a string, got " +
                          std::string(py::str(py::type::of(activation).attr("__name__"))));
        const std::string act = activation.is_none() ? "linear" : py::cast<std::string>(activation);
        if (act != "linear" && act != "relu")
          throw ValueError("dense: activation must be None, 'linear' or 'relu', got '" + act + "'");
        return wrap(run_op(x.size() * (w.rank() == 2 ? w.shape()[1] : 1),
                           [&] { return tg::dense(x, w, b, act == "relu"); }));
      },
      py::arg("x"), py::arg("kernel"), py::arg("bias") = py::none(),
      py::arg("activation") = py::none(),
      "activation(x @ kernel + bias) as one op (activation None, 'linear' or 'relu').");
  ops.def(
      "reshape",
      [](TensorLike x, ShapeLike shape) {
        return wrap(tg::reshape(to_tensor(x), to_shape(shape)));
      },
      py::arg("x"), py::arg("shape"),
      "x with a new shape of the same size (one dimension may be -1).");
  ops.def(
      "transpose",
      [](TensorLike x, OptionalShapeLike perm) {
        const Tensor t = to_tensor(x);
        std::optional<std::vector<std::int64_t>> p;
        if (!perm.is_none()) p = to_int_list(perm, "perm");
        return wrap(run_op(t.size(), [&] { return tg::transpose(t, p); }));
      },
      py::arg("x"), py::arg("perm") = py::none(),
      "x with its axes permuted (reversed when perm is None).");
  ops.def(
      "concat",
      [](TensorLikeSequence values, IndexLike axis_) {
        const std::int64_t axis = to_int64(axis_, "axis");
        const auto ts = to_tensor_list(values);
        return wrap(run_op(ts.empty() ? 0 : ts[0].size() * static_cast<std::int64_t>(ts.size()),
                           [&] { return tg::concat(ts, axis); }));
      },
      py::arg("values"), py::arg("axis"), "The tensors joined along an existing axis.");
  ops.def(
      "stack",
      [](TensorLikeSequence values, IndexLike axis_) {
        const std::int64_t axis = to_int64(axis_, "axis");
        const auto ts = to_tensor_list(values);
        return wrap(run_op(ts.empty() ? 0 : ts[0].size() * static_cast<std::int64_t>(ts.size()),
                           [&] { return tg::stack(ts, axis); }));
      },
      py::arg("values"), py::arg("axis") = 0,
      "The tensors (of one shape) stacked along a new axis.");
  ops.def(
      "strided_slice",
      [](TensorLike x, ShapeLike begin, ShapeLike step, ShapeLike count) {
        return wrap(tg::strided_slice(to_tensor(x), to_int_list(begin, "begin"),
                                      to_int_list(step, "step"), to_int_list(count, "count")));
      },
      py::arg("x"), py::arg("begin"), py::arg("step"), py::arg("count"),
      "x[begin[i] + k * step[i] for k < count[i]] on every axis: basic slicing.");
  ops.def(
      "slice_grad",
      [](TensorLike g, ShapeLike shape, ShapeLike begin, ShapeLike step) {
        return wrap(tg::slice_grad(to_tensor(g), to_shape(shape), to_int_list(begin, "begin"),
                                   to_int_list(step, "step")));
      },
      py::arg("g"), py::arg("shape"), py::arg("begin"), py::arg("step"),
      "strided_slice's VJP: g placed into zeros of shape.");
  ops.def(
      "gather",
      [](TensorLike x, TensorLike indices, IndexLike axis_) {
        const std::int64_t axis = to_int64(axis_, "axis");
        Shape index_shape;
        const auto idx = to_indices(indices, &index_shape);
        return wrap(tg::gather(to_tensor(x), idx, index_shape, axis));
      },
      py::arg("x"), py::arg("indices"), py::arg("axis") = 0,
      "The slices of x at indices along axis.");
  ops.def(
      "scatter_add",
      [](TensorLike g, TensorLike indices, IndexLike axis_, IndexLike axis_len_) {
        const std::int64_t axis = to_int64(axis_, "axis"),
                           axis_len = to_int64(axis_len_, "axis_len");
        Shape index_shape;
        const auto idx = to_indices(indices, &index_shape);
        return wrap(tg::scatter_add(to_tensor(g), idx, index_shape, axis, axis_len));
      },
      py::arg("g"), py::arg("indices"), py::arg("axis"), py::arg("axis_len"),
      "gather's VJP: g's slices summed into zeros with axis_len entries along axis.");
}

void bind_integer_ops(py::module_& m) {
  py::module_ ops =
      m.def_submodule("integer_ops",
                      "Ops with integer or bool results and ops on bools: never differentiable "
                      "(tests/test_integer.py has a row for each).");
  ops.def("equal", binary<tg::equal>, py::arg("x"), py::arg("y"),
          "x == y elementwise, as a bool tensor.");
  ops.def("not_equal", binary<tg::not_equal>, py::arg("x"), py::arg("y"),
          "x != y elementwise, as a bool tensor.");
  ops.def("less", binary<tg::less>, py::arg("x"), py::arg("y"),
          "x < y elementwise, as a bool tensor.");
  ops.def("less_equal", binary<tg::less_equal>, py::arg("x"), py::arg("y"),
          "x <= y elementwise, as a bool tensor.");
  ops.def("greater", binary<tg::greater>, py::arg("x"), py::arg("y"),
          "x > y elementwise, as a bool tensor.");
  ops.def("greater_equal", binary<tg::greater_equal>, py::arg("x"), py::arg("y"),
          "x >= y elementwise, as a bool tensor.");
  ops.def("logical_and", binary<tg::logical_and>, py::arg("x"), py::arg("y"),
          "x and y elementwise on bools.");
  ops.def("logical_or", binary<tg::logical_or>, py::arg("x"), py::arg("y"),
          "x or y elementwise on bools.");
  ops.def("logical_xor", binary<tg::logical_xor>, py::arg("x"), py::arg("y"),
          "x xor y elementwise on bools.");
  ops.def("logical_not", unary<tg::logical_not>, py::arg("x"), "not x elementwise on bools.");
  ops.def("floor_div", binary<tg::floor_div>, py::arg("x"), py::arg("y"),
          "x // y elementwise (rounds toward negative infinity, as Python).");
  ops.def("floor_mod", binary<tg::floor_mod>, py::arg("x"), py::arg("y"),
          "x % y elementwise, with the sign of y (as Python).");
  ops.def("reduce_any", reduction<tg::reduce_any>, py::arg("x"), py::arg("axis") = py::none(),
          py::arg("keepdims") = false,
          "Whether any element is true over axis (all axes when None).");
  ops.def("reduce_all", reduction<tg::reduce_all>, py::arg("x"), py::arg("axis") = py::none(),
          py::arg("keepdims") = false,
          "Whether every element is true over axis (all axes when None).");
  ops.def(
      "argmax",
      [](TensorLike x, IndexLike axis_, DTypeLike output_type) {
        const Tensor t = to_tensor(x);
        const std::int64_t axis = to_int64(axis_, "axis");
        return wrap(run_op(t.size(), [&] {
          return tg::argmax(t, axis, to_dtype(output_type).value_or(DType::Int64));
        }));
      },
      py::arg("x"), py::arg("axis") = 0, py::arg("output_type") = py::none(),
      "The index of the largest value along axis.");
  ops.def(
      "argmin",
      [](TensorLike x, IndexLike axis_, DTypeLike output_type) {
        const Tensor t = to_tensor(x);
        const std::int64_t axis = to_int64(axis_, "axis");
        return wrap(run_op(t.size(), [&] {
          return tg::argmin(t, axis, to_dtype(output_type).value_or(DType::Int64));
        }));
      },
      py::arg("x"), py::arg("axis") = 0, py::arg("output_type") = py::none(),
      "The index of the smallest value along axis.");
  ops.def(
      "one_hot",
      [](TensorLike indices, IndexLike depth_, TensorLike on, TensorLike off, IndexLike axis_,
         DTypeLike dtype) {
        const std::int64_t depth = to_int64(depth_, "depth"), axis = to_int64(axis_, "axis");
        const Tensor idx = to_tensor(indices);
        const DType dt = to_dtype(dtype).value_or(DType::Float32);
        const Tensor on_t = tg::cast(to_tensor(on, dt), dt),
                     off_t = tg::cast(to_tensor(off, dt), dt);
        std::int64_t work = 0;  // saturates: one_hot itself refuses a result past the size limit
        if (mul_overflows(idx.size(), std::max<std::int64_t>(depth, 1), &work)) work = INT64_MAX;
        return wrap(run_op(work, [&] { return tg::one_hot(idx, depth, on_t, off_t, axis); }));
      },
      py::arg("indices"), py::arg("depth"), py::arg("on_value") = 1.0, py::arg("off_value") = 0.0,
      py::arg("axis") = -1, py::arg("dtype") = py::none(),
      "on_value at each index's position along a new axis of length depth, off_value elsewhere.");
}

}  // namespace tg::py_bind
