// Linear algebra: matmul with optional transposes (handled by the GEMM's packing, never
// materialized) and broadcast batch dimensions.
#include "common.h"
#include "../kernels/strided_loop.h"

namespace tg {

namespace {
Shape batch_of(const Shape& s) { return Shape(s.begin(), s.end() - 2); }
}  // namespace

// ---- matmul: z = op(a) @ op(b).  For z = a @ b: da = g @ b^T, db = a^T @ g; the transposed
// variants follow by the same algebra; batch broadcasting is undone by sum_to_shape.  Saves a, b.
static const OpDef kMatmul{"matmul", [](const Node& n, const Tensor& g, Needs need) -> Grads {
  const Tensor &a = n.saved[0], &b = n.saved[1];
  const bool ta = n.attrs.flag_a, tb = n.attrs.flag_b;
  Tensor da, db;
  if (need[0]) da = ta ? matmul(b, g, tb, true) : matmul(g, b, false, !tb);
  if (need[1]) db = tb ? matmul(g, a, true, ta) : matmul(a, g, !ta, false);
  return {da.defined() ? sum_to_shape(da, a.shape()) : da, db.defined() ? sum_to_shape(db, b.shape()) : db};
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
    throw ValueError("matmul: inner dimensions differ for shapes " + shape_str(a.shape()) + " and " +
                     shape_str(b.shape()) + (ta || tb ? " (with transposes)" : "") + ": " +
                     std::to_string(K) + " vs " + std::to_string(Kb));
  Shape batch;
  try {
    batch = broadcast_shapes(batch_of(a.shape()), batch_of(b.shape()), "matmul");
  } catch (const ValueError&) {
    throw ValueError("matmul: batch dimensions of shapes " + shape_str(a.shape()) + " and " +
                     shape_str(b.shape()) + " do not broadcast");
  }
  if (a.dtype() != b.dtype()) {
    auto [pa, pb] = detail::promoted(a, b);
    return matmul(pa, pb, ta, tb);
  }
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
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
      kernels::gemm<T>(ta, tb, M, N, K, T(1), a.data<T>() + ao * ar * ac, ac, b.data<T>() + bo * br * bc,
                       bc, T(0), z.mutable_data<T>() + i * M * N, N);
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

}  // namespace tg
