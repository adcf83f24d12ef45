// Kernels: arithmetic on raw contiguous buffers. They know nothing of tensors, tapes or Python;
// ops (cpp/src/ops) validate shapes and call them. The numeric kernels are defined for float and
// double; data movement for every dtype; typed.cpp holds the kernels for integers and bools.
#pragma once
#include <cstdint>
#include <vector>

#include "tapegrad/dtype.h"
#include "tapegrad/gemm.h"
#include "tapegrad/shape.h"

namespace tg::kernels {

// ---- elementwise -----------------------------------------------------------------------------
enum class UnaryOp { Negative, Square, Sqrt, Exp, Log, Tanh, Sigmoid, Relu, Abs, Sign, Reciprocal };
template <class T>
void unary(UnaryOp op, const T* x, T* y, std::int64_t n);
template <class T>
void pow_scalar(const T* x, T p, T* y, std::int64_t n);
template <class T>
void cast(const float* x, T* y, std::int64_t n);
template <class T>
void cast(const double* x, T* y, std::int64_t n);
template <class T>
void fill(T* y, T value, std::int64_t n);

enum class BinaryOp {
  Add,
  Subtract,
  Multiply,
  Divide,
  Maximum,
  Minimum,
  Pow,
  ReluGrad,   // a * (b > 0): relu's backward, g and x
  MaxPicksA,  // 1 where maximum(a, b) is a (a >= b, or a is NaN) else 0: maximum's VJP mask
  MinPicksA,  // 1 where minimum(a, b) is a (a <= b, or a is NaN) else 0: minimum's VJP mask
  Equal,      // 1 where a == b else 0
  SameValue,  // 1 where a == b or both are NaN else 0: reduce_max's mask of the maxima
  Greater,    // 1 where a > b else 0
};
// out = op(a, b) with NumPy broadcasting of a_shape and b_shape to out_shape.
template <class T>
void binary(BinaryOp op, const T* a, const Shape& a_shape, const T* b, const Shape& b_shape, T* out,
            const Shape& out_shape);
// out = cond != 0 ? a : b, all three broadcast to out_shape.
template <class T>
void where(const T* cond, const Shape& c_shape, const T* a, const Shape& a_shape, const T* b,
           const Shape& b_shape, T* out, const Shape& out_shape);

// ---- data movement ---------------------------------------------------------------------------
template <class T>
void broadcast_to(const T* x, const Shape& x_shape, T* out, const Shape& out_shape);
template <class T>
void transpose(const T* x, const Shape& x_shape, const std::vector<std::int64_t>& perm, T* out);
// out[i...] = x[begin + i*step ...] for each axis; out_shape holds the counts.
template <class T>
void strided_slice(const T* x, const Shape& x_shape, const std::vector<std::int64_t>& begin,
                   const std::vector<std::int64_t>& step, T* out, const Shape& out_shape);
// The adjoint: out (x_shape, zero-filled first) gets g placed at the sliced positions.
template <class T>
void strided_scatter(const T* g, const Shape& g_shape, const std::vector<std::int64_t>& begin,
                     const std::vector<std::int64_t>& step, T* out, const Shape& out_shape);
// Gather along an axis: x viewed as (outer, axis_len, inner); indices already in range.
template <class T>
void gather(const T* x, std::int64_t outer, std::int64_t axis_len, std::int64_t inner,
            const std::int64_t* idx, std::int64_t n_idx, T* out);
// The adjoint: out (outer, axis_len, inner), zero-filled first, accumulates rows of g.
template <class T>
void scatter_add(const T* g, std::int64_t outer, std::int64_t axis_len, std::int64_t inner,
                 const std::int64_t* idx, std::int64_t n_idx, T* out);

// ---- reductions ------------------------------------------------------------------------------
enum class ReduceOp { Sum, Max };
// out has x_shape with reduced axes set to 1 (keepdims layout); reduce[i] says which axes reduce.
template <class T>
void reduce(ReduceOp op, const T* x, const Shape& x_shape, const std::vector<char>& reduce, T* out);

// ---- fused losses (loss.cpp) ---------------------------------------------------------------
// Keras's mean_squared_error: loss = mean((p - t)^2 over the last axis of os, the broadcast of
// t_shape and p_shape); loss has os without its last axis (a 0-d os is one value: loss = (p-t)^2).
template <class T>
void mean_squared_error(const T* t, const Shape& t_shape, const T* p, const Shape& p_shape,
                        const Shape& out_shape, T* loss);
// Its backward for y_pred in one pass: out (out_shape) = g[..., None] * (2 / D) * (p - t), where
// g_shape broadcasts to the loss's shape.
template <class T>
void mean_squared_error_grad(const T* g, const Shape& g_shape, const T* t, const Shape& t_shape,
                             const T* p, const Shape& p_shape, const Shape& out_shape, T* out);

// ---- sparse softmax cross-entropy (sparse_xent.cpp) ------------------------------------------
// loss[r] = logsumexp(x_r) - x_r[labels[r]] for rows x_r of contiguous (rows, classes) logits.
// Returns the first row whose label is outside [0, classes) (nothing written then), else -1.
// shift and log_sum (rows values each, or null) receive each row's shift and log-sum, which
// spare the backward two passes over the row.
template <class T, class I>
std::int64_t sparse_softmax_xent(const T* logits, const I* labels, std::int64_t rows,
                                 std::int64_t classes, T* loss, T* shift = nullptr,
                                 T* log_sum = nullptr);
// out_r = g[r * g_stride] * (softmax(x_r) - one_hot(labels[r])) (g_stride 0 broadcasts one
// upstream value): one pass per row given the forward's shift and log_sum, three without.
template <class T, class I>
void sparse_softmax_xent_grad(const T* g, std::int64_t g_stride, const T* logits, const I* labels,
                              std::int64_t rows, std::int64_t classes, const T* shift,
                              const T* log_sum, T* out);

// ---- optimizer updates (elementwise.cpp) -------------------------------------------------------
// Adam's (and AdamW's) update of n weights, vectorized per ISA, the same bits on every ISA:
// m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); w = w_old (- w_old * wd * lr when wd > 0)
// - a m / (sqrt(v) + eps). w may be w_old (in place); g, m, v are separate buffers.
template <class T>
void adam_update(const T* g, T* m, T* v, const T* w_old, T* w, std::int64_t n, T one_minus_b1,
                 T one_minus_b2, T a, T eps, T wd, T lr);

// ---- every dtype (typed.cpp): casts, comparisons, integer and logical arithmetic -------------
// y = x converted from `from` to `to` as NumPy's astype, except floats outside an integer type's
// range saturate and NaN becomes 0.
void cast_any(DType from, const void* x, DType to, void* y, std::int64_t n);
enum class CompareOp { Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual };
// out (bool) = a op b with NumPy broadcasting; T is any dtype.
template <class T>
void compare(CompareOp op, const T* a, const Shape& a_shape, const T* b, const Shape& b_shape,
             bool* out, const Shape& out_shape);
// Arithmetic that wraps around on int32/int64 and logic on bools (Add is or, Multiply is and).
enum class IntBinaryOp {
  Add,
  Subtract,
  Multiply,
  Maximum,
  Minimum,
  FloorDiv,
  FloorMod,
  LogicalAnd,
  LogicalOr,
  LogicalXor
};
template <class T>
void int_binary(IntBinaryOp op, const T* a, const Shape& a_shape, const T* b, const Shape& b_shape,
                T* out, const Shape& out_shape);
enum class IntUnaryOp { Negative, Abs, Square, Sign, LogicalNot };
template <class T>
void int_unary(IntUnaryOp op, const T* x, T* y, std::int64_t n);
// Reductions of integer and bool tensors into Acc (keepdims layout, as reduce()).
enum class IntReduceOp { Sum, Max, Min, Any, All };
template <class T, class Acc>
void int_reduce(IntReduceOp op, const T* x, const Shape& x_shape, const std::vector<char>& reduce,
                Acc* out);
// out[o, j] = index of the max (min) of x[o, :, j] (x viewed as (outer, axis_len, inner),
// axis_len >= 1): the first one on ties; the first NaN wins, as in NumPy.
template <class T>
void arg_reduce(bool is_max, const T* x, std::int64_t outer, std::int64_t axis_len,
                std::int64_t inner, std::int64_t* out);
// out (outer, depth, inner) = on where idx[o, j] == d else off (out-of-range indices: all off).
template <class I, class T>
void one_hot(const I* idx, std::int64_t outer, std::int64_t inner, std::int64_t depth, T on, T off,
             T* out);
// ---- classification (classification.cpp) ---------------------------------------------------
// Tensors viewed as (outer, D, inner): the softmax axis has extent D and stride inner; per-row
// values (a loss, a logsumexp, an upstream gradient) are (outer, inner). Rows are independent, so
// no result depends on the thread count.
template <class T>
void softmax(const T* x, std::int64_t outer, std::int64_t D, std::int64_t inner, T* y);
template <class T>
void log_softmax(const T* x, std::int64_t outer, std::int64_t D, std::int64_t inner, T* y);
template <class T>
void logsumexp(const T* x, std::int64_t outer, std::int64_t D, std::int64_t inner, T* out);
// dx = y * (g - sum(g * y)) along the axis (softmax's backward, given its output y).
template <class T>
void softmax_grad(const T* g, const T* y, std::int64_t outer, std::int64_t D, std::int64_t inner,
                  T* dx);
// dx = g - exp(z) * sum(g) along the axis (log_softmax's backward, given its output z).
template <class T>
void log_softmax_grad(const T* g, const T* z, std::int64_t outer, std::int64_t D,
                      std::int64_t inner, T* dx);
// loss = -sum(labels * log_softmax(logits)) along the axis.
template <class T>
void softmax_cross_entropy(const T* labels, const T* logits, std::int64_t outer, std::int64_t D,
                           std::int64_t inner, T* loss);
// dx = g * (sum(labels) * softmax(logits) - labels), g per row.
template <class T>
void softmax_cross_entropy_grad(const T* g, const T* labels, const T* logits, std::int64_t outer,
                                std::int64_t D, std::int64_t inner, T* dx);
// Elementwise: loss = max(x, 0) - x z + log1p(exp(-|x|)) for labels z, logits x.
template <class T>
void sigmoid_cross_entropy(const T* z, const T* x, std::int64_t n, T* loss);
// Elementwise: dx = g * (sigmoid(x) - z).
template <class T>
void sigmoid_cross_entropy_grad(const T* g, const T* z, const T* x, std::int64_t n, T* dx);
// out = 1 where the first maximum of a and of b along the axis sit at the same index, else 0
// (NumPy's argmax: the first of tied maxima, a NaN counts as the maximum). D > 0.
template <class T>
void argmax_equal(const T* a, const T* b, std::int64_t outer, std::int64_t D, std::int64_t inner,
                  T* out);

}  // namespace tg::kernels
