// Linear algebra: matmul with optional transposes (handled by the GEMM's packing, never
// materialized) and broadcast batch dimensions.
#include <optional>
#include <string>

#include "common.h"
#include "../kernels/strided_loop.h"

namespace tg {

namespace {
Shape batch_of(const Shape& s) { return Shape(s.begin(), s.end() - 2); }

// For z = op(x) @ op(y) and z's gradient g: x's and y's gradients before any batch reduction
// (z = x @ y: g @ y^T and x^T @ g; the transposed variants by the same algebra).
Tensor matmul_grad_left(const Tensor& g, const Tensor& y, bool tx, bool ty) {
  return tx ? matmul(y, g, ty, true) : matmul(g, y, false, !ty);
}
Tensor matmul_grad_right(const Tensor& g, const Tensor& x, bool tx, bool ty) {
  return ty ? matmul(g, x, true, tx) : matmul(x, g, !tx, false);
}

// op(x1) @ op(y1) + op(x2) @ op(y2), a term absent (undefined) when its x or y is: the tangent of
// a product. One matmul_tangent op when it applies (both terms, rank 2, one dtype), else matmuls
// and an add. Undefined when both terms are absent.
Tensor sum_of_products(const Tensor& x1, const Tensor& y1, const Tensor& x2, const Tensor& y2,
                       bool tx, bool ty) {
  const bool first = x1.defined() && y1.defined(), second = x2.defined() && y2.defined();
  if (first && second && x1.rank() == 2 && y1.rank() == 2 && x2.rank() == 2 && y2.rank() == 2 &&
      x1.dtype() == y1.dtype() && x1.dtype() == x2.dtype() && x1.dtype() == y2.dtype())
    return matmul_tangent(x1, y1, x2, y2, tx, ty);
  const Tensor p1 = first ? matmul(x1, y1, tx, ty) : Tensor(),
               p2 = second ? matmul(x2, y2, tx, ty) : Tensor();
  if (!p1.defined() || !p2.defined()) return p1.defined() ? p1 : p2;
  return add(p1, p2);
}
}  // namespace

// ---- matmul: z = op(a) @ op(b).  For z = a @ b: da = g @ b^T, db = a^T @ g; the transposed
// variants follow by the same algebra; batch broadcasting is undone by sum_to_shape.  Saves a, b.
static const OpDef kMatmul{
    "matmul",
    [](const Node& n, const Tensor& g, Needs need) -> Grads {
      const Tensor &a = n.saved[0], &b = n.saved[1];
      const bool ta = n.attrs.flag_a, tb = n.attrs.flag_b;
      Tensor da, db;
      if (need[0]) da = matmul_grad_left(g, b, ta, tb);
      if (need[1]) db = matmul_grad_right(g, a, ta, tb);
      return {da.defined() ? sum_to_shape(da, a.shape()) : da,
              db.defined() ? sum_to_shape(db, b.shape()) : db};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return matmul(in[0], in[1], n.attrs.flag_a, n.attrs.flag_b);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      // The product rule da @ b + a @ db, one matmul_tangent op when both tangents are there.
      return detail::jvp_sum(
          {sum_of_products(t[0], in[1], in[0], t[1], n.attrs.flag_a, n.attrs.flag_b)}, n);
    }};
Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  // Validate the shapes before any promotion cast is recorded: a failing op records nothing.
  if (a.rank() < 2 || b.rank() < 2)
    throw ValueError("matmul: both operands need rank >= 2, got shapes " + shape_str(a.shape()) +
                     " and " + shape_str(b.shape()));
  const std::int64_t ar = a.shape()[a.rank() - 2], ac = a.shape()[a.rank() - 1];
  const std::int64_t br = b.shape()[b.rank() - 2], bc = b.shape()[b.rank() - 1];
  const std::int64_t M = ta ? ac : ar, K = ta ? ar : ac, Kb = tb ? bc : br, N = tb ? br : bc;
  if (K != Kb)
    throw ValueError("matmul: inner dimensions differ for shapes " + shape_str(a.shape()) +
                     " and " + shape_str(b.shape()) + (ta || tb ? " (with transposes)" : "") +
                     ": " + std::to_string(K) + " vs " + std::to_string(Kb));
  Shape batch;
  try {
    batch = broadcast_shapes(batch_of(a.shape()), batch_of(b.shape()), "matmul");
  } catch (const ValueError&) {
    throw ValueError("matmul: batch dimensions of shapes " + shape_str(a.shape()) + " and " +
                     shape_str(b.shape()) + " do not broadcast");
  }
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  check_shape(out_shape, itemsize(promote(a.dtype(), b.dtype())), "matmul");
  if (a.dtype() != b.dtype()) {
    auto [pa, pb] = detail::promoted(a, b);
    return matmul(pa, pb, ta, tb);
  }
  Tensor z = Tensor::empty(a.dtype(), out_shape);
  // Offsets of each batch's matrix in a and b (0 stride where that batch axis broadcasts).
  const auto a_st = kernels::broadcast_strides(batch_of(a.shape()), batch);
  const auto b_st = kernels::broadcast_strides(batch_of(b.shape()), batch);
  const std::int64_t n_batch = numel(batch);
  dispatch_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    std::vector<std::int64_t> idx(batch.size(), 0);
    for (std::int64_t i = 0; i < n_batch; ++i) {
      std::int64_t ao = 0, bo = 0;
      for (std::size_t d = 0; d < batch.size(); ++d) {
        ao += idx[d] * a_st[d];
        bo += idx[d] * b_st[d];
      }
      kernels::gemm<T>(ta, tb, M, N, K, T(1), a.data<T>() + ao * ar * ac, ac,
                       b.data<T>() + bo * br * bc, bc, T(0), z.mutable_data<T>() + i * M * N, N);
      for (std::size_t d = batch.size(); d-- > 0;) {
        if (++idx[d] < batch[d]) break;
        idx[d] = 0;
      }
    }
  });
  Attrs attrs;
  attrs.flag_a = ta;
  attrs.flag_b = tb;
  record(kMatmul, {a, b}, z, {a, b}, std::move(attrs));
  return z;
}

// ---- matmul_tangent: z = op(da) @ op(b) + op(a) @ op(db), the tangent of a @ b (product rule) as
// one op: the second GEMM accumulates into the first's output (beta = 1), with no add op and no
// second buffer. Rank 2 and one floating dtype (sum_of_products falls back otherwise). It is
// bilinear in the pairs: each input's gradient is a matmul VJP, and its JVP is the product rule
// again, by sum_of_products.  Saves its four inputs.
static const OpDef kMatmulTangent{
    "matmul_tangent",
    [](const Node& n, const Tensor& g, Needs need) -> Grads {
      const Tensor &da = n.saved[0], &b = n.saved[1], &a = n.saved[2], &db = n.saved[3];
      const bool ta = n.attrs.flag_a, tb = n.attrs.flag_b;
      return {need[0] ? matmul_grad_left(g, b, ta, tb) : Tensor(),
              need[1] ? matmul_grad_right(g, da, ta, tb) : Tensor(),
              need[2] ? matmul_grad_left(g, db, ta, tb) : Tensor(),
              need[3] ? matmul_grad_right(g, a, ta, tb) : Tensor()};
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return matmul_tangent(in[0], in[1], in[2], in[3], n.attrs.flag_a, n.attrs.flag_b);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      const bool ta = n.attrs.flag_a, tb = n.attrs.flag_b;
      return detail::jvp_sum({sum_of_products(t[0], in[1], in[0], t[1], ta, tb),
                              sum_of_products(t[2], in[3], in[2], t[3], ta, tb)},
                             n);
    }};
Tensor matmul_tangent(const Tensor& da, const Tensor& b, const Tensor& a, const Tensor& db, bool ta,
                      bool tb) {
  auto shapes = [&] {
    return shape_str(da.shape()) + " @ " + shape_str(b.shape()) + " + " + shape_str(a.shape()) +
           " @ " + shape_str(db.shape()) + (ta || tb ? " (with transposes)" : "");
  };
  if (da.rank() != 2 || b.rank() != 2 || a.rank() != 2 || db.rank() != 2)
    throw ValueError("matmul_tangent: every operand needs rank 2, got " + shapes());
  const DType dt = da.dtype();
  if (!is_floating(dt) || b.dtype() != dt || a.dtype() != dt || db.dtype() != dt)
    throw TypeError(std::string("matmul_tangent: the operands need one floating dtype, got ") +
                    dtype_name(da.dtype()) + ", " + dtype_name(b.dtype()) + ", " +
                    dtype_name(a.dtype()) + " and " + dtype_name(db.dtype()));
  auto rows = [](const Tensor& x, bool t) { return x.shape()[t ? 1 : 0]; };
  auto cols = [](const Tensor& x, bool t) { return x.shape()[t ? 0 : 1]; };
  const std::int64_t M = rows(da, ta), N = cols(b, tb), K1 = cols(da, ta), K2 = cols(a, ta);
  if (rows(b, tb) != K1 || rows(a, ta) != M || cols(db, tb) != N || rows(db, tb) != K2)
    throw ValueError("matmul_tangent: the shapes do not fit " + shapes());
  check_shape({M, N}, itemsize(dt), "matmul_tangent");
  Tensor z = Tensor::empty(dt, {M, N});
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    kernels::gemm<T>(ta, tb, M, N, K1, T(1), da.data<T>(), da.shape()[1], b.data<T>(), b.shape()[1],
                     T(0), z.mutable_data<T>(), N);
    kernels::gemm<T>(ta, tb, M, N, K2, T(1), a.data<T>(), a.shape()[1], db.data<T>(), db.shape()[1],
                     T(1), z.mutable_data<T>(), N);
  });
  Attrs attrs;
  attrs.flag_a = ta;
  attrs.flag_b = tb;
  record(kMatmulTangent, {da, b, a, db}, z, {da, b, a, db}, std::move(attrs));
  return z;
}

}  // namespace tg

namespace tg {

// ---- dense: z = act(x @ W + b), the Dense layer's forward as one GEMM whose epilogue adds the
// bias and applies relu while each tile is still in registers (kernels::gemm_bias_act). x has rank
// >= 2; its leading axes are one M axis of the GEMM (a contiguous reshape, no copy). With
// dz = relu ? relu_grad(g, z) : g (z > 0 exactly where x @ W + b > 0):
//   dx = dz @ W^T,  dW = x^T @ dz (leading axes flattened),  db = reduce_sum(dz, leading axes).
// The transposes are matmul's flags (handled by the GEMM's packing). Every step is an op, so dense
// is differentiable again; relu_grad's derivative in z is 0, as relu's second derivative is.
// Saves x, W and, for relu, z.
static const OpDef kDense{
    "dense",
    [](const Node& n, const Tensor& g, Needs need) -> Grads {
      const Tensor &x = n.saved[0], &w = n.saved[1];
      const bool relu = n.attrs.flag_a;
      const std::int64_t K = w.shape()[0], N = w.shape()[1];
      const std::int64_t M = numel(Shape(x.shape().begin(), x.shape().end() - 1));
      const Tensor dz = relu ? relu_grad(g, n.saved[2]) : g;
      const bool flat = x.rank() > 2;
      const Tensor dz2 = flat ? reshape(dz, {M, N}) : dz;
      Grads grads(n.inputs.size());
      if (need[0]) {
        const Tensor dx = matmul(dz2, w, false, true);
        grads[0] = flat ? reshape(dx, x.shape()) : dx;
      }
      if (need[1]) grads[1] = matmul(flat ? reshape(x, {M, K}) : x, dz2, true, false);
      if (n.inputs.size() > 2 && need[2]) grads[2] = reduce_sum(dz2, std::vector<std::int64_t>{0});
      return grads;
    },
    [](const std::vector<Tensor>& in, const Node& n) {
      return dense(in[0], in[1], in.size() > 2 ? std::optional<Tensor>(in[2]) : std::nullopt,
                   n.attrs.flag_a);
    },
    [](TensorList in, const std::vector<Tensor>& t, const Tensor& z, const Node& n) -> Tensor {
      const Tensor pre = detail::jvp_sum(
          {t[0].defined() ? matmul(t[0], in[1]) : Tensor(),
           t[1].defined() ? matmul(in[0], t[1]) : Tensor(), in.size() > 2 ? t[2] : Tensor()},
          n);
      return n.attrs.flag_a && pre.defined() ? relu_grad(pre, z) : pre;
    }};
Tensor dense(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b, bool relu) {
  // Validate every shape before any promotion cast is recorded: a failing op records nothing.
  auto shapes = [&] {
    return "x " + shape_str(x.shape()) + ", kernel " + shape_str(w.shape()) +
           (b ? ", bias " + shape_str(b->shape()) : std::string());
  };
  if (x.rank() < 2 || w.rank() != 2)
    throw ValueError("dense: x needs rank >= 2 and kernel rank 2, got " + shapes());
  const std::int64_t K = w.shape()[0], N = w.shape()[1];
  if (x.shape()[x.rank() - 1] != K)
    throw ValueError("dense: the last axis of x must match the kernel's first, got " + shapes());
  if (b && !(b->rank() == 1 && b->shape()[0] == N))
    throw ValueError("dense: bias must have shape (" + std::to_string(N) + ",), got " + shapes());
  // Mixed dtypes promote as matmul's do: float32 with float64 gives float64 (casts are ops).
  const bool wide = x.dtype() == DType::Float64 || w.dtype() == DType::Float64 ||
                    (b && b->dtype() == DType::Float64);
  const DType dt = wide ? DType::Float64 : x.dtype();
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  const std::int64_t M = numel(out_shape);  // the leading axes, flattened
  out_shape.push_back(N);
  check_shape(out_shape, itemsize(dt), "dense");
  if (x.dtype() != dt || w.dtype() != dt || (b && b->dtype() != dt)) {
    std::optional<Tensor> bc;
    if (b) bc = b->dtype() == dt ? *b : cast(*b, dt);
    return dense(x.dtype() == dt ? x : cast(x, dt), w.dtype() == dt ? w : cast(w, dt), bc, relu);
  }
  Tensor z = Tensor::empty(dt, out_shape);
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    kernels::gemm_bias_act<T>(false, false, M, N, K, x.data<T>(), K, w.data<T>(), N,
                              b ? b->data<T>() : nullptr, relu, z.mutable_data<T>(), N);
  });
  Attrs attrs;
  attrs.flag_a = relu;
  std::vector<Tensor> inputs{x, w};
  if (b) inputs.push_back(*b);
  if (relu)
    record(kDense, inputs, z, {x, w, z}, std::move(attrs));
  else
    record(kDense, inputs, z, {x, w}, std::move(attrs));
  return z;
}

}  // namespace tg
