// Helpers shared by the op family files (not part of the public API).
#pragma once
#include <initializer_list>
#include <utility>

#include "tapegrad/autograd/tape.h"
#include "tapegrad/errors.h"
#include "tapegrad/kernels.h"
#include "tapegrad/ops.h"

namespace tg::detail {

// a and b brought to one dtype with the (differentiable) cast op: float32 with float64 -> float64.
// a and b cast to their common dtype. With broadcast_op, first checks that their shapes broadcast
// (naming the op), so a failing op records no cast.
std::pair<Tensor, Tensor> promoted(const Tensor& a, const Tensor& b,
                                   const char* broadcast_op = nullptr);

// Kernel calls that allocate the output and record nothing.
Tensor unary_kernel(kernels::UnaryOp op, const Tensor& x);
// Integer and bool inputs take the wrap-around kernels of typed.cpp for the ops that keep them
// integers (add, subtract, multiply, maximum, minimum, negative, square, abs, sign); any other op
// on them is a TypeError naming it.
Tensor binary_kernel(kernels::BinaryOp op, const Tensor& a, const Tensor& b, const char* name);
// z (allocated, a's dtype, the broadcast shape) = op(a, b) for integer or bool a and b.
void int_binary_kernel(kernels::IntBinaryOp op, const Tensor& a, const Tensor& b, Tensor& z);

// A constant of x's dtype (Python numbers inside VJPs).
inline Tensor scalar_like(const Tensor& x, double v) { return Tensor::scalar(x.dtype(), v); }

// Kernel results no tape records (masks, signs, shares: their derivative is 0 a.e. or not
// needed) but a trace does, since a compiled program must compute them again at every replay.
Tensor untaped_unary(kernels::UnaryOp op, const Tensor& x);
Tensor untaped_binary(kernels::BinaryOp op, const Tensor& a, const Tensor& b);

// A JVP's result: the sum of the defined terms (undefined when none), broadcast to the output's
// shape and dtype (a binary op's terms have their input's shape).
Tensor jvp_sum(std::initializer_list<Tensor> terms, const Node& node);
// t, or zeros of x's shape and dtype when t is undefined (a tangent that is zero).
inline Tensor or_zeros(const Tensor& t, const Tensor& x) { return t.defined() ? t : zeros_like(x); }

// Gradient routing masks are constants to the tapes: they never track them.
inline Tensor mask(kernels::BinaryOp cmp, const Tensor& a, const Tensor& b) {
  return untaped_binary(cmp, a, b);
}

}  // namespace tg::detail
