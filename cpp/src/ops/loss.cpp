// Fused losses: one kernel pass forward and one backward, each an op with a VJP written with ops
// (so the losses are differentiable twice, like their unfused compositions).
#include <algorithm>

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
    "mean_squared_error",
    [](const Node& n, const Tensor& g, Needs need) -> Grads {
      const Tensor &t = n.saved[0], &p = n.saved[1];
      const Tensor d = mean_squared_error_grad(g, t, p);
      return {need[0] ? sum_to_shape(negative(d), t.shape()) : Tensor(),
              need[1] ? sum_to_shape(d, p.shape()) : Tensor()};
    },
    [](const std::vector<Tensor>& in, const Node& n) { return mean_squared_error(in[0], in[1]); },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
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
    "mean_squared_error_grad",
    [](const Node& n, const Tensor& gz, Needs need) -> Grads {
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
    [](const std::vector<Tensor>& in, const Node& n) {
      return mean_squared_error_grad(in[0], in[1], in[2]);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      Tensor by_g, by_diff;
      if (t[0].defined()) by_g = mean_squared_error_grad(t[0], in[1], in[2]);
      if (t[1].defined() || t[2].defined())
        by_diff = mean_squared_error_grad(in[0], detail::or_zeros(t[1], in[1]),
                                          detail::or_zeros(t[2], in[2]));
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
    kernels::mean_squared_error_grad<T>(g.data<T>(), g.shape(), t.data<T>(), t.shape(), p.data<T>(),
                                        p.shape(), os, z.mutable_data<T>());
  });
  record(kMeanSquaredErrorGrad, {g, t, p}, z, {g, t, p});
  return z;
}

}  // namespace tg

namespace tg {

namespace {
// Checks labels (int32/int64, shape S) against logits (float, shape S + (C,)); returns C.
std::int64_t check_sparse_xent(const Tensor& labels, const Tensor& logits, const char* op) {
  if (labels.dtype() != DType::Int32 && labels.dtype() != DType::Int64)
    throw TypeError(std::string(op) + ": labels must be int32 or int64, got " +
                    dtype_name(labels.dtype()));
  if (!is_floating(logits.dtype()))
    throw TypeError(std::string(op) + ": logits must be float32 or float64, got " +
                    dtype_name(logits.dtype()));
  const Shape& ls = labels.shape();
  const Shape& xs = logits.shape();
  if (xs.size() != ls.size() + 1 || !std::equal(ls.begin(), ls.end(), xs.begin()))
    throw ValueError(std::string(op) + ": logits of shape " + shape_str(xs) +
                     " must be labels' shape " + shape_str(ls) + " plus a class axis");
  return xs.back();
}

// p - one_hot(labels) as ops, p = softmax(logits): sparse_softmax_cross_entropy_grad with g = 1.
Tensor softmax_minus_labels(const Tensor& labels, const Tensor& logits) {
  return sparse_softmax_cross_entropy_grad(Tensor::full(logits.dtype(), labels.shape(), 1.0),
                                           labels, logits);
}

template <class F>
void dispatch_labels(const Tensor& labels, F&& f) {
  if (labels.dtype() == DType::Int32)
    f(labels.data<std::int32_t>());
  else
    f(labels.data<std::int64_t>());
}
}  // namespace

// ---- sparse_softmax_cross_entropy_with_logits: loss = logsumexp(x) - x[label] per row of the
// logits x (shape S + (C,)) with integer labels (shape S), fused and stable for any logits.
// dlogits = sparse_softmax_cross_entropy_grad(g, labels, x) = g[..., None] (softmax(x) -
// one_hot(labels)); labels get no gradient.  Saves labels, x and each row's shift and log-sum
// (what the backward would compute again: it then makes one pass over the logits, not three).
static const OpDef kSparseSoftmaxXent{
    "sparse_softmax_cross_entropy_with_logits",
    [](const Node& n, const Tensor& g, Needs need) -> Grads {
      return {Tensor(), need[1] ? sparse_softmax_cross_entropy_grad(g, n.saved[0], n.saved[1],
                                                                    n.saved[2], n.saved[3])
                                : Tensor()};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return sparse_softmax_cross_entropy_with_logits(in[0], in[1]);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      if (!t[1].defined()) return Tensor();
      return reduce_sum(multiply(softmax_minus_labels(in[0], in[1]), t[1]),
                        std::vector<std::int64_t>{-1});
    }};
Tensor sparse_softmax_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits) {
  const char* op = "sparse_softmax_cross_entropy_with_logits";
  const std::int64_t classes = check_sparse_xent(labels, logits, op);
  Tensor z = Tensor::empty(logits.dtype(), labels.shape());
  // Kept for the backward only when a tape may run it (a trace replays the backward op, which
  // computes them itself).
  const bool keep_stats = !detail::active_tapes().empty();
  Tensor shift, log_sum;
  if (keep_stats) {
    shift = Tensor::empty(logits.dtype(), labels.shape());
    log_sum = Tensor::empty(logits.dtype(), labels.shape());
  }
  std::int64_t bad = -1;
  dispatch_dtype(logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    dispatch_labels(labels, [&](const auto* l) {
      bad = kernels::sparse_softmax_xent<T>(logits.data<T>(), l, labels.size(), classes,
                                            z.mutable_data<T>(),
                                            keep_stats ? shift.mutable_data<T>() : nullptr,
                                            keep_stats ? log_sum.mutable_data<T>() : nullptr);
    });
  });
  if (bad >= 0) {
    const std::int64_t value = labels.dtype() == DType::Int32 ? labels.data<std::int32_t>()[bad]
                                                              : labels.data<std::int64_t>()[bad];
    throw ValueError(std::string(op) + ": label " + std::to_string(value) + " at flat index " +
                     std::to_string(bad) + " is outside [0, " + std::to_string(classes) + ")");
  }
  record(kSparseSoftmaxXent, {labels, logits}, z, {labels, logits, shift, log_sum});
  return z;
}

// ---- sparse_softmax_cross_entropy_grad: z = g[..., None] (p - y), p = softmax(x), y =
// one_hot(labels): the backward above as one pass, an op itself so second derivatives work.
// dg = reduce_sum(gz (p - y), -1); dx = p (gz g[..., None] - reduce_sum(gz g[..., None] p, -1)),
// with p - y from this op with g = 1 (so the VJP is differentiable again).  Saves g, labels, x.
static const OpDef kSparseSoftmaxXentGrad{
    "sparse_softmax_cross_entropy_grad",
    [](const Node& n, const Tensor& gz, Needs need) -> Grads {
      const Tensor &g = n.saved[0], &labels = n.saved[1], &x = n.saved[2];
      const Tensor p_minus_y = softmax_minus_labels(labels, x);
      Tensor dg, dx;
      if (need[0]) dg = reduce_sum(multiply(gz, p_minus_y), std::vector<std::int64_t>{-1});
      if (need[2]) {
        const Tensor y = one_hot(labels, x.shape().back(), Tensor::scalar(x.dtype(), 1.0),
                                 Tensor::scalar(x.dtype(), 0.0));
        const Tensor p = add(p_minus_y, y);
        Shape gs = g.shape();
        gs.push_back(1);
        const Tensor u = multiply(gz, reshape(g, gs));
        dx = multiply(p,
                      subtract(u, reduce_sum(multiply(u, p), std::vector<std::int64_t>{-1}, true)));
      }
      return {dg, Tensor(), dx};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return sparse_softmax_cross_entropy_grad(in[0], in[1], in[2]);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      const Tensor &g = in[0], &labels = in[1], &x = in[2];
      Shape gs = g.shape();
      gs.push_back(1);
      const Tensor p_minus_y = softmax_minus_labels(labels, x);
      Tensor dz;
      if (t[0].defined()) dz = multiply(reshape(t[0], gs), p_minus_y);
      if (t[2].defined()) {
        const Tensor y = one_hot(labels, x.shape().back(), Tensor::scalar(x.dtype(), 1.0),
                                 Tensor::scalar(x.dtype(), 0.0));
        const Tensor p = add(p_minus_y, y);
        const Tensor pt = multiply(p, t[2]);
        const Tensor term = multiply(
            reshape(g, gs),
            subtract(pt, multiply(p, reduce_sum(pt, std::vector<std::int64_t>{-1}, true))));
        dz = dz.defined() ? add(dz, term) : term;
      }
      return dz;
    }};
Tensor sparse_softmax_cross_entropy_grad(const Tensor& g_, const Tensor& labels,
                                         const Tensor& logits, const Tensor& shift,
                                         const Tensor& log_sum) {
  const std::int64_t classes =
      check_sparse_xent(labels, logits, "sparse_softmax_cross_entropy_grad");
  Tensor g = g_.dtype() == logits.dtype() ? g_ : cast(g_, logits.dtype());
  if (g.shape() != labels.shape()) g = broadcast_to(g, labels.shape());
  Tensor z = Tensor::empty(logits.dtype(), logits.shape());
  dispatch_dtype(logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    dispatch_labels(labels, [&](const auto* l) {
      const bool given = shift.defined() && log_sum.defined();
      kernels::sparse_softmax_xent_grad<T>(g.data<T>(), 1, logits.data<T>(), l, labels.size(),
                                           classes, given ? shift.data<T>() : nullptr,
                                           given ? log_sum.data<T>() : nullptr,
                                           z.mutable_data<T>());
    });
  });
  record(kSparseSoftmaxXentGrad, {g, labels, logits}, z, {g, labels, logits});
  return z;
}

}  // namespace tg
