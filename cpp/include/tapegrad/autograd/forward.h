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
#include <memory>
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

  // The tangent of t (of a variable: of its current value), undefined when it has none. A
  // deferred tangent (lazy mode) is computed here, with the deferred ones it needs.
  Tensor tangent_of(const Tensor& t);
  Tensor tangent_of(const Variable& var);

  // Lazy mode (tg.hvp's forward pass, cpp/bindings/forward.cpp): an op's tangent is worked out
  // only when something asks for it (tangent_of, or the rule of a later op), so a tangent nothing
  // reads is never computed: in a Hessian-vector product the loss's own tangent and those of the
  // ops between the last activation and the loss. Only ops whose Node a tape keeps are deferred
  // (the Node must outlive the op); the rule then runs later, with the tapes of that moment
  // active, which for tg.hvp are the same outer tapes. Off by default.
  void set_lazy(bool lazy) { lazy_ = lazy; }

  // Whether one of inputs has a tangent here (before anything is built for the op).
  bool has_tangent_for_any(TensorList inputs) const {
    if (in_rule_) return false;
    for (std::size_t i = 0; i < inputs.size(); ++i)
      if (index_.contains(inputs[i].id())) return true;
    return false;
  }

  // Hooks (tape.cpp, ops).
  // node: the op's attributes and shapes (built once for every accumulator); owned: the same
  // Node when a tape keeps it (null when it is scratch that dies with the call).
  void on_op(TensorList inputs, const Tensor& out, const Node& node,
             const std::shared_ptr<const Node>& owned);
  void on_variable_read(const Variable& var, const Tensor& value);
  // out is in (same value, new id: custom_gradient's output): out's tangent is in's.
  void pass_on(const Tensor& in, const Tensor& out);

 private:
  // An op whose tangent lazy mode deferred: what its rule needs.
  struct Deferred {
    std::shared_ptr<const Node> node;
    std::vector<Tensor> inputs;
    Tensor out;
  };
  struct Entry {
    Tensor tangent;
    std::int64_t deferred = -1;  // index into deferred_ until computed
  };

  void set(TensorId id, const Tensor& tangent);
  void resolve(std::int64_t first);  // computes deferred_[first] and what it depends on
  // Appends each input's tangent (computing deferred ones) to tangents; whether any is defined.
  bool input_tangents(TensorList inputs, std::vector<Tensor>& tangents);
  // The rule of node's op, with this accumulator's ops not fed back to it and inner tapes paused.
  Tensor apply_rule(TensorList inputs, const std::vector<Tensor>& tangents, const Tensor& out,
                    const Node& node);

  bool entered_ = false;
  bool in_rule_ = false;  // computing a JVP rule: its ops are not fed back to this accumulator
  bool lazy_ = false;
  std::size_t tapes_at_enter_ = 0;  // tapes active outside this accumulator (they see rules' ops)
  detail::IdMap<std::uint32_t> index_;  // tensor id -> entries_ slot
  std::vector<Entry> entries_;
  std::vector<Deferred> deferred_;
  std::vector<std::pair<std::uint64_t, Tensor>> variable_tangents_;  // variable id -> tangent
};

}  // namespace tg
