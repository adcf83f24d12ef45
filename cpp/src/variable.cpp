#include "tapegrad/variable.h"

#include <atomic>
#include <cstring>
#include <type_traits>

#include "tapegrad/errors.h"
#include "tapegrad/kernels.h"

namespace tg {

namespace {
std::uint64_t next_variable_id() {
  static std::atomic<std::uint64_t> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

void check_same_shape(const VariableImpl& var, const Tensor& v, const char* op) {
  if (v.shape() != var.value.shape())
    throw ValueError(std::string(op) + ": shape mismatch. The variable shape " +
                     shape_str(var.value.shape()) + ", and the assigned value shape " +
                     shape_str(v.shape()) + " are incompatible.");
}

// src converted to the variable's dtype, written into dst.
template <class T>
void copy_converted(const Tensor& src, T* dst) {
  if (src.dtype() == DType::Float32)
    kernels::cast<T>(src.data<float>(), dst, src.size());
  else
    kernels::cast<T>(src.data<double>(), dst, src.size());
}
}  // namespace

namespace {
// The new value of an integer or bool variable (counters, step numbers): a fresh buffer each
// time, v converted to the variable's dtype first (wrap-around arithmetic, as the integer ops).
Tensor integer_update(const Tensor& old, const Tensor& v, kernels::IntBinaryOp op, bool replace) {
  Tensor d = Tensor::empty(old.dtype(), old.shape());
  kernels::cast_any(v.dtype(), v.raw(), old.dtype(), d.raw_mutable(), v.size());
  if (replace) return d;
  if (old.dtype() == DType::Bool)
    throw TypeError("assign_add / assign_sub: not defined for a bool variable");
  Tensor out = Tensor::empty(old.dtype(), old.shape());
  dispatch_any_dtype(old.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
      kernels::int_binary<T>(op, old.data<T>(), old.shape(), d.data<T>(), d.shape(),
                             out.mutable_data<T>(), out.shape());
  });
  return out;
}
}  // namespace

VariableImpl::VariableImpl(Tensor initial, std::string name_, bool trainable_)
    : value(initial.clone()),
      name(std::move(name_)),
      trainable(trainable_),
      id(next_variable_id()) {}

void VariableImpl::assign(const Tensor& v) {
  check_same_shape(*this, v, "assign");
  if (!is_floating(value.dtype())) {
    value = integer_update(value, v, kernels::IntBinaryOp::Add, true);
    return;
  }
  update_in_place([&](const auto*, auto* dst) { copy_converted(v, dst); });
}

namespace {
template <class T>
Tensor converted(const Tensor& v) {
  if (v.dtype() == dtype_of<T>::value) return v;
  Tensor d = Tensor::empty(dtype_of<T>::value, v.shape());
  copy_converted(v, d.mutable_data<T>());
  return d;
}
}  // namespace

void VariableImpl::assign_add(const Tensor& v) {
  check_same_shape(*this, v, "assign_add");
  if (!is_floating(value.dtype())) {
    value = integer_update(value, v, kernels::IntBinaryOp::Add, false);
    return;
  }
  update_in_place([&](const auto* old, auto* dst) {
    using T = std::remove_pointer_t<decltype(dst)>;
    const Tensor d = converted<T>(v);
    kernels::binary<T>(kernels::BinaryOp::Add, old, v.shape(), d.data<T>(), v.shape(), dst,
                       v.shape());
  });
}

void VariableImpl::assign_sub(const Tensor& v) {
  check_same_shape(*this, v, "assign_sub");
  if (!is_floating(value.dtype())) {
    value = integer_update(value, v, kernels::IntBinaryOp::Subtract, false);
    return;
  }
  update_in_place([&](const auto* old, auto* dst) {
    using T = std::remove_pointer_t<decltype(dst)>;
    const Tensor d = converted<T>(v);
    kernels::binary<T>(kernels::BinaryOp::Subtract, old, v.shape(), d.data<T>(), v.shape(), dst,
                       v.shape());
  });
}

}  // namespace tg
