// Variable: a mutable slot holding a Tensor value, with a name and a trainable flag.
// assign* write in place only when nobody else holds the buffer, otherwise they swap in a new
// buffer; either way the variable's value gets a new tensor id. See Note [Saved values never change].
#pragma once
#include <memory>
#include <string>

#include "tapegrad/tensor.h"

namespace tg {

struct VariableImpl {
  VariableImpl(Tensor initial, std::string name, bool trainable);
  Tensor value;  // current value; read through tg::read_variable so tapes can watch it
  std::string name;
  bool trainable = true;
  std::uint64_t id;  // identity for tapes (values change, the variable does not)

  void assign(const Tensor& v);
  void assign_add(const Tensor& v);
  void assign_sub(const Tensor& v);
  // Writes new contents computed by fn(const T* old, T* dst) in place when unique, else into a
  // new buffer (fn must be elementwise: dst may alias old). Defined here so fused updates outside
  // this file (optim.cpp) share the copy-on-write rule.
  template <class F>
  void update_in_place(F&& fn);
};
using Variable = std::shared_ptr<VariableImpl>;

template <class F>
void VariableImpl::update_in_place(F&& fn) {
  // See Note [Saved values never change]: write in place only when no one else can see the
  // buffer; otherwise write a new buffer and let the old value live on wherever it was saved.
  const Tensor old = value;
  value = Tensor();
  Tensor target = old.buffer_unique() ? old.with_new_id() : Tensor::empty(old.dtype(), old.shape());
  dispatch_dtype(target.dtype(), [&](auto tag) {
    using T = decltype(tag);
    fn(old.data<T>(), target.mutable_data<T>());  // elementwise: target may alias old
  });
  value = std::move(target);
}

}  // namespace tg
