// Elementwise ops. Each block: the math, the OpDef with its VJP (written with ops), the forward.
// Binary VJPs end in sum_to_shape, which undoes NumPy broadcasting.
#include "common.h"

namespace tg {

using detail::binary_kernel;
using detail::mask;
using detail::promoted;
using detail::scalar_like;
using detail::unary_kernel;
using kernels::BinaryOp;
using kernels::UnaryOp;

// ---- add: z = a + b.  da = g, db = g.  Saves nothing.
static const OpDef kAdd{
    "add",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      return {sum_to_shape(g, n.input_shape(0)), sum_to_shape(g, n.input_shape(1))};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return add(in[0], in[1]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return detail::jvp_sum({t[0], t[1]}, n);
    }};
Tensor add(const Tensor& a_, const Tensor& b_) {
  auto [a, b] = promoted(a_, b_, "add");
  Tensor z = binary_kernel(BinaryOp::Add, a, b, "add");
  record(kAdd, {a, b}, z);
  return z;
}

// ---- subtract: z = a - b.  da = g, db = -g.  Saves nothing.
static const OpDef kSubtract{
    "subtract",
    [](const Node& n, const Tensor& g, Needs need) -> Grads {
      return {sum_to_shape(g, n.input_shape(0)),
              need[1] ? sum_to_shape(negative(g), n.input_shape(1)) : Tensor()};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return subtract(in[0], in[1]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return detail::jvp_sum({t[0], t[1].defined() ? negative(t[1]) : Tensor()}, n);
    }};
Tensor subtract(const Tensor& a_, const Tensor& b_) {
  auto [a, b] = promoted(a_, b_, "subtract");
  Tensor z = binary_kernel(BinaryOp::Subtract, a, b, "subtract");
  record(kSubtract, {a, b}, z);
  return z;
}

// ---- multiply: z = a * b.  da = g * b, db = g * a.  Saves a, b.
static const OpDef kMultiply{
    "multiply",
    [](const Node& n, const Tensor& g, Needs need) -> Grads {
      const Tensor &a = n.saved[0], &b = n.saved[1];
      return {need[0] ? sum_to_shape(multiply(g, b), a.shape()) : Tensor(),
              need[1] ? sum_to_shape(multiply(g, a), b.shape()) : Tensor()};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return multiply(in[0], in[1]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return detail::jvp_sum({t[0].defined() ? multiply(t[0], in[1]) : Tensor(),
                              t[1].defined() ? multiply(in[0], t[1]) : Tensor()},
                             n);
    }};
Tensor multiply(const Tensor& a_, const Tensor& b_) {
  auto [a, b] = promoted(a_, b_, "multiply");
  Tensor z = binary_kernel(BinaryOp::Multiply, a, b, "multiply");
  record(kMultiply, {a, b}, z, {a, b});
  return z;
}

// ---- divide: z = a / b.  da = g / b, db = -g * a / b^2.  Saves a, b.
static const OpDef kDivide{
    "divide",
    [](const Node& n, const Tensor& g, Needs need) -> Grads {
      const Tensor &a = n.saved[0], &b = n.saved[1];
      return {need[0] ? sum_to_shape(divide(g, b), a.shape()) : Tensor(),
              need[1] ? sum_to_shape(negative(divide(multiply(g, a), square(b))), b.shape())
                      : Tensor()};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return divide(in[0], in[1]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return detail::jvp_sum(
          {t[0].defined() ? divide(t[0], in[1]) : Tensor(),
           t[1].defined() ? negative(divide(multiply(z, t[1]), in[1])) : Tensor()},
          n);
    }};
Tensor divide(const Tensor& a_, const Tensor& b_) {
  auto [a, b] = promoted(a_, b_, "divide");
  if (!is_floating(a.dtype())) {  // true division of integers is float64, as in NumPy and TF
    a = cast(a, DType::Float64);
    b = cast(b, DType::Float64);
  }
  Tensor z = binary_kernel(BinaryOp::Divide, a, b, "divide");
  record(kDivide, {a, b}, z, {a, b});
  return z;
}

// ---- maximum: z = max(a, b), NaN if either is (as NumPy's).  The gradient goes to the operand
// whose value z is: to a where a >= b or a is NaN, else to b; passed on once in total, ties to a.
// Saves a, b.
static const OpDef kMaximum{
    "maximum",
    [](const Node& n, const Tensor& g, Needs need) -> Grads {
      const Tensor &a = n.saved[0], &b = n.saved[1];
      const Tensor to_a = multiply(g, mask(BinaryOp::MaxPicksA, a, b));
      return {need[0] ? sum_to_shape(to_a, a.shape()) : Tensor(),
              need[1] ? sum_to_shape(subtract(g, to_a), b.shape()) : Tensor()};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return maximum(in[0], in[1]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      const Tensor to_a = mask(BinaryOp::MaxPicksA, in[0], in[1]);
      return detail::jvp_sum(
          {t[0].defined() ? multiply(t[0], to_a) : Tensor(),
           t[1].defined() ? multiply(t[1], subtract(scalar_like(to_a, 1.0), to_a)) : Tensor()},
          n);
    }};
Tensor maximum(const Tensor& a_, const Tensor& b_) {
  auto [a, b] = promoted(a_, b_, "maximum");
  Tensor z = binary_kernel(BinaryOp::Maximum, a, b, "maximum");
  record(kMaximum, {a, b}, z, {a, b});
  return z;
}

// ---- minimum: z = min(a, b), NaN if either is.  The gradient goes to the operand whose value z
// is: to a where a <= b or a is NaN, else to b.  Saves a, b.
static const OpDef kMinimum{
    "minimum",
    [](const Node& n, const Tensor& g, Needs need) -> Grads {
      const Tensor &a = n.saved[0], &b = n.saved[1];
      const Tensor to_a = multiply(g, mask(BinaryOp::MinPicksA, a, b));
      return {need[0] ? sum_to_shape(to_a, a.shape()) : Tensor(),
              need[1] ? sum_to_shape(subtract(g, to_a), b.shape()) : Tensor()};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return minimum(in[0], in[1]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      const Tensor to_a = mask(BinaryOp::MinPicksA, in[0], in[1]);
      return detail::jvp_sum(
          {t[0].defined() ? multiply(t[0], to_a) : Tensor(),
           t[1].defined() ? multiply(t[1], subtract(scalar_like(to_a, 1.0), to_a)) : Tensor()},
          n);
    }};
Tensor minimum(const Tensor& a_, const Tensor& b_) {
  auto [a, b] = promoted(a_, b_, "minimum");
  Tensor z = binary_kernel(BinaryOp::Minimum, a, b, "minimum");
  record(kMinimum, {a, b}, z, {a, b});
  return z;
}

// ---- pow: z = a ** b.  da = g * b * a^(b-1), 0 where b == 0 (x^0 is constant: no 0*inf, at
// any order);
// db = g * z * log(a), 0 where a <= 0 (TF's "false singularity" guard).  Saves a, b, z.
static const OpDef kPow{
    "pow",
    [](const Node& n, const Tensor& g, Needs need) -> Grads {
      const Tensor &a = n.saved[0], &b = n.saved[1], &z = n.saved[2];
      Tensor da, db;
      if (need[0]) {
        // The base is masked before the power too, so no 0 * inf appears at any order.
        const Tensor zero = scalar_like(a, 0.0), one = scalar_like(a, 1.0);
        const Tensor b_is_zero = mask(BinaryOp::Equal, b, zero);
        const Tensor safe_a = where(b_is_zero, one, a);
        const Tensor full = multiply(multiply(g, b), pow(safe_a, subtract(b, one)));
        da = sum_to_shape(where(b_is_zero, zeros_like(full), full), a.shape());
      }
      if (need[1]) {
        const Tensor zero = scalar_like(a, 0.0), one = scalar_like(a, 1.0);
        const Tensor positive = mask(BinaryOp::Greater, a, zero);
        const Tensor log_a = log(where(positive, a, one));
        db = sum_to_shape(multiply(multiply(g, z), log_a), b.shape());
      }
      return {da, db};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return pow(in[0], in[1]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      const Tensor &a = in[0], &b = in[1];
      const Tensor zero = scalar_like(a, 0.0), one = scalar_like(a, 1.0);
      Tensor da, db;
      if (t[0].defined()) {
        const Tensor b_is_zero = mask(BinaryOp::Equal, b, zero);
        const Tensor full =
            multiply(multiply(t[0], b), pow(where(b_is_zero, one, a), subtract(b, one)));
        da = where(b_is_zero, zeros_like(full), full);
      }
      if (t[1].defined())
        db = multiply(multiply(t[1], z), log(where(mask(BinaryOp::Greater, a, zero), a, one)));
      return detail::jvp_sum({da, db}, n);
    }};
Tensor pow(const Tensor& a_, const Tensor& b_) {
  auto [a, b] = promoted(a_, b_, "pow");
  Tensor z = binary_kernel(BinaryOp::Pow, a, b, "pow");
  record(kPow, {a, b}, z, {a, b, z});
  return z;
}

// ---- pow_scalar: z = x ** p for a number p.  dx = (g * p) * x^(p-1), zeros for p == 0.  Saves x.
static const OpDef kPowScalar{
    "pow_scalar",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      const double p = n.attrs.scalar;
      const Tensor& x = n.saved[0];
      if (p == 0.0) return {zeros_like(g)};
      if (p == 1.0) return {g};
      const Tensor x_p1 = p == 2.0 ? x : pow_scalar(x, p - 1.0);  // x**2: one op less per order
      return {multiply(multiply(g, scalar_like(g, p)), x_p1)};    // the constant on g: see square
    },
    [](const std::vector<Tensor>& in, const Node& n) { return pow_scalar(in[0], n.attrs.scalar); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      const double p = n.attrs.scalar;
      if (p == 0.0) return Tensor();
      if (p == 1.0) return t[0];
      const Tensor x_p1 = p == 2.0 ? in[0] : pow_scalar(in[0], p - 1.0);
      return multiply(multiply(t[0], scalar_like(t[0], p)), x_p1);
    }};
Tensor pow_scalar(const Tensor& x, double p) {
  Tensor z = Tensor::empty(x.dtype(), x.shape());
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::pow_scalar<T>(x.data<T>(), static_cast<T>(p), z.mutable_data<T>(), x.size());
  });
  Attrs attrs;
  attrs.scalar = p;
  record(kPowScalar, {x}, z, {x}, std::move(attrs));
  return z;
}

// ---- negative: z = -x.  dx = -g.  Saves nothing.
static const OpDef kNegative{
    "negative", [](const Node&, const Tensor& g, Needs) -> Grads { return {negative(g)}; },
    [](const std::vector<Tensor>& in, const Node& n) { return negative(in[0]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return negative(t[0]);
    }};
Tensor negative(const Tensor& x) {
  Tensor z = unary_kernel(UnaryOp::Negative, x);
  record(kNegative, {x}, z);
  return z;
}

// ---- square: z = x^2.  dx = (2g) * x, the constant on g's side: only the last product reads x,
// so forward over reverse (tg.hvp) takes one tangent op for it, not two.  Saves x.
static const OpDef kSquare{
    "square",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      return {multiply(multiply(g, scalar_like(g, 2.0)), n.saved[0])};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return square(in[0]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return multiply(multiply(t[0], scalar_like(t[0], 2.0)), in[0]);
    }};
Tensor square(const Tensor& x) {
  Tensor z = unary_kernel(UnaryOp::Square, x);
  record(kSquare, {x}, z, {x});
  return z;
}

// ---- sqrt: z = sqrt(x).  dx = g / (2z) (+inf at 0, deterministic).  Saves z.
static const OpDef kSqrt{
    "sqrt",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      const Tensor& z = n.saved[0];
      return {divide(g, multiply(z, scalar_like(z, 2.0)))};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return sqrt(in[0]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return divide(t[0], multiply(z, scalar_like(z, 2.0)));
    }};
Tensor sqrt(const Tensor& x) {
  Tensor z = unary_kernel(UnaryOp::Sqrt, x);
  record(kSqrt, {x}, z, {z});
  return z;
}

// ---- exp: z = e^x.  dx = g * z.  Saves z.
static const OpDef kExp{
    "exp", [](const Node& n, const Tensor& g, Needs) -> Grads { return {multiply(g, n.saved[0])}; },
    [](const std::vector<Tensor>& in, const Node& n) { return exp(in[0]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return multiply(t[0], z);
    }};
Tensor exp(const Tensor& x) {
  Tensor z = unary_kernel(UnaryOp::Exp, x);
  record(kExp, {x}, z, {z});
  return z;
}

// ---- log: z = ln x.  dx = g / x.  Saves x.
static const OpDef kLog{
    "log", [](const Node& n, const Tensor& g, Needs) -> Grads { return {divide(g, n.saved[0])}; },
    [](const std::vector<Tensor>& in, const Node& n) { return log(in[0]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return divide(t[0], in[0]);
    }};
Tensor log(const Tensor& x) {
  Tensor z = unary_kernel(UnaryOp::Log, x);
  record(kLog, {x}, z, {x});
  return z;
}

// ---- tanh: z = tanh x.  dx = g * (1 - z^2).  Saves z.
static const OpDef kTanh{
    "tanh",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      const Tensor& z = n.saved[0];
      return {multiply(g, subtract(scalar_like(z, 1.0), square(z)))};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return tanh(in[0]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return multiply(t[0], subtract(scalar_like(z, 1.0), square(z)));
    }};
Tensor tanh(const Tensor& x) {
  Tensor z = unary_kernel(UnaryOp::Tanh, x);
  record(kTanh, {x}, z, {z});
  return z;
}

// ---- sigmoid: z = 1 / (1 + e^-x).  dx = g * z * (1 - z), finite even when z saturates.  Saves z.
static const OpDef kSigmoid{
    "sigmoid",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      const Tensor& z = n.saved[0];
      return {multiply(g, multiply(z, subtract(scalar_like(z, 1.0), z)))};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return sigmoid(in[0]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return multiply(t[0], multiply(z, subtract(scalar_like(z, 1.0), z)));
    }};
Tensor sigmoid(const Tensor& x) {
  Tensor z = unary_kernel(UnaryOp::Sigmoid, x);
  record(kSigmoid, {x}, z, {z});
  return z;
}

// ---- relu: z = max(x, 0).  dx = relu_grad(g, x) = g * (x > 0), so relu'(0) = 0.  Saves x.
static const OpDef kRelu{
    "relu",
    [](const Node& n, const Tensor& g, Needs) -> Grads { return {relu_grad(g, n.saved[0])}; },
    [](const std::vector<Tensor>& in, const Node& n) { return relu(in[0]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return relu_grad(t[0], in[0]);
    }};
Tensor relu(const Tensor& x) {
  Tensor z = unary_kernel(UnaryOp::Relu, x);
  record(kRelu, {x}, z, {x});
  return z;
}

// ---- relu_grad: z = g * (x > 0), relu's fused backward as an op of its own, so relu is
// differentiable twice.  dg = relu_grad(gz, x); dx = 0 (piecewise constant in x).  Saves x.
static const OpDef kReluGrad{
    "relu_grad",
    [](const Node& n, const Tensor& gz, Needs need) -> Grads {
      const Tensor& x = n.saved[0];
      return {need[0] ? sum_to_shape(relu_grad(gz, x), n.input_shape(0)) : Tensor(),
              need[1] ? zeros_like(x) : Tensor()};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return relu_grad(in[0], in[1]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return t[0].defined() ? detail::jvp_sum({relu_grad(t[0], in[1])}, n) : Tensor();
    }};
Tensor relu_grad(const Tensor& g_, const Tensor& x_) {
  auto [g, x] = promoted(g_, x_, "relu_grad");
  Tensor z = binary_kernel(BinaryOp::ReluGrad, g, x, "relu_grad");
  record(kReluGrad, {g, x}, z, {x});
  return z;
}

// ---- abs: z = |x|.  dx = g * sign(x), so |x|'(0) = 0.  Saves x.
static const OpDef kAbs{
    "abs",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      return {multiply(g, detail::untaped_unary(UnaryOp::Sign, n.saved[0]))};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return abs(in[0]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return multiply(t[0], detail::untaped_unary(UnaryOp::Sign, in[0]));
    }};
Tensor abs(const Tensor& x) {
  Tensor z = unary_kernel(UnaryOp::Abs, x);
  record(kAbs, {x}, z, {x});
  return z;
}

// ---- where: z = cond ? a : b (cond != 0), all broadcast.  da = where(cond, g, 0),
// db = where(cond, 0, g); cond gets no gradient.  Saves cond.
static const OpDef kWhere{
    "where",
    [](const Node& n, const Tensor& g, Needs need) -> Grads {
      const Tensor& cond = n.saved[0];
      const Tensor zero = zeros_like(g);
      return {Tensor(), need[1] ? sum_to_shape(where(cond, g, zero), n.input_shape(1)) : Tensor(),
              need[2] ? sum_to_shape(where(cond, zero, g), n.input_shape(2)) : Tensor()};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return where(in[0], in[1], in[2]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      if (!t[1].defined() && !t[2].defined()) return Tensor();
      return detail::jvp_sum(
          {where(in[0], detail::or_zeros(t[1], in[1]), detail::or_zeros(t[2], in[2]))}, n);
    }};
Tensor where(const Tensor& cond_, const Tensor& a_, const Tensor& b_) {
  // Shapes first (casts keep shapes): a failing where records nothing.
  Shape out_shape =
      broadcast_shapes(broadcast_shapes(cond_.shape(), a_.shape(), "where"), b_.shape(), "where");
  check_shape(out_shape, itemsize(promote(a_.dtype(), b_.dtype())), "where");
  auto [a, b] = promoted(a_, b_);
  // The condition in the values' dtype: a bool cast gives 0/1; any other dtype goes through bool
  // first (cond != 0), so 0.5 stays true when the values are integers.
  Tensor cond = cond_;
  if (cond.dtype() != a.dtype()) {
    cond = stop_gradient(cond);
    if (cond.dtype() != DType::Bool) cond = cast(cond, DType::Bool);
    cond = cast(cond, a.dtype());
  }
  Tensor z = Tensor::empty(a.dtype(), out_shape);
  dispatch_any_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::where<T>(cond.data<T>(), cond.shape(), a.data<T>(), a.shape(), b.data<T>(), b.shape(),
                      z.mutable_data<T>(), z.shape());
  });
  record(kWhere, {cond, a, b}, z, {cond});
  return z;
}

// ---- cast: z = x converted to dtype (float to integer truncates toward zero; out-of-range floats
// saturate and NaN becomes 0).  dx = cast(g, x.dtype).  Saves nothing.  Only float-to-float casts
// reach the tapes: an integer result is never differentiable (record() keeps it off the tapes)
// and an integer input is never tracked, so nothing flows through an integer path.
static const OpDef kCast{
    "cast",
    [](const Node& n, const Tensor& g, Needs) -> Grads { return {cast(g, n.inputs[0].dtype)}; },
    [](const std::vector<Tensor>& in, const Node& n) { return cast(in[0], n.out_dtype); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return cast(t[0], n.out_dtype);
    }};
Tensor cast(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor z = Tensor::empty(dtype, x.shape());
  if (is_floating(x.dtype()) && is_floating(dtype)) {
    dispatch_dtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      if (x.dtype() == DType::Float32)
        kernels::cast<T>(x.data<float>(), z.mutable_data<T>(), x.size());
      else
        kernels::cast<T>(x.data<double>(), z.mutable_data<T>(), x.size());
    });
  } else {
    kernels::cast_any(x.dtype(), x.raw(), dtype, z.raw_mutable(), x.size());
  }
  record(kCast, {x}, z);
  return z;
}

// ---- stop_gradient: the same value under a new id that no tape tracks (a trace records it, so a
// compiled program passes the value on).
static const OpDef kStopGradient{
    "stop_gradient", nullptr,
    [](const std::vector<Tensor>& in, const Node&) { return stop_gradient(in[0]); }};
Tensor stop_gradient(const Tensor& x) {
  Tensor z = x.with_new_id();
  record_on_trace(kStopGradient, {x}, z, {});
  return z;
}

Tensor ones_like(const Tensor& x) { return Tensor::full(x.dtype(), x.shape(), 1.0); }
Tensor zeros_like(const Tensor& x) { return Tensor::zeros(x.dtype(), x.shape()); }

}  // namespace tg
