// Kernels: arithmetic on raw contiguous buffers. They know nothing of tensors, tapes or Python;
// ops (cpp/src/ops) validate shapes and call them. Every kernel is defined for float and double.
#pragma once
#include <cstdint>
#include <vector>

#include "tapegrad/gemm.h"
#include "tapegrad/shape.h"

namespace tg::kernels {

// ---- elementwise -----------------------------------------------------------------------------
enum class UnaryOp { Negative, Square, Sqrt, Exp, Log, Tanh, Sigmoid, Relu, Abs, Sign, Reciprocal };
template <class T> void unary(UnaryOp op, const T* x, T* y, std::int64_t n);
template <class T> void pow_scalar(const T* x, T p, T* y, std::int64_t n);
template <class T> void cast(const float* x, T* y, std::int64_t n);
template <class T> void cast(const double* x, T* y, std::int64_t n);
template <class T> void fill(T* y, T value, std::int64_t n);

enum class BinaryOp {
  Add, Subtract, Multiply, Divide, Maximum, Minimum, Pow,
  ReluGrad,     // a * (b > 0): relu's backward, g and x
  MaxPicksA,    // 1 where maximum(a, b) is a (a >= b, or a is NaN) else 0: maximum's VJP mask
  MinPicksA,    // 1 where minimum(a, b) is a (a <= b, or a is NaN) else 0: minimum's VJP mask
  Equal,        // 1 where a == b else 0
  SameValue,    // 1 where a == b or both are NaN else 0: reduce_max's mask of the maxima
  Greater,      // 1 where a > b else 0
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
template <class T> void broadcast_to(const T* x, const Shape& x_shape, T* out, const Shape& out_shape);
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

}  // namespace tg::kernels
