// Helpers shared by the op family files (not part of the public API).
#pragma once
#include <utility>

#include "tapegrad/autograd/tape.h"
#include "tapegrad/errors.h"
#include "tapegrad/kernels.h"
#include "tapegrad/ops.h"

namespace tg::detail {

// a and b brought to one dtype with the (differentiable) cast op: float32 with float64 -> float64.
// a and b cast to their common dtype. With broadcast_op, first checks that their shapes broadcast
// (naming the op), so a failing op records no cast.
std::pair<Tensor, Tensor> promoted(const Tensor& a, const Tensor& b, const char* broadcast_op = nullptr);

// Kernel calls that allocate the output and record nothing.
Tensor unary_kernel(kernels::UnaryOp op, const Tensor& x);
Tensor binary_kernel(kernels::BinaryOp op, const Tensor& a, const Tensor& b, const char* name);

// A constant of x's dtype (Python numbers inside VJPs).
inline Tensor scalar_like(const Tensor& x, double v) { return Tensor::scalar(x.dtype(), v); }

// Gradient routing masks are constants: the tape never tracks them (their derivative is 0 a.e.).
inline Tensor mask(kernels::BinaryOp cmp, const Tensor& a, const Tensor& b) {
  return binary_kernel(cmp, a, b, "mask");
}

}  // namespace tg::detail
