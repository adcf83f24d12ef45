// ForwardAccumulator: forward-mode autodiff (TensorFlow's tf.autodiff.ForwardAccumulator), the
// third listener beside the tapes and the trace. While it is active, every op one of whose inputs
// has a tangent gets its output's tangent from the op's JVP rule (OpDef::jvp, written with ops).
// The rule's ops are themselves ops: outer accumulators and active tapes see them, which is how
// forward and reverse mode nest in both orders (forward-over-reverse: an accumulator around a
// tape's gradient gives Hessian-vector products; reverse-over-forward: a tape around an
// accumulator differentiates a JVP). The accumulator does not feed a rule's ops back to itself,
// and tapes entered inside it do not record them either (TensorFlow's rule: a tape inside the
// accumulator differentiates the primal computation, one outside differentiates the JVP).
#pragma once
#include <cstdint>
#include <vector>

#include "tapegrad/autograd/id_map.h"
#include "tapegrad/autograd/node.h"
#include "tapegrad/variable.h"

namespace tg {

class ForwardAccumulator {
 public:
  ForwardAccumulator() = default;
  ~ForwardAccumulator();
  ForwardAccumulator(const ForwardAccumulator&) = delete;
  ForwardAccumulator& operator=(const ForwardAccumulator&) = delete;

  void enter();  // this thread's ops propagate tangents from here (innermost last)
  void exit();

  // primal's tangent is `tangent` (same shape; cast to primal's dtype). ValueError on a mismatch.
  void watch(const Tensor& primal, const Tensor& tangent);
  // Every value read from var while this accumulator is active has tangent `tangent`.
  void watch(const Variable& var, const Tensor& tangent);

  // The tangent of t (of a variable: of its current value), undefined when it has none.
  Tensor tangent_of(const Tensor& t) const;
  Tensor tangent_of(const Variable& var) const;

  // Whether one of inputs has a tangent here (before anything is built for the op).
  template <class Inputs>
  bool has_tangent_for_any(const Inputs& inputs) const {
    if (in_rule_) return false;
    for (const Tensor& t : inputs)
      if (index_.contains(t.id())) return true;
    return false;
  }

  // Hooks (tape.cpp, ops).
  // node: the op's attributes and shapes (built once for every accumulator).
  void on_op(const std::vector<Tensor>& inputs, const Tensor& out, const Node& node);
  void on_variable_read(const Variable& var, const Tensor& value);
  // out is in (same value, new id: custom_gradient's output): out's tangent is in's.
  void pass_on(const Tensor& in, const Tensor& out);

 private:
  void set(TensorId id, const Tensor& tangent);

  bool entered_ = false;
  bool in_rule_ = false;
  std::size_t tapes_at_enter_ =
      0;  // tapes active outside this accumulator (they see rules' ops)  // computing a JVP rule: its ops are not fed back to this accumulator
  detail::IdMap<std::uint32_t> index_;  // tensor id -> tangents_ slot
  std::vector<Tensor> tangents_;
  std::vector<std::pair<std::uint64_t, Tensor>> variable_tangents_;  // variable id -> tangent
};

}  // namespace tg
