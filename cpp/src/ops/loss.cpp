// Fused losses: one kernel pass forward and one backward, each an op with a VJP written with ops
// (so the losses are differentiable twice, like their unfused compositions).
#include "common.h"

namespace tg {

using detail::promoted;
using detail::scalar_like;

namespace {
// The loss's shape: the broadcast shape without its last axis (a 0-d broadcast is one sample).
Shape rows_of(const Shape& os) { return os.empty() ? os : Shape(os.begin(), os.end() - 1); }

// g (broadcastable to the rows' shape) given a trailing axis of 1, so it broadcasts against os.
Tensor with_last_axis(const Tensor& g, const Shape& os) {
  if (os.empty()) return g;
  Shape s = g.shape();
  s.push_back(1);
  return reshape(g, s);
}
}  // namespace

// ---- mean_squared_error: loss = mean((p - t)^2, axis=-1) over the broadcast shape of y_true t
// and y_pred p (Keras's losses.mean_squared_error).  With d =
// mean_squared_error_grad(g, t, p) = g[..., None] * 2 (p - t) / D:  dp = d, dt = -d, each summed
// to its input's shape.  Saves t, p.
static const OpDef kMeanSquaredError{
    "mean_squared_error", [](const Node& n, const Tensor& g, Needs need) -> Grads {
      const Tensor &t = n.saved[0], &p = n.saved[1];
      const Tensor d = mean_squared_error_grad(g, t, p);
      return {need[0] ? sum_to_shape(negative(d), t.shape()) : Tensor(),
              need[1] ? sum_to_shape(d, p.shape()) : Tensor()};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return mean_squared_error(in[0], in[1]); },
[](const std::vector<Tensor>& in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
  Tensor dd = t[1];  // the tangent of p - t, in the inputs' shapes (multiply broadcasts)
  if (t[0].defined()) dd = dd.defined() ? subtract(dd, t[0]) : negative(t[0]);
  const Tensor diff = subtract(in[1], in[0]);
  const Tensor prod = multiply(multiply(diff, scalar_like(diff, 2.0)), dd);
  return prod.rank() == 0 ? prod : reduce_mean(prod, std::vector<std::int64_t>{-1});
}};
Tensor mean_squared_error(const Tensor& y_true, const Tensor& y_pred) {
  const Shape os = broadcast_shapes(y_true.shape(), y_pred.shape(), "mean_squared_error");
  // The kernel walks the broadcast shape, so it must be a tensor's shape (Note [Shape limits]).
  check_shape(os, itemsize(promote(y_true.dtype(), y_pred.dtype())), "mean_squared_error");
  auto [t, p] = promoted(y_true, y_pred);
  Tensor z = Tensor::empty(t.dtype(), rows_of(os));
  dispatch_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::mean_squared_error<T>(t.data<T>(), t.shape(), p.data<T>(), p.shape(), os,
                                   z.mutable_data<T>());
  });
  record(kMeanSquaredError, {t, p}, z, {t, p});
  return z;
}

// ---- mean_squared_error_grad: z = g[..., None] * c (p - t), c = 2 / D (D: the last axis of the
// broadcast shape os), mean_squared_error's backward as one pass.  dg = c * reduce_sum(gz (p - t),
// axis=-1); dp = c * gz * g[..., None]; dt = -dp; each summed to its input's shape.  Saves g, t, p.
static const OpDef kMeanSquaredErrorGrad{
    "mean_squared_error_grad", [](const Node& n, const Tensor& gz, Needs need) -> Grads {
      const Tensor &g = n.saved[0], &t = n.saved[1], &p = n.saved[2];
      const Shape& os = gz.shape();
      const Tensor c = scalar_like(gz, 2.0 / static_cast<double>(os.empty() ? 1 : os.back()));
      Tensor dg, dp;
      if (need[0]) {
        Tensor gd = multiply(gz, subtract(p, t));
        if (!os.empty()) gd = reduce_sum(gd, std::vector<std::int64_t>{-1});
        dg = sum_to_shape(multiply(gd, c), g.shape());
      }
      if (need[1] || need[2]) dp = multiply(multiply(gz, with_last_axis(g, os)), c);
      return {dg, need[1] ? sum_to_shape(negative(dp), t.shape()) : Tensor(),
              need[2] ? sum_to_shape(dp, p.shape()) : Tensor()};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return mean_squared_error_grad(in[0], in[1], in[2]); },
[](const std::vector<Tensor>& in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
  Tensor by_g, by_diff;
  if (t[0].defined()) by_g = mean_squared_error_grad(t[0], in[1], in[2]);
  if (t[1].defined() || t[2].defined())
    by_diff = mean_squared_error_grad(in[0], detail::or_zeros(t[1], in[1]), detail::or_zeros(t[2], in[2]));
  return detail::jvp_sum({by_g, by_diff}, n);
}};
Tensor mean_squared_error_grad(const Tensor& g_, const Tensor& y_true, const Tensor& y_pred) {
  const char* op = "mean_squared_error_grad";
  const Shape os = broadcast_shapes(y_true.shape(), y_pred.shape(), op);
  const Shape rows = rows_of(os);
  if (broadcast_shapes(g_.shape(), rows, op) != rows)
    throw ValueError(std::string(op) + ": g of shape " + shape_str(g_.shape()) +
                     " does not broadcast to the loss shape " + shape_str(rows));
  const DType dt = promote(g_.dtype(), promote(y_true.dtype(), y_pred.dtype()));
  check_shape(os, itemsize(dt), op);
  const Tensor g = cast(g_, dt), t = cast(y_true, dt), p = cast(y_pred, dt);
  Tensor z = Tensor::empty(dt, os);
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    kernels::mean_squared_error_grad<T>(g.data<T>(), g.shape(), t.data<T>(), t.shape(),
                                        p.data<T>(), p.shape(), os, z.mutable_data<T>());
  });
  record(kMeanSquaredErrorGrad, {g, t, p}, z, {g, t, p});
  return z;
}

}  // namespace tg
