#include "tapegrad/tensor.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "tapegrad/allocator.h"
#include "tapegrad/errors.h"
#include "tapegrad/kernels.h"

namespace tg {

// ---- shapes ------------------------------------------------------------------------------------

std::int64_t numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) {
    if (d < 0) throw ValueError("negative dimension in shape " + shape_str(s));
    if (mul_overflows(n, d, &n))
      throw ValueError("shape " + shape_str(s) + " has more elements than a 64-bit count holds");
  }
  return n;
}

std::int64_t check_shape(const Shape& s, std::size_t itemsize, const char* what) {
  std::int64_t bytes = static_cast<std::int64_t>(itemsize), n = 1;
  bool empty = false;
  for (auto d : s) {
    if (d < 0)
      throw ValueError(std::string(what) + ": negative dimension in shape " + shape_str(s));
    if (d == 0) {
      empty = true;
      continue;
    }
    // Both products stay below 2**63: bytes <= 2**62 and n <= bytes are checked at every step.
    if (mul_overflows(bytes, d, &bytes) || bytes > kMaxTensorBytes)
      throw ValueError(std::string(what) + ": shape " + shape_str(s) + " is too large: " +
                       std::to_string(itemsize) + "-byte elements would take more than 2**62 " +
                       "bytes, the most a tensor may hold (docs/limits.md)");
    n *= d;
  }
  return empty ? 0 : n;
}

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  if (s.size() == 1) out += ",";
  return out + ")";
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      throw ValueError(std::string(op) + ": shapes " + shape_str(a) + " and " + shape_str(b) +
                       " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int normalize_axis(std::int64_t axis, int rank, const char* op) {
  if (axis < -rank || axis >= rank)
    throw ValueError(std::string(op) + ": axis " + std::to_string(axis) +
                     " is out of bounds for a tensor of rank " + std::to_string(rank));
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

// ---- buffers and tensors -------------------------------------------------------------------------

TensorId next_tensor_id() {
  static std::atomic<TensorId> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

std::shared_ptr<void> allocate_buffer(std::size_t nbytes) { return alloc::allocate(nbytes); }

Tensor Tensor::empty(DType dtype, Shape shape) {
  const std::int64_t size = check_shape(shape, itemsize(dtype), "tensor");
  auto impl = std::make_shared<TensorImpl>();
  impl->dtype = dtype;
  impl->size = size;
  impl->shape = std::move(shape);
  impl->id = next_tensor_id();
  const std::size_t nbytes = static_cast<std::size_t>(impl->size) * itemsize(dtype);
  if (nbytes <= sizeof(impl->inline_storage)) {
    impl->data = impl->inline_storage;
  } else {
    try {
      impl->owner = allocate_buffer(nbytes);
    } catch (const std::bad_alloc&) {
      throw OutOfMemory("cannot allocate " + std::to_string(nbytes) + " bytes for a " +
                        dtype_name(dtype) + " tensor of shape " + shape_str(impl->shape));
    }
    impl->data = impl->owner.get();
  }
  return Tensor(std::move(impl));
}

Tensor Tensor::full(DType dtype, Shape shape, double value) {
  Tensor t = empty(dtype, std::move(shape));
  dispatch_any_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    kernels::fill<T>(t.mutable_data<T>(), static_cast<T>(value), t.size());
  });
  return t;
}

namespace {
// The owner of memory a tensor only borrows (from_external): holding the real owner, it marks the
// buffer as someone else's, so buffer_unique is false and no variable ever writes into it in place.
struct ForeignOwner {
  std::shared_ptr<void> owner;
  void operator()(void*) const {}
};
}  // namespace

Tensor Tensor::from_external(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner) {
  const std::int64_t size = check_shape(shape, itemsize(dtype), "tensor");
  auto impl = std::make_shared<TensorImpl>();
  impl->dtype = dtype;
  impl->size = size;
  impl->shape = std::move(shape);
  impl->data = data;
  impl->owner = std::shared_ptr<void>(data, ForeignOwner{std::move(owner)});
  impl->id = next_tensor_id();
  return Tensor(std::move(impl));
}

Tensor Tensor::with_new_id() const { return view_as(shape()); }

Tensor Tensor::view_as(Shape new_shape) const {
  const std::int64_t size = check_shape(new_shape, itemsize(dtype()), "tensor");
  if (size != this->size())
    throw ValueError("view_as: shape " + shape_str(new_shape) + " does not hold the " +
                     std::to_string(this->size()) + " elements of shape " + shape_str(shape()));
  auto impl = std::make_shared<TensorImpl>();
  impl->dtype = dtype();
  impl->size = size;
  impl->shape = std::move(new_shape);
  impl->data = impl_->data;
  // Inline data lives inside the source impl, so the view keeps that impl alive.
  impl->owner = impl_->data == impl_->inline_storage ? std::shared_ptr<void>(impl_) : impl_->owner;
  impl->id = next_tensor_id();
  return Tensor(std::move(impl));
}

Tensor Tensor::clone() const {
  Tensor t = empty(dtype(), shape());
  if (nbytes()) std::memcpy(t.raw_mutable(), raw(), nbytes());
  return t;
}

double Tensor::item() const {
  if (size() != 1)
    throw ValueError(
        "only a tensor with exactly one element converts to a Python scalar, got shape " +
        shape_str(shape()));
  return dispatch_any_dtype(dtype(),
                            [&](auto tag) { return static_cast<double>(*data<decltype(tag)>()); });
}

bool Tensor::buffer_unique() const {
  if (impl_.use_count() != 1) return false;
  if (impl_->data == impl_->inline_storage) return true;
  return impl_->owner.use_count() == 1 && !std::get_deleter<ForeignOwner>(impl_->owner);
}

}  // namespace tg
