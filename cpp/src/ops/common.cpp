#include "common.h"

namespace tg::detail {

std::pair<Tensor, Tensor> promoted(const Tensor& a, const Tensor& b, const char* broadcast_op) {
  if (a.dtype() == b.dtype()) return {a, b};
  // Check the shapes before the casts are recorded: a failing op must leave no node behind.
  if (broadcast_op) broadcast_shapes(a.shape(), b.shape(), broadcast_op);
  const DType d = promote(a.dtype(), b.dtype());
  return {cast(a, d), cast(b, d)};
}

Tensor unary_kernel(kernels::UnaryOp op, const Tensor& x) {
  Tensor y = Tensor::empty(x.dtype(), x.shape());
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::unary<T>(op, x.data<T>(), y.mutable_data<T>(), x.size());
  });
  return y;
}

Tensor binary_kernel(kernels::BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  if (a.dtype() != b.dtype())
    throw TypeError(std::string(name) + ": dtypes " + dtype_name(a.dtype()) + " and " +
                    dtype_name(b.dtype()) + " differ");
  Shape out_shape = a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), name);
  Tensor z = Tensor::empty(a.dtype(), std::move(out_shape));
  dispatch_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::binary<T>(op, a.data<T>(), a.shape(), b.data<T>(), b.shape(), z.mutable_data<T>(),
                       z.shape());
  });
  return z;
}

}  // namespace tg::detail
