// GradientTape: records ops on tensors it tracks and sweeps them backwards (TensorFlow's rules,
// tested rule by rule in tests/test_tape.py). The tape itself does no arithmetic: VJPs are ops, run by the sweep.
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "tapegrad/autograd/id_map.h"
#include "tapegrad/autograd/node.h"
#include "tapegrad/autograd/program.h"
#include "tapegrad/autograd/recorders.h"
#include "tapegrad/variable.h"

namespace tg {

class Tape;

namespace detail {
struct SweepPlan;
struct SweepGrads;
// This thread's active tapes, innermost last.
inline std::vector<Tape*>& active_tapes() { return recorders().tapes; }
void record_slow(const OpDef& op,
                 std::initializer_list<std::reference_wrapper<const Tensor>> inputs,
                 const Tensor& out,
                 std::initializer_list<std::reference_wrapper<const Tensor>> saved, Attrs&& attrs);
void record_slow(const OpDef& op, const std::vector<Tensor>& inputs, const Tensor& out,
                 std::initializer_list<std::reference_wrapper<const Tensor>> saved, Attrs&& attrs);
void trace_slow(const OpDef& op, std::initializer_list<std::reference_wrapper<const Tensor>> inputs,
                const Tensor& out, Attrs&& attrs);
// record() without the trace: for an op whose forward the trace already holds as other ops.
void record_on_tapes_only(const OpDef& op, const std::vector<Tensor>& inputs, const Tensor& out,
                          Attrs&& attrs);
}  // namespace detail

using TensorRefs = std::initializer_list<std::reference_wrapper<const Tensor>>;

// Records out = op(inputs) on every active tape that tracks one of the inputs, and on the active
// trace (trace.h) if any; `saved` is what the VJP will need (inputs, output or a mask), kept only
// if some tape records the op.
inline void record(const OpDef& op, TensorRefs inputs, const Tensor& out, TensorRefs saved = {},
                   Attrs attrs = {}) {
  if (any_recorder_active()) detail::record_slow(op, inputs, out, saved, std::move(attrs));
}
inline void record(const OpDef& op, const std::vector<Tensor>& inputs, const Tensor& out,
                   TensorRefs saved = {}, Attrs attrs = {}) {
  if (any_recorder_active()) detail::record_slow(op, inputs, out, saved, std::move(attrs));
}
// Records out = op(inputs) on the active trace only: values no tape differentiates (masks,
// stop_gradient) that a compiled program must still compute.
inline void record_on_trace(const OpDef& op, TensorRefs inputs, const Tensor& out, Attrs attrs) {
  if (active_trace()) detail::trace_slow(op, inputs, out, std::move(attrs));
}

// Reading a variable: every active tape that watches it (trainable and auto-watching, or
// watched explicitly) starts tracking the value read; an active trace records the read.
Tensor read_variable(const Variable& var);
// var.assign / assign_add / assign_sub(value), recorded on an active trace.
void assign_variable(const Variable& var, const Tensor& value, AssignMode mode);
// Raises NonFiniteError when t holds a NaN or an infinity; recorded on an active trace, so a
// compiled training step stops at that point (before its update) at every replay.
void check_finite(const Tensor& t, const std::string& what);

// Collects the trainable variables read on this thread while it is active, each once with the
// value first read (TensorFlow's VariableWatcher): what tg.custom_gradient hands its grad_fn.
class VariableWatcher {
 public:
  VariableWatcher() = default;
  ~VariableWatcher() { exit(); }
  VariableWatcher(const VariableWatcher&) = delete;
  VariableWatcher& operator=(const VariableWatcher&) = delete;
  void enter();
  void exit();
  void on_read(const Variable& var, const Tensor& value);
  const std::vector<Variable>& variables() const { return variables_; }
  const std::vector<Tensor>& values() const { return values_; }

 private:
  bool entered_ = false;
  std::vector<Variable> variables_;
  std::vector<Tensor> values_;
};

// A gradient source or a target: a tensor, or a variable (all the values read from it).
struct Endpoint {
  Tensor tensor;
  Variable variable;
};

class Tape {
 public:
  Tape(bool persistent, bool watch_accessed_variables);
  ~Tape();
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  void enter();  // push on this thread's stack (ValueError if it is already recording)
  void exit();   // pop
  void pause();  // stop_recording()
  void resume();

  void watch(const Tensor& t);
  void watch(const Variable& v);

  // Gradients of sum(targets) (each weighted by its output gradient, ones when undefined) with
  // respect to each source; undefined where a source is unconnected (zeros if unconnected_zero).
  std::vector<Tensor> gradient(const std::vector<Endpoint>& targets,
                               const std::vector<Endpoint>& sources,
                               const std::vector<Tensor>& output_gradients, bool unconnected_zero);

  // d target / d source for each source, of shape target.shape + source.shape (undefined where a
  // source is unconnected, zeros if unconnected_zero). One reverse sweep per element of target,
  // seeded one-hot, over a graph walk prepared once; the sweeps run ops, so an outer tape records
  // them and the Jacobian is itself differentiable.
  std::vector<Tensor> jacobian(const Endpoint& target, const std::vector<Endpoint>& sources,
                               bool unconnected_zero);
  // For target [b, y...] and source [b, x...] whose batch rows do not interact: the Jacobian of
  // each batch row, [b, y..., x...]. One sweep per element of y (seeded across the whole batch).
  Tensor batch_jacobian(const Endpoint& target, const Endpoint& source, bool unconnected_zero);

  void reset();
  std::vector<Variable> watched_variables() const { return watched_vars_; }
  bool recording() const { return recording_ && !paused_; }
  bool persistent() const { return persistent_; }
  std::size_t num_nodes() const { return nodes_.size(); }

  // For inspection (python/tapegrad/utils.py draws a tape from these): the nodes in recording
  // order, the variable behind each value read (sorted by value id), and the ids watched by
  // watch(tensor) (tracked ids that no node made and no variable read gave, sorted).
  const std::vector<std::shared_ptr<Node>>& nodes() const { return nodes_; }
  std::vector<std::pair<TensorId, Variable>> variable_reads() const;
  std::vector<TensorId> watched_tensor_ids() const;

  // Used by record/read_variable.
  bool tracks(TensorId id) const { return tracked_.contains(id); }
  void add_node(const std::shared_ptr<Node>& node);
  void on_variable_read(const Variable& var, const Tensor& value);

 private:
  void untrack_all();
  void ids_of(const Endpoint& e, std::vector<TensorId>& ids);
  void check_usable() const;  // RuntimeError on a non-persistent tape's second call
  // The one gradient/jacobian call of a non-persistent tape (RuntimeError after it) stops its
  // recording here.
  void begin_sweeps();
  Tensor read_target(const Endpoint& target);  // a variable target is a read on this tape
  void end_sweeps();                           // a non-persistent tape drops everything it held
  void plan_sweep(const std::vector<Endpoint>& sources, detail::SweepPlan& plan);
  // One reverse sweep from the gradients already seeded in `grads`; free_nodes drops each node as
  // it is consumed (the last sweep of a non-persistent tape).
  void sweep(const detail::SweepPlan& plan, detail::SweepGrads& grads, bool free_nodes);
  // sum of the gradients of a source's ids after a sweep (undefined if none).
  Tensor source_gradient(const detail::SweepPlan& plan, const detail::SweepGrads& grads,
                         std::size_t s) const;
  // One sweep per seed made by make_seed(row) for row < n_rows: per row, per source gradients.
  template <class MakeSeed>
  std::vector<std::vector<Tensor>> sweep_rows(const Tensor& target,
                                              const std::vector<Endpoint>& sources,
                                              std::int64_t n_rows, MakeSeed&& make_seed);

  bool persistent_;
  bool watch_accessed_variables_;
  bool recording_ = false;
  bool paused_ = false;
  bool used_ = false;
  std::vector<Tape*>* stack_ = nullptr;       // the stack of the thread that entered it
  std::vector<std::shared_ptr<Node>> nodes_;  // in recording order, hence topological
  detail::IdMap<char> tracked_;               // watched ids and outputs of recorded ops
  std::vector<Variable> watched_vars_;        // in the order they were first read or watched
  std::vector<std::uint64_t> explicit_vars_;  // ids of variables watched by watch()
  detail::IdMap<std::uint64_t> var_reads_;    // value id read -> variable id
};

}  // namespace tg
