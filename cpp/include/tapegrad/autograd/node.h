// A recorded op: plain data (an OpDef pointer, attributes, saved tensors, input/output ids), so a
// tape can be inspected, freed piece by piece, and swept iteratively. No closures.
#pragma once
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <vector>

#include "tapegrad/tensor.h"

namespace tg {

struct Node;
using Grads = std::vector<Tensor>;  // one per input; an undefined Tensor means "no gradient"

// What the sweep asks of a VJP: which inputs need a gradient at all.
struct Needs {
  const std::vector<char>& mask;
  bool operator[](std::size_t i) const { return i < mask.size() && mask[i]; }
};

// vjp(node, g, needs): gradients of the inputs given g, the gradient of the output. Written with
// differentiable ops (never raw kernels), so an outer tape records it: that is what makes nested
// tapes give higher derivatives.
using VjpFn = Grads (*)(const Node& node, const Tensor& g, Needs needs);

// compute(inputs, node): the op's forward again, from what its record call kept (the inputs in
// order, the attributes, the output's shape and dtype). A compiled program replays an op by this
// call (see autograd/program.h); it calls the op's public function, so a replay under an active
// tape is recorded like eager code.
using ComputeFn = Tensor (*)(const std::vector<Tensor>& inputs, const Node& node);

// The inputs of a recorded op as its JVP rule reads them: a view of the op's own argument list (the
// braced list an op passes to record, or a vector), so forward mode hands them to the rule without
// copying a Tensor (each copy is two atomic reference-count updates, a third of a scalar JVP's
// bookkeeping). Valid while the call that made it runs.
class TensorList {
 public:
  TensorList(const std::vector<Tensor>& tensors)  // NOLINT: implicit, as the vector it views
      : tensors_(tensors.data()), size_(tensors.size()) {}
  TensorList(const std::initializer_list<std::reference_wrapper<const Tensor>>& refs)  // NOLINT
      : refs_(std::data(refs)), size_(refs.size()) {}
  std::size_t size() const { return size_; }
  const Tensor& operator[](std::size_t i) const { return refs_ ? refs_[i].get() : tensors_[i]; }
  std::vector<Tensor> to_vector() const {
    std::vector<Tensor> out;
    out.reserve(size_);
    for (std::size_t i = 0; i < size_; ++i) out.push_back((*this)[i]);
    return out;
  }

 private:
  const Tensor* tensors_ = nullptr;
  const std::reference_wrapper<const Tensor>* refs_ = nullptr;
  std::size_t size_ = 0;
};

// jvp(inputs, tangents, out, node): the output's tangent (forward mode) given the inputs, one
// tangent per input (an undefined Tensor means zero; at least one is defined) and the output.
// Written with differentiable ops like the VJP, so an outer tape or accumulator differentiates
// it again. Returns an undefined Tensor when the output's tangent is zero (a mask, a constant).
// The output tangent has the output's shape and dtype. node holds the attributes and shapes;
// node.saved is empty when no tape keeps the op (forward mode then builds the Node without it),
// so a rule reads its inputs and output, never what the VJP saved.
using JvpFn = Tensor (*)(TensorList inputs, const std::vector<Tensor>& tangents, const Tensor& out,
                         const Node& node);

struct OpDef {
  const char* name;
  VjpFn vjp;
  ComputeFn compute;
  JvpFn jvp = nullptr;
  // A stateful op (a random draw) gives a new value at every call: a trace never folds it into a
  // constant nor merges two of its calls, so a compiled program draws again at every replay.
  bool stateful = false;
};

// A VJP supplied at run time (tg.custom_gradient): the bindings implement it around a Python
// callable, so the core calls it without knowing any Python. See custom_gradient in ops.h.
struct CustomVjp {
  virtual ~CustomVjp() = default;
  virtual Grads vjp(const Node& node, const Tensor& g, Needs needs) const = 0;
};

// Per-op attributes; each op uses the fields it needs.
struct RandomStream;  // tapegrad/random.h

struct Attrs {
  std::vector<std::int64_t> ints;           // axes, permutation, slice begins, gather indices, ...
  std::vector<std::int64_t> ints2;          // slice steps, index shape, ...
  Shape shape;                              // a target shape (reshape, broadcast_to, slice_grad)
  double scalar = 0.0;                      // pow_scalar's exponent, ...
  bool flag_a = false;                      // transpose_a, keepdims, ...
  bool flag_b = false;                      // transpose_b, ...
  std::shared_ptr<const CustomVjp> custom;  // custom_gradient's VJP
  std::shared_ptr<RandomStream> stream;     // a random op's stream (dropout_mask)
};

struct InputMeta {
  TensorId id;
  DType dtype;
  Shape shape;
};

struct Node {
  const OpDef* op = nullptr;
  std::vector<InputMeta> inputs;
  TensorId output = 0;
  DType out_dtype = DType::Float32;
  Shape out_shape;
  std::vector<Tensor> saved;  // exactly what the op's record call named, nothing else
  Attrs attrs;

  const Shape& input_shape(std::size_t i) const { return inputs[i].shape; }
};

}  // namespace tg
