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
  // Writes new contents computed by fn(T* dst) in place when unique, else into a new buffer.
  template <class F> void update_in_place(F&& fn);
};
using Variable = std::shared_ptr<VariableImpl>;

}  // namespace tg
