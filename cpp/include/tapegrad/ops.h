// The differentiable ops. Each is one block in its family file under cpp/src/ops/ (forward,
// VJP written with these same ops, what it saves) plus one binding line and one op_table row.
// Binary ops broadcast like NumPy and promote dtypes as NumPy does (dtype.h).
#pragma once
#include <memory>
#include <optional>
#include <vector>

#include "tapegrad/tensor.h"

namespace tg {

using Axes = std::optional<std::vector<std::int64_t>>;  // nullopt: every axis

// ---- elementwise (elementwise.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor subtract(const Tensor& a, const Tensor& b);
Tensor multiply(const Tensor& a, const Tensor& b);
Tensor divide(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow_scalar(const Tensor& x, double p);
Tensor negative(const Tensor& x);
Tensor square(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor relu_grad(const Tensor& g, const Tensor& x);  // g * (x > 0): relu's backward, an op itself
Tensor abs(const Tensor& x);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);  // cond != 0 picks a
Tensor cast(const Tensor& x, DType dtype);
Tensor stop_gradient(const Tensor& x);

// ---- reductions (reduce.cpp) ----
Tensor reduce_sum(const Tensor& x, const Axes& axes = std::nullopt, bool keepdims = false);
Tensor reduce_mean(const Tensor& x, const Axes& axes = std::nullopt, bool keepdims = false);
Tensor reduce_max(const Tensor& x, const Axes& axes = std::nullopt, bool keepdims = false);
// Logical or / and over axes of a bool tensor.
Tensor reduce_any(const Tensor& x, const Axes& axes = std::nullopt, bool keepdims = false);
Tensor reduce_all(const Tensor& x, const Axes& axes = std::nullopt, bool keepdims = false);
Tensor broadcast_to(const Tensor& x, const Shape& shape);
// Sums g over the axes along which `shape` was broadcast to g's shape: every broadcasting VJP
// ends with this one helper.
Tensor sum_to_shape(const Tensor& g, const Shape& shape);

// ---- fused losses (loss.cpp) ----
// Keras's losses.mean_squared_error: mean((y_pred - y_true)^2) over the last axis of the
// broadcast shape (one value per sample; a 0-d broadcast gives the one squared error).
Tensor mean_squared_error(const Tensor& y_true, const Tensor& y_pred);
// Its backward for y_pred as one pass: g[..., None] * 2 (y_pred - y_true) / D, an op itself.
Tensor mean_squared_error_grad(const Tensor& g, const Tensor& y_true, const Tensor& y_pred);
// TensorFlow's nn.sparse_softmax_cross_entropy_with_logits: per row of logits (labels' shape plus
// a class axis), logsumexp(row) - row[label], fused and stable; labels int32/int64 in [0, C).
Tensor sparse_softmax_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits);
// Its backward as one pass: g[..., None] * (softmax(logits) - one_hot(labels)), an op itself.
// shift and log_sum (labels' shape; the forward's, saved on its node) spare it two passes over
// each row; they are not inputs of the op (without them it computes the same values itself).
Tensor sparse_softmax_cross_entropy_grad(const Tensor& g, const Tensor& labels,
                                         const Tensor& logits, const Tensor& shift = Tensor(),
                                         const Tensor& log_sum = Tensor());

// ---- classification (classification.cpp) ----
// The softmax family along one axis of a tensor of rank >= 1; each backward is an op itself.
Tensor softmax(const Tensor& logits, std::int64_t axis = -1);
Tensor softmax_grad(const Tensor& g, const Tensor& y, std::int64_t axis = -1);  // y (g - sum(g y))
Tensor log_softmax(const Tensor& logits, std::int64_t axis = -1);
Tensor log_softmax_grad(const Tensor& g, const Tensor& z,
                        std::int64_t axis = -1);  // g - e^z sum(g)
// log(sum(exp(x))) over axes (all by default), shifted by the maximum: -inf over no elements.
Tensor reduce_logsumexp(const Tensor& x, const Axes& axes = std::nullopt, bool keepdims = false);
Tensor reduce_min(const Tensor& x, const Axes& axes = std::nullopt, bool keepdims = false);
// min(max(t, lo), hi); lo and hi broadcast to t's shape.
Tensor clip_by_value(const Tensor& t, const Tensor& lo, const Tensor& hi);
// -sum(labels * log_softmax(logits)) along axis: one loss per example (labels of logits' shape).
Tensor softmax_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits,
                                         std::int64_t axis = -1);
// Its backward for the logits in one pass: g[..., None] * (sum(labels) softmax(logits) - labels).
Tensor softmax_cross_entropy_with_logits_grad(const Tensor& g, const Tensor& labels,
                                              const Tensor& logits, std::int64_t axis = -1);
// max(x, 0) - x z + log1p(exp(-|x|)) elementwise, labels z and logits x of one shape.
Tensor sigmoid_cross_entropy_with_logits(const Tensor& labels, const Tensor& logits);
// Its backward for the logits in one pass: g * (sigmoid(logits) - labels).
Tensor sigmoid_cross_entropy_with_logits_grad(const Tensor& g, const Tensor& labels,
                                              const Tensor& logits);
// 1 where argmax(a) == argmax(b) along axis, else 0 (first of tied maxima): no gradient.
Tensor argmax_equal(const Tensor& a, const Tensor& b, std::int64_t axis = -1);

// ---- linear algebra (linalg.cpp) ----
// op(a) @ op(b) for rank >= 2, batch dimensions broadcast; op = transpose of the last two axes.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
// op(da) @ op(b) + op(a) @ op(db) in one op (matmul's tangent): rank 2, one floating dtype.
Tensor matmul_tangent(const Tensor& da, const Tensor& b, const Tensor& a, const Tensor& db,
                      bool transpose_a = false, bool transpose_b = false);
// act(x @ kernel + bias) in one GEMM pass (bias and relu in the epilogue); x has rank >= 2 and its
// leading axes are flattened into the GEMM's rows; kernel is (K, N), bias (N,) or absent.
Tensor dense(const Tensor& x, const Tensor& kernel, const std::optional<Tensor>& bias, bool relu);

// ---- shape (shape.cpp) ----
Tensor reshape(const Tensor& x, const Shape& shape);  // one -1 allowed
Tensor transpose(const Tensor& x,
                 const std::optional<std::vector<std::int64_t>>& perm = std::nullopt);
Tensor concat(const std::vector<Tensor>& values, std::int64_t axis);
Tensor stack(const std::vector<Tensor>& values, std::int64_t axis);
// x[begin[i] + k*step[i] for k < count[i]] on every axis (steps may be negative, never 0).
Tensor strided_slice(const Tensor& x, const std::vector<std::int64_t>& begin,
                     const std::vector<std::int64_t>& step, const Shape& count);
// The adjoint of strided_slice: g placed into zeros of `shape`.
Tensor slice_grad(const Tensor& g, const Shape& shape, const std::vector<std::int64_t>& begin,
                  const std::vector<std::int64_t>& step);
// x indexed along `axis` by integer indices (negative ones wrap); the result has index_shape in
// place of that axis.
Tensor gather(const Tensor& x, const std::vector<std::int64_t>& indices, const Shape& index_shape,
              std::int64_t axis);
// The adjoint of gather: rows of g added into zeros whose `axis` has extent axis_len.
Tensor scatter_add(const Tensor& g, const std::vector<std::int64_t>& indices,
                   const Shape& index_shape, std::int64_t axis, std::int64_t axis_len);

// ---- integer and bool results (compare.cpp): never differentiable ----
// Comparisons give bool tensors (NumPy broadcasting and promotion).
Tensor equal(const Tensor& a, const Tensor& b);
Tensor not_equal(const Tensor& a, const Tensor& b);
Tensor less(const Tensor& a, const Tensor& b);
Tensor less_equal(const Tensor& a, const Tensor& b);
Tensor greater(const Tensor& a, const Tensor& b);
Tensor greater_equal(const Tensor& a, const Tensor& b);
Tensor logical_and(const Tensor& a, const Tensor& b);  // bool tensors only
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& x);
Tensor floor_div(const Tensor& a, const Tensor& b);  // integer tensors: Python's // and %
Tensor floor_mod(const Tensor& a, const Tensor& b);
Tensor argmax(const Tensor& x, std::int64_t axis, DType output_type = DType::Int64);
Tensor argmin(const Tensor& x, std::int64_t axis, DType output_type = DType::Int64);
// A new axis of extent depth at `axis` (-1: last) holding on where indices == d, else off; on and
// off are 0-d tensors of the result's dtype.
Tensor one_hot(const Tensor& indices, std::int64_t depth, const Tensor& on, const Tensor& off,
               std::int64_t axis = -1);
// ---- supplied gradients (custom.cpp) ----
struct CustomVjp;
// y under a new id that the tapes record as an op of `inputs` with `vjp` as its VJP
// (tg.custom_gradient). One call per output of the custom function.
Tensor custom_gradient(const std::vector<Tensor>& inputs, const Tensor& y,
                       std::shared_ptr<const CustomVjp> vjp);

// ---- makers (never recorded) ----
Tensor ones_like(const Tensor& x);
Tensor zeros_like(const Tensor& x);

}  // namespace tg
