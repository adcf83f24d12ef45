// Classification ops: the softmax family, reduce_logsumexp/reduce_min, clip_by_value and the two
// cross-entropies with logits. The softmax family and the losses run fused kernels (one kernel
// per row forward and one backward, kernels/classification.cpp); every backward is itself an op
// whose VJP is written with ops, so each is differentiable again.
#include <cmath>

#include "common.h"

namespace tg {

using detail::promoted;
using detail::scalar_like;

namespace {
using i64 = std::int64_t;

// x viewed as (outer, D, inner) around `axis` (already normalized).
struct AxisView {
  i64 outer = 1, D = 1, inner = 1;
};
AxisView axis_view(const Shape& s, int axis) {
  AxisView v;
  for (int i = 0; i < static_cast<int>(s.size()); ++i)
    (i < axis ? v.outer : i == axis ? v.D : v.inner) *= s[i];
  return v;
}

// The softmax axis of a tensor of this shape; a 0-d tensor has none.
int softmax_axis(const Shape& s, i64 axis, const char* op) {
  if (s.empty())
    throw ValueError(std::string(op) + ": expected a tensor of rank >= 1, got shape ()");
  return normalize_axis(axis, static_cast<int>(s.size()), op);
}

Attrs axis_attrs(int axis) {
  Attrs a;
  a.ints = {axis};
  return a;
}

// The shape without `axis` (the loss's shape) and with it kept as 1 (for broadcasting back).
Shape without_axis(const Shape& s, int axis) {
  Shape out = s;
  out.erase(out.begin() + axis);
  return out;
}
Shape keep_axis(const Shape& s, int axis) {
  Shape out = s;
  out[axis] = 1;
  return out;
}

void same_shapes(const Tensor& a, const Tensor& b, const char* op, const char* a_name,
                 const char* b_name) {
  if (a.shape() != b.shape())
    throw ValueError(std::string(op) + ": " + a_name + " shape " + shape_str(a.shape()) + " and " +
                     b_name + " shape " + shape_str(b.shape()) + " must be equal");
}

// g given back its reduced axis (size 1), so it broadcasts along the axis.
Tensor per_row(const Tensor& g, const Shape& full, int axis) {
  return reshape(g, keep_axis(full, axis));
}
Tensor row_sum(const Tensor& x, int axis, bool keepdims) {
  return reduce_sum(x, std::vector<i64>{axis}, keepdims);
}
}  // namespace

// ---- softmax: y = exp(x - m) / sum(exp(x - m)) along axis (m: the axis' maximum).  dx =
// softmax_grad(g, y) = y (g - sum(g y)); the Jacobian is symmetric, so the JVP is the same
// product with the tangent.  Saves y.
static const OpDef kSoftmax{
    "softmax",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      return {softmax_grad(g, n.saved[0], n.attrs.ints[0])};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return softmax(in[0], n.attrs.ints[0]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& y, const Node& n) -> Tensor {
      return softmax_grad(t[0], y, n.attrs.ints[0]);
    }};
Tensor softmax(const Tensor& x, i64 axis_) {
  const int axis = softmax_axis(x.shape(), axis_, "softmax");
  const AxisView v = axis_view(x.shape(), axis);
  Tensor y = Tensor::empty(x.dtype(), x.shape());
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::softmax<T>(x.data<T>(), v.outer, v.D, v.inner, y.mutable_data<T>());
  });
  record(kSoftmax, {x}, y, {y}, axis_attrs(axis));
  return y;
}

// ---- softmax_grad: z = y (g - S), S = sum(g y) along axis: softmax's backward in one kernel.
// dg = softmax_grad(gz, y) (symmetric in g); dy = gz (g - S) - g sum(gz y).  Saves g, y.
static const OpDef kSoftmaxGrad{
    "softmax_grad",
    [](const Node& n, const Tensor& gz, Needs need) -> Grads {
      const Tensor &g = n.saved[0], &y = n.saved[1];
      const int axis = static_cast<int>(n.attrs.ints[0]);
      Tensor dy;
      if (need[1]) {
        const Tensor S = row_sum(multiply(g, y), axis, true);
        dy = subtract(multiply(gz, subtract(g, S)),
                      multiply(g, row_sum(multiply(gz, y), axis, true)));
      }
      return {need[0] ? softmax_grad(gz, y, axis) : Tensor(), dy};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return softmax_grad(in[0], in[1], n.attrs.ints[0]);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      const Tensor &g = in[0], &y = in[1];
      const int axis = static_cast<int>(n.attrs.ints[0]);
      Tensor by_g, by_y;
      if (t[0].defined()) by_g = softmax_grad(t[0], y, axis);
      if (t[1].defined()) {
        const Tensor S = row_sum(multiply(g, y), axis, true);
        by_y = subtract(multiply(t[1], subtract(g, S)),
                        multiply(y, row_sum(multiply(g, t[1]), axis, true)));
      }
      return detail::jvp_sum({by_g, by_y}, n);
    }};
Tensor softmax_grad(const Tensor& g_, const Tensor& y_, i64 axis_) {
  same_shapes(g_, y_, "softmax_grad", "g", "y");
  auto [g, y] = promoted(g_, y_);
  const int axis = softmax_axis(y.shape(), axis_, "softmax_grad");
  const AxisView v = axis_view(y.shape(), axis);
  Tensor z = Tensor::empty(y.dtype(), y.shape());
  dispatch_dtype(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::softmax_grad<T>(g.data<T>(), y.data<T>(), v.outer, v.D, v.inner, z.mutable_data<T>());
  });
  record(kSoftmaxGrad, {g, y}, z, {g, y}, axis_attrs(axis));
  return z;
}

// ---- log_softmax: z = (x - m) - log(sum(exp(x - m))) along axis.  dx = log_softmax_grad(g, z)
// = g - exp(z) sum(g); JVP: t - sum(exp(z) t).  Saves z.
static const OpDef kLogSoftmax{
    "log_softmax",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      return {log_softmax_grad(g, n.saved[0], n.attrs.ints[0])};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return log_softmax(in[0], n.attrs.ints[0]);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return subtract(t[0],
                      row_sum(multiply(exp(z), t[0]), static_cast<int>(n.attrs.ints[0]), true));
    }};
Tensor log_softmax(const Tensor& x, i64 axis_) {
  const int axis = softmax_axis(x.shape(), axis_, "log_softmax");
  const AxisView v = axis_view(x.shape(), axis);
  Tensor z = Tensor::empty(x.dtype(), x.shape());
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::log_softmax<T>(x.data<T>(), v.outer, v.D, v.inner, z.mutable_data<T>());
  });
  record(kLogSoftmax, {x}, z, {z}, axis_attrs(axis));
  return z;
}

// ---- log_softmax_grad: w = g - exp(z) S, S = sum(g) along axis: log_softmax's backward in one
// kernel.  dg = gw - sum(gw exp(z)); dz = -gw exp(z) S.  Saves g, z.
static const OpDef kLogSoftmaxGrad{
    "log_softmax_grad",
    [](const Node& n, const Tensor& gw, Needs need) -> Grads {
      const Tensor &g = n.saved[0], &z = n.saved[1];
      const int axis = static_cast<int>(n.attrs.ints[0]);
      const Tensor p = exp(z);
      return {need[0] ? subtract(gw, row_sum(multiply(gw, p), axis, true)) : Tensor(),
              need[1] ? negative(multiply(multiply(gw, p), row_sum(g, axis, true))) : Tensor()};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return log_softmax_grad(in[0], in[1], n.attrs.ints[0]);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& w, const Node& n) -> Tensor {
      const Tensor &g = in[0], &z = in[1];
      const int axis = static_cast<int>(n.attrs.ints[0]);
      Tensor by_g, by_z;
      if (t[0].defined()) by_g = log_softmax_grad(t[0], z, axis);
      if (t[1].defined()) by_z = negative(multiply(multiply(t[1], exp(z)), row_sum(g, axis, true)));
      return detail::jvp_sum({by_g, by_z}, n);
    }};
Tensor log_softmax_grad(const Tensor& g_, const Tensor& z_, i64 axis_) {
  same_shapes(g_, z_, "log_softmax_grad", "g", "z");
  auto [g, z] = promoted(g_, z_);
  const int axis = softmax_axis(z.shape(), axis_, "log_softmax_grad");
  const AxisView v = axis_view(z.shape(), axis);
  Tensor w = Tensor::empty(z.dtype(), z.shape());
  dispatch_dtype(z.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::log_softmax_grad<T>(g.data<T>(), z.data<T>(), v.outer, v.D, v.inner,
                                 w.mutable_data<T>());
  });
  record(kLogSoftmaxGrad, {g, z}, w, {g, z}, axis_attrs(axis));
  return w;
}

// ---- reduce_logsumexp: z = log(sum(exp(x))) over axes, shifted by the maximum (-inf over no
// elements).  dx = g p with p the softmax over those axes; JVP: sum(t p).  Saves x, z; attrs as
// reduce_sum's (the axes, keepdims; attrs.shape: the keepdims shape).
namespace {
// p = exp(x - z): over one axis by the softmax op, which shifts by the maximum (x - z loses the
// low bits of z when |z| is large, 1e-3 at 1e4 in float32); over several axes from z.
Tensor logsumexp_weights(const Tensor& x, const Tensor& z, const Node& n) {
  if (n.attrs.ints.size() == 1) return softmax(x, n.attrs.ints[0]);
  return exp(subtract(x, reshape(z, n.attrs.shape)));
}
}  // namespace
static const OpDef kReduceLogSumExp{
    "reduce_logsumexp",
    [](const Node& n, const Tensor& g, Needs) -> Grads {
      const Tensor &x = n.saved[0], &z = n.saved[1];
      return {multiply(reshape(g, n.attrs.shape), logsumexp_weights(x, z, n))};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return reduce_logsumexp(in[0], n.attrs.ints, n.attrs.flag_a);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      return reduce_sum(multiply(t[0], logsumexp_weights(in[0], z, n)), n.attrs.ints,
                        n.attrs.flag_a);
    }};
Tensor reduce_logsumexp(const Tensor& x, const Axes& axes, bool keepdims) {
  const char* op = "reduce_logsumexp";
  const int rank = x.rank();
  std::vector<char> red(rank, axes ? 0 : 1);
  if (axes)
    for (auto a : *axes) {
      const int ax = normalize_axis(a, rank, op);
      if (red[ax]) throw ValueError(std::string(op) + ": duplicate value in axis");
      red[ax] = 1;
    }
  // Kept axes first, reduced axes last: (rows, D) rows of the kernel. The transposed copy is
  // skipped when the reduced axes already trail the kept ones.
  std::vector<i64> perm, reduced;
  Shape kd = x.shape(), squeezed;
  i64 D = 1;
  for (int i = 0; i < rank; ++i)
    if (!red[i]) {
      perm.push_back(i);
      squeezed.push_back(x.shape()[i]);
    }
  for (int i = 0; i < rank; ++i)
    if (red[i]) {
      perm.push_back(i);
      kd[i] = 1;
      D *= x.shape()[i];
      reduced.push_back(i);
    }
  bool in_order = true;
  for (int i = 0; i < rank; ++i) in_order = in_order && perm[i] == i;
  Tensor kd_out = Tensor::empty(x.dtype(), kd);
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const i64 rows = numel(squeezed);
    if (in_order) {
      kernels::logsumexp<T>(x.data<T>(), rows, D, 1, kd_out.mutable_data<T>());
    } else {
      std::vector<T> moved(static_cast<std::size_t>(x.size()));
      kernels::transpose<T>(x.data<T>(), x.shape(), perm, moved.data());
      kernels::logsumexp<T>(moved.data(), rows, D, 1, kd_out.mutable_data<T>());
    }
  });
  Tensor z = keepdims ? kd_out : kd_out.view_as(squeezed);
  Attrs attrs;
  attrs.ints = reduced;
  attrs.flag_a = keepdims;
  attrs.shape = kd;
  record(kReduceLogSumExp, {x}, z, {x, z}, std::move(attrs));
  return z;
}

// ---- reduce_min: -reduce_max(-x), a composition (ties split evenly, as reduce_max's).
Tensor reduce_min(const Tensor& x, const Axes& axes, bool keepdims) {
  const int rank = x.rank();
  for (int i = 0; i < rank; ++i) {
    bool reduced = !axes;
    if (axes)
      for (auto a : *axes) reduced = reduced || normalize_axis(a, rank, "reduce_min") == i;
    if (reduced && x.shape()[i] == 0)
      throw ValueError("reduce_min: zero-size tensor of shape " + shape_str(x.shape()) +
                       " has no minimum along axis " + std::to_string(i));
  }
  if (x.dtype() == DType::Bool) return reduce_all(x, axes, keepdims);
  if (!is_floating(x.dtype())) {
    // Integers: ~v = -v - 1 is exact in wrap-around arithmetic (negation alone is not, at
    // INT_MIN), so min x = ~max ~x.
    const Tensor one = Tensor::scalar(x.dtype(), 1.0);
    auto complement = [&](const Tensor& v) { return subtract(negative(v), one); };
    return complement(reduce_max(complement(x), axes, keepdims));
  }
  return negative(reduce_max(negative(x), axes, keepdims));
}

// ---- clip_by_value: min(max(t, lo), hi), a composition. maximum and minimum pass a tie to their
// first operand, so t keeps the gradient on the boundary (lo <= t <= hi), as TensorFlow's rule;
// lo gets it where t < lo, hi where t > hi (summed to their shapes).
Tensor clip_by_value(const Tensor& t, const Tensor& lo, const Tensor& hi) {
  const Shape lo_t = broadcast_shapes(t.shape(), lo.shape(), "clip_by_value");
  if (broadcast_shapes(lo_t, hi.shape(), "clip_by_value") != t.shape())
    throw ValueError("clip_by_value: clip values of shapes " + shape_str(lo.shape()) + " and " +
                     shape_str(hi.shape()) + " must broadcast to t's shape " +
                     shape_str(t.shape()));
  return minimum(maximum(t, lo), hi);
}

// ---- softmax_cross_entropy_with_logits: loss = -sum(l log_softmax(x)) along axis, per example
// (labels l are probabilities).  dl = -g log_softmax(x); dx = softmax_cross_entropy_with_logits_grad
// (g, l, x) = g (L softmax(x) - l), L = sum(l) (TensorFlow's softmax - l when the labels sum to
// 1); JVP: sum(-tl log_softmax(x)) + sum(tx (L softmax(x) - l)).  Saves l, x.
static const OpDef kSoftmaxXent{
    "softmax_cross_entropy_with_logits",
    [](const Node& n, const Tensor& g, Needs need) -> Grads {
      const Tensor &l = n.saved[0], &x = n.saved[1];
      const int axis = static_cast<int>(n.attrs.ints[0]);
      return {need[0] ? negative(multiply(per_row(g, x.shape(), axis), log_softmax(x, axis)))
                      : Tensor(),
              need[1] ? softmax_cross_entropy_with_logits_grad(g, l, x, axis) : Tensor()};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return softmax_cross_entropy_with_logits(in[0], in[1], n.attrs.ints[0]);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& loss, const Node& n) -> Tensor {
      const Tensor &l = in[0], &x = in[1];
      const int axis = static_cast<int>(n.attrs.ints[0]);
      Tensor by_l, by_x;
      if (t[0].defined())
        by_l = negative(row_sum(multiply(t[0], log_softmax(x, axis)), axis, false));
      if (t[1].defined())
        by_x = row_sum(
            multiply(t[1], softmax_cross_entropy_with_logits_grad(ones_like(loss), l, x, axis)),
            axis, false);
      return detail::jvp_sum({by_l, by_x}, n);
    }};
Tensor softmax_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits, i64 axis_) {
  const char* op = "softmax_cross_entropy_with_logits";
  same_shapes(labels, logits, op, "labels", "logits");
  auto [l, x] = promoted(labels, logits);
  const int axis = softmax_axis(x.shape(), axis_, op);
  const AxisView v = axis_view(x.shape(), axis);
  Tensor loss = Tensor::empty(x.dtype(), without_axis(x.shape(), axis));
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::softmax_cross_entropy<T>(l.data<T>(), x.data<T>(), v.outer, v.D, v.inner,
                                      loss.mutable_data<T>());
  });
  record(kSoftmaxXent, {l, x}, loss, {l, x}, axis_attrs(axis));
  return loss;
}

// ---- softmax_cross_entropy_with_logits_grad: z = g (L s - l), s = softmax(x), L = sum(l) along
// axis, g one value per example: the loss's backward for the logits in one kernel.
// dg = sum(gz (L s - l)); dl = g (sum(gz s) - gz); dx = g L softmax_grad(gz, s).  Saves g, l, x.
static const OpDef kSoftmaxXentGrad{
    "softmax_cross_entropy_with_logits_grad",
    [](const Node& n, const Tensor& gz, Needs need) -> Grads {
      const Tensor &g = n.saved[0], &l = n.saved[1], &x = n.saved[2];
      const int axis = static_cast<int>(n.attrs.ints[0]);
      const Tensor g_row = per_row(g, x.shape(), axis);
      Tensor dg, dl, dx;
      if (need[0])
        dg = row_sum(multiply(gz, softmax_cross_entropy_with_logits_grad(ones_like(g), l, x, axis)),
                     axis, false);
      if (need[1] || need[2]) {
        const Tensor s = softmax(x, axis);
        if (need[1]) dl = multiply(g_row, subtract(row_sum(multiply(gz, s), axis, true), gz));
        if (need[2])
          dx = multiply(multiply(g_row, row_sum(l, axis, true)), softmax_grad(gz, s, axis));
      }
      return {dg, dl, dx};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return softmax_cross_entropy_with_logits_grad(in[0], in[1], in[2], n.attrs.ints[0]);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      const Tensor &g = in[0], &l = in[1], &x = in[2];
      const int axis = static_cast<int>(n.attrs.ints[0]);
      const Tensor g_row = per_row(g, x.shape(), axis);
      Tensor by_g, by_l, by_x;
      if (t[0].defined()) by_g = softmax_cross_entropy_with_logits_grad(t[0], l, x, axis);
      if (t[1].defined() || t[2].defined()) {
        const Tensor s = softmax(x, axis);
        if (t[1].defined())
          by_l = multiply(g_row, subtract(multiply(row_sum(t[1], axis, true), s), t[1]));
        if (t[2].defined())
          by_x = multiply(multiply(g_row, row_sum(l, axis, true)), softmax_grad(t[2], s, axis));
      }
      return detail::jvp_sum({by_g, by_l, by_x}, n);
    }};
Tensor softmax_cross_entropy_with_logits_grad(const Tensor& g_, const Tensor& labels,
                                              const Tensor& logits, i64 axis_) {
  const char* op = "softmax_cross_entropy_with_logits_grad";
  same_shapes(labels, logits, op, "labels", "logits");
  const int axis = softmax_axis(logits.shape(), axis_, op);
  const Shape rows = without_axis(logits.shape(), axis);
  if (g_.shape() != rows)
    throw ValueError(std::string(op) + ": g of shape " + shape_str(g_.shape()) +
                     " must have the loss's shape " + shape_str(rows));
  const DType dt = promote(g_.dtype(), promote(labels.dtype(), logits.dtype()));
  const Tensor g = cast(g_, dt), l = cast(labels, dt), x = cast(logits, dt);
  const AxisView v = axis_view(x.shape(), axis);
  Tensor z = Tensor::empty(dt, x.shape());
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    kernels::softmax_cross_entropy_grad<T>(g.data<T>(), l.data<T>(), x.data<T>(), v.outer, v.D,
                                           v.inner, z.mutable_data<T>());
  });
  record(kSoftmaxXentGrad, {g, l, x}, z, {g, l, x}, axis_attrs(axis));
  return z;
}

// ---- sigmoid_cross_entropy_with_logits: loss = max(x, 0) - x z + log1p(exp(-|x|)) elementwise
// (TensorFlow's stable form of -z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x))).  dz = -g x;
// dx = sigmoid_cross_entropy_with_logits_grad(g, z, x) = g (sigmoid(x) - z).  Saves z, x.
static const OpDef kSigmoidXent{
    "sigmoid_cross_entropy_with_logits",
    [](const Node& n, const Tensor& g, Needs need) -> Grads {
      const Tensor &z = n.saved[0], &x = n.saved[1];
      return {need[0] ? negative(multiply(g, x)) : Tensor(),
              need[1] ? sigmoid_cross_entropy_with_logits_grad(g, z, x) : Tensor()};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return sigmoid_cross_entropy_with_logits(in[0], in[1]);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& loss, const Node& n) -> Tensor {
      const Tensor &z = in[0], &x = in[1];
      return detail::jvp_sum(
          {t[0].defined() ? negative(multiply(t[0], x)) : Tensor(),
           t[1].defined() ? sigmoid_cross_entropy_with_logits_grad(t[1], z, x) : Tensor()},
          n);
    }};
Tensor sigmoid_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits) {
  const char* op = "sigmoid_cross_entropy_with_logits";
  same_shapes(labels, logits, op, "labels", "logits");
  auto [z, x] = promoted(labels, logits);
  Tensor loss = Tensor::empty(x.dtype(), x.shape());
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::sigmoid_cross_entropy<T>(z.data<T>(), x.data<T>(), x.size(), loss.mutable_data<T>());
  });
  record(kSigmoidXent, {z, x}, loss, {z, x});
  return loss;
}

// ---- sigmoid_cross_entropy_with_logits_grad: w = g (sigmoid(x) - z), the loss's backward for the
// logits in one kernel.  dg = gw (sigmoid(x) - z); dz = -gw g; dx = gw g s (1 - s), s =
// sigmoid(x).  Saves g, z, x.
static const OpDef kSigmoidXentGrad{
    "sigmoid_cross_entropy_with_logits_grad",
    [](const Node& n, const Tensor& gw, Needs need) -> Grads {
      const Tensor &g = n.saved[0], &z = n.saved[1], &x = n.saved[2];
      Tensor dx;
      if (need[2]) {
        const Tensor s = sigmoid(x);
        dx = multiply(multiply(gw, g), multiply(s, subtract(scalar_like(s, 1.0), s)));
      }
      return {need[0] ? sigmoid_cross_entropy_with_logits_grad(gw, z, x) : Tensor(),
              need[1] ? negative(multiply(gw, g)) : Tensor(), dx};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return sigmoid_cross_entropy_with_logits_grad(in[0], in[1], in[2]);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& w, const Node& n) -> Tensor {
      const Tensor &g = in[0], &z = in[1], &x = in[2];
      Tensor by_g, by_z, by_x;
      if (t[0].defined()) by_g = sigmoid_cross_entropy_with_logits_grad(t[0], z, x);
      if (t[1].defined()) by_z = negative(multiply(g, t[1]));
      if (t[2].defined()) {
        const Tensor s = sigmoid(x);
        by_x = multiply(multiply(g, t[2]), multiply(s, subtract(scalar_like(s, 1.0), s)));
      }
      return detail::jvp_sum({by_g, by_z, by_x}, n);
    }};
Tensor sigmoid_cross_entropy_with_logits_grad(const Tensor& g_, const Tensor& labels,
                                              const Tensor& logits) {
  const char* op = "sigmoid_cross_entropy_with_logits_grad";
  same_shapes(labels, logits, op, "labels", "logits");
  same_shapes(g_, logits, op, "g", "logits");
  const DType dt = promote(g_.dtype(), promote(labels.dtype(), logits.dtype()));
  const Tensor g = cast(g_, dt), z = cast(labels, dt), x = cast(logits, dt);
  Tensor w = Tensor::empty(dt, x.shape());
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    kernels::sigmoid_cross_entropy_grad<T>(g.data<T>(), z.data<T>(), x.data<T>(), x.size(),
                                           w.mutable_data<T>());
  });
  record(kSigmoidXentGrad, {g, z, x}, w, {g, z, x});
  return w;
}

// ---- argmax_equal: 1 where argmax(a) == argmax(b) along axis, else 0 (the first of tied
// maxima, as NumPy): categorical accuracy. Not differentiable (no tape records it); a trace
// does, so a compiled step computes it again at every replay.
static const OpDef kArgmaxEqual{"argmax_equal", nullptr,
                                [](const std::vector<Tensor>& in, const Node& n) {
                                  return argmax_equal(in[0], in[1], n.attrs.ints[0]);
                                }};
Tensor argmax_equal(const Tensor& a_, const Tensor& b_, i64 axis_) {
  const char* op = "argmax_equal";
  same_shapes(a_, b_, op, "y_true", "y_pred");
  const int axis = softmax_axis(a_.shape(), axis_, op);
  if (a_.shape()[axis] == 0 && numel(without_axis(a_.shape(), axis)) > 0)
    throw ValueError(std::string(op) + ": no argmax along an empty axis " + std::to_string(axis) +
                     " of shape " + shape_str(a_.shape()));
  const DType dt = promote(a_.dtype(), b_.dtype());
  const Tensor a = dt == a_.dtype() ? a_ : stop_gradient(cast(a_, dt));
  const Tensor b = dt == b_.dtype() ? b_ : stop_gradient(cast(b_, dt));
  const AxisView v = axis_view(a.shape(), axis);
  Tensor z = Tensor::empty(dt, without_axis(a.shape(), axis));
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    kernels::argmax_equal<T>(a.data<T>(), b.data<T>(), v.outer, v.D, v.inner, z.mutable_data<T>());
  });
  record_on_trace(kArgmaxEqual, {a, b}, z, axis_attrs(axis));
  return z;
}

}  // namespace tg
