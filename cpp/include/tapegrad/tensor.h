// Tensor: a cheap handle (shared_ptr) to an immutable value with a unique id.
//
// Note [Saved values never change]
// Ops never write into an input, and a Variable writes into its buffer in place only when nobody
// else holds it (see variable.h). So a tensor a tape saved keeps the value it had when it was
// recorded, whatever happens to the variable it was read from later.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "tapegrad/dtype.h"
#include "tapegrad/shape.h"

namespace tg {

using TensorId = std::uint64_t;
TensorId next_tensor_id();

// Aligned buffer of at least nbytes, freed when the last owner goes.
std::shared_ptr<void> allocate_buffer(std::size_t nbytes);

struct TensorImpl {
  TensorImpl() {}  // leaves inline_storage uninitialized: every op writes its output in full
  DType dtype = DType::Float32;
  Shape shape;
  std::int64_t size = 0;  // number of elements
  void* data = nullptr;   // contiguous, row-major
  std::shared_ptr<void>
      owner;  // keeps data alive (our buffer, another TensorImpl, or a NumPy array)
  TensorId id = 0;
  // Small values (scalars, short vectors) live inline: one allocation per tensor on the hot path.
  // (16-byte aligned: kernels use unaligned loads; heap buffers are 64-byte aligned.)
  alignas(16) unsigned char inline_storage[64];
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Uninitialized storage of the given dtype and shape (callers fill every element).
  static Tensor empty(DType dtype, Shape shape);
  static Tensor full(DType dtype, Shape shape, double value);
  static Tensor zeros(DType dtype, Shape shape) { return full(dtype, std::move(shape), 0.0); }
  static Tensor scalar(DType dtype, double value) { return full(dtype, {}, value); }
  // Zero-copy view of memory someone else owns (owner keeps it alive).
  static Tensor from_external(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner);

  bool defined() const { return impl_ != nullptr; }
  DType dtype() const { return impl_->dtype; }
  const Shape& shape() const { return impl_->shape; }
  int rank() const { return static_cast<int>(impl_->shape.size()); }
  std::int64_t size() const { return impl_->size; }
  std::size_t nbytes() const {
    return static_cast<std::size_t>(impl_->size) * itemsize(impl_->dtype);
  }
  TensorId id() const { return impl_->id; }
  const void* raw() const { return impl_->data; }
  void* raw_mutable() const { return impl_->data; }  // only for freshly made outputs
  template <class T>
  const T* data() const {
    return static_cast<const T*>(impl_->data);
  }
  template <class T>
  T* mutable_data() const {
    return static_cast<T*>(impl_->data);
  }
  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

  // Same buffer, a new identity: what stop_gradient and variable values hand out.
  Tensor with_new_id() const;
  // Same buffer and a new shape of equal size (reshape's forward).
  Tensor view_as(Shape shape) const;
  // A fresh copy of the data with a new id.
  Tensor clone() const;
  // The value of a one-element tensor as a double.
  double item() const;
  // True when this handle is the only owner of its buffer (so writing in place is invisible).
  bool buffer_unique() const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace tg
