// The tape: recording (should_record + record) and the reverse sweep.
//
// Terminology (TensorFlow's tape.h): an op has input and output tensors, all with unique ids; a
// target is what we differentiate, a source is what we differentiate with respect to.
//
// Recording: an op is recorded on each active tape that tracks one of its inputs; its output is
// then tracked too. Nodes are appended in execution order, so the node list is already a
// topological order and the sweep needs no graph search and no recursion.
//
// Sweep: (1) forward over the nodes, mark those reachable from a source; (2) backward over them,
// starting from the targets' seeds: a node runs its VJP when its output has a gradient. By the time
// the sweep reaches a node, every consumer of its output (recorded later) has contributed, so the
// gradient is complete, and a non-persistent tape frees the node and that gradient right away.
#include "tapegrad/autograd/tape.h"
#include "tapegrad/autograd/forward.h"
#include "tapegrad/autograd/trace.h"

#include <algorithm>
#include <cmath>

#include "tapegrad/errors.h"
#include "tapegrad/ops.h"
#include "scratch_lease.h"

namespace tg {

namespace detail {

Recorders& recorders() {
  thread_local Recorders r;
  return r;
}

namespace {
// Fills node with op's record (make_node's fields), reusing the capacity node already has. Without
// keep_saved the saved tensors are left out (a JVP rule never reads them).
template <class Inputs>
void fill_node(Node& node, const OpDef& op, const Inputs& inputs, const Tensor& out,
               TensorRefs saved, Attrs&& attrs, bool keep_saved = true) {
  node.op = &op;
  node.inputs.resize(inputs.size());
  std::size_t i = 0;
  for (const Tensor& in : inputs) {
    InputMeta& meta = node.inputs[i++];
    meta.id = in.id();
    meta.dtype = in.dtype();
    meta.shape.assign(in.shape().begin(), in.shape().end());
  }
  node.output = out.id();
  node.out_dtype = out.dtype();
  node.out_shape.assign(out.shape().begin(), out.shape().end());
  if (keep_saved) node.saved.assign(saved.begin(), saved.end());
  node.attrs = std::move(attrs);
}

template <class Inputs>
std::shared_ptr<Node> make_node(const OpDef& op, const Inputs& inputs, const Tensor& out,
                                TensorRefs saved, Attrs&& attrs) {
  auto node = std::make_shared<Node>();
  fill_node(*node, op, inputs, out, saved, std::move(attrs));
  return node;
}

// An op only the accumulators see (no tape records it: the VJP ops of a gradient taken inside an
// accumulator, as tg.hvp's are) gets its Node from this thread's scratch, not the heap: a JVP rule
// reads the Node only while it runs. Building a fresh Node there was about eight small allocations
// per op, a fifth of a Hessian-vector product's time.
struct JvpScratch {
  Node node;
  void release() { node.attrs = Attrs(); }
};

// The helpers below take this thread's Recorders from their caller: every call of recorders() is
// a function call and a thread-local lookup, about a tenth of a small op's forward-mode cost when
// each helper made its own.
// Whether tape records an op of these inputs: it is recording and tracks one of them.
template <class Inputs>
bool records(const Tape& tape, const Inputs& inputs) {
  if (!tape.recording()) return false;
  for (const Tensor& in : inputs)
    if (tape.tracks(in.id())) return true;
  return false;
}

template <class Inputs>
bool any_tape_records(const Recorders& r, const Inputs& inputs) {
  for (const Tape* tape : r.tapes)
    if (records(*tape, inputs)) return true;
  return false;
}

// owned: the Node when tapes keep it (an accumulator in lazy mode may keep it too), else null.
void run_accumulators(const Recorders& r, TensorList inputs, const Tensor& out, const Node& node,
                      const std::shared_ptr<const Node>& owned) {
  // By index: an accumulator's rule neither adds nor removes accumulators.
  const std::size_t n_accumulators = r.accumulators.size();
  for (std::size_t i = 0; i < n_accumulators && i < r.accumulators.size(); ++i)
    r.accumulators[i]->on_op(inputs, out, node, owned);
}

// node: built already (forward mode built it for the accumulators), else built here once, shared
// by every tape that records the op.
template <class Inputs>
void record_on_tapes(const Recorders& r, const OpDef& op, const Inputs& inputs, const Tensor& out,
                     TensorRefs saved, Attrs&& attrs, std::shared_ptr<Node> node = nullptr) {
  for (Tape* tape : r.tapes) {
    if (!records(*tape, inputs)) continue;
    if (!node) node = make_node(op, inputs, out, saved, std::move(attrs));
    tape->add_node(node);
  }
}

// The order matters: the trace sees the op before a JVP rule's ops read its output, and the tapes
// record it before those ops too (a topological order).
template <class Inputs>
void record_everywhere(const OpDef& op, const Inputs& inputs, const Tensor& out, TensorRefs saved,
                       Attrs&& attrs) {
  const Recorders& r = recorders();
  if (r.trace) r.trace->on_op(op, std::vector<Tensor>(inputs.begin(), inputs.end()), out, attrs);
  // Integer and bool results are never differentiable: the tapes and accumulators skip them, so
  // nothing downstream of one is tracked (a trace still needs them, to compute them again).
  if (!is_floating(out.dtype())) return;
  if (r.accumulators.empty()) return record_on_tapes(r, op, inputs, out, saved, std::move(attrs));
  bool forward = false;  // does an accumulator carry a tangent into this op?
  for (const ForwardAccumulator* acc : r.accumulators)
    forward = forward || acc->has_tangent_for_any(inputs);
  if (!forward) return record_on_tapes(r, op, inputs, out, saved, std::move(attrs));
  if (!any_tape_records(r, inputs)) {
    ScratchLease<JvpScratch> scratch;
    fill_node(scratch->node, op, inputs, out, saved, std::move(attrs), /*keep_saved=*/false);
    return run_accumulators(r, inputs, out, scratch->node, nullptr);
  }
  // One Node for the tapes and the JVP rules alike (a rule reads its attributes and shapes).
  const std::shared_ptr<Node> node = make_node(op, inputs, out, saved, std::move(attrs));
  record_on_tapes(r, op, inputs, out, saved, Attrs(), node);
  run_accumulators(r, inputs, out, *node, node);
}
}  // namespace

void record_slow(const OpDef& op, TensorRefs inputs, const Tensor& out, TensorRefs saved,
                 Attrs&& attrs) {
  record_everywhere(op, inputs, out, saved, std::move(attrs));
}
void record_slow(const OpDef& op, const std::vector<Tensor>& inputs, const Tensor& out,
                 TensorRefs saved, Attrs&& attrs) {
  record_everywhere(op, inputs, out, saved, std::move(attrs));
}
void record_on_tapes_only(const OpDef& op, const std::vector<Tensor>& inputs, const Tensor& out,
                          Attrs&& attrs) {
  record_on_tapes(recorders(), op, inputs, out, {}, std::move(attrs));
}
void trace_slow(const OpDef& op, TensorRefs inputs, const Tensor& out, Attrs&& attrs) {
  active_trace()->on_op(op, std::vector<Tensor>(inputs.begin(), inputs.end()), out, attrs);
}

}  // namespace detail

Tensor read_variable(const Variable& var) {
  const detail::Recorders& r = detail::recorders();
  for (Tape* tape : r.tapes)
    if (tape->recording()) tape->on_variable_read(var, var->value);
  if (r.trace) r.trace->on_variable_read(var, var->value);
  for (VariableWatcher* w : r.variable_watchers) w->on_read(var, var->value);
  for (ForwardAccumulator* a : r.accumulators) a->on_variable_read(var, var->value);
  return var->value;
}

void VariableWatcher::enter() {
  if (entered_) return;
  detail::recorders().variable_watchers.push_back(this);
  entered_ = true;
}

void VariableWatcher::exit() {
  if (!entered_) return;
  auto& watchers = detail::recorders().variable_watchers;
  watchers.erase(std::find(watchers.begin(), watchers.end(), this));
  entered_ = false;
}

void VariableWatcher::on_read(const Variable& var, const Tensor& value) {
  if (!var->trainable) return;
  for (const Variable& v : variables_)
    if (v->id == var->id) return;
  variables_.push_back(var);
  values_.push_back(value);
}

void assign_variable(const Variable& var, const Tensor& value, AssignMode mode) {
  switch (mode) {
    case AssignMode::Assign: var->assign(value); break;
    case AssignMode::Add: var->assign_add(value); break;
    case AssignMode::Subtract: var->assign_sub(value); break;
  }
  // After the write: a failed assign (a shape mismatch) leaves no instruction behind.
  if (Trace* trace = active_trace()) trace->on_assign(var, mode, value);
}

void check_finite(const Tensor& t, const std::string& what) {
  if (Trace* trace = active_trace()) trace->on_check_finite(t, what);
  dispatch_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.size(); ++i)
      if (!std::isfinite(p[i]))
        throw NonFiniteError(what + " became " + std::to_string(static_cast<double>(p[i])),
                             static_cast<double>(p[i]));
  });
}

Tape::Tape(bool persistent, bool watch_accessed_variables)
    : persistent_(persistent), watch_accessed_variables_(watch_accessed_variables) {}

Tape::~Tape() {
  if (recording_ && stack_) {
    auto it = std::find(stack_->begin(), stack_->end(), this);
    if (it != stack_->end()) stack_->erase(it);
  }
}

void Tape::enter() {
  if (recording_)
    throw ValueError(
        "Tape is still recording, This can happen if you try to re-enter an already-active tape.");
  stack_ = &detail::active_tapes();
  stack_->push_back(this);
  recording_ = true;
  paused_ = false;
}

void Tape::exit() {
  if (!recording_) return;
  auto it = std::find(stack_->begin(), stack_->end(), this);
  if (it != stack_->end()) stack_->erase(it);
  recording_ = false;
}

void Tape::pause() { paused_ = true; }
void Tape::resume() { paused_ = false; }

void Tape::add_node(const std::shared_ptr<Node>& node) {
  if (nodes_.empty()) nodes_.reserve(16);  // skips the 1, 2, 4, 8 growth of a small tape
  nodes_.push_back(node);
  tracked_.insert(node->output, 1);
}

// Only floating tensors can be watched (the binding warns about others, as TensorFlow does).
void Tape::watch(const Tensor& t) {
  if (is_floating(t.dtype())) tracked_.insert(t.id(), 1);
}

void Tape::watch(const Variable& v) {
  if (std::find(explicit_vars_.begin(), explicit_vars_.end(), v->id) != explicit_vars_.end())
    return;
  explicit_vars_.push_back(v->id);
  on_variable_read(v, v->value);
}

void Tape::on_variable_read(const Variable& var, const Tensor& value) {
  if (!is_floating(value.dtype())) return;  // an integer variable is never differentiable
  const bool watched =
      (var->trainable && watch_accessed_variables_) ||
      std::find(explicit_vars_.begin(), explicit_vars_.end(), var->id) != explicit_vars_.end();
  if (!watched) return;
  if (!var_reads_.insert(value.id(), var->id).second) return;  // this value was read before
  tracked_.insert(value.id(), 1);
  for (const Variable& w : watched_vars_)
    if (w->id == var->id) return;
  watched_vars_.push_back(var);
}

std::vector<std::pair<TensorId, Variable>> Tape::variable_reads() const {
  std::vector<std::pair<TensorId, Variable>> reads;
  var_reads_.for_each([&](std::uint64_t value_id, std::uint64_t var_id) {
    for (const Variable& v : watched_vars_)  // every variable read is in watched_vars_
      if (v->id == var_id) reads.emplace_back(value_id, v);
  });
  std::sort(reads.begin(), reads.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return reads;
}

std::vector<TensorId> Tape::watched_tensor_ids() const {
  detail::IdMap<char> made(nodes_.size());
  for (const auto& node : nodes_)
    if (node) made.insert(node->output, 1);
  std::vector<TensorId> ids;
  tracked_.for_each([&](std::uint64_t id, char) {
    if (!made.contains(id) && !var_reads_.contains(id)) ids.push_back(id);
  });
  std::sort(ids.begin(), ids.end());
  return ids;
}

void Tape::reset() {
  nodes_.clear();
  tracked_.clear();
  watched_vars_.clear();
  explicit_vars_.clear();
  var_reads_.clear();
  used_ = false;
}

void Tape::ids_of(const Endpoint& e, std::vector<TensorId>& ids) {
  ids.clear();
  if (!e.variable) {
    ids.push_back(e.tensor.id());
    return;
  }
  var_reads_.for_each([&](std::uint64_t value_id, std::uint64_t var_id) {
    if (var_id == e.variable->id) ids.push_back(value_id);
  });
  std::sort(ids.begin(), ids.end());  // a fixed order: the sum below is then deterministic
}

namespace detail {

// A vector emptied for reuse; its buffer is dropped only when far larger than needed.
template <class T>
void reuse(std::vector<T>& v, std::size_t needed) {
  if (v.capacity() > 4096 && v.capacity() > 4 * needed) std::vector<T>().swap(v);
  v.clear();
}

// What every sweep of one gradient/jacobian call shares, worked out once.
struct SweepPlan {
  std::size_t n_nodes = 0;                            // sweeps walk only the nodes recorded before
  std::vector<std::vector<TensorId>> ids_per_source;  // a variable source has one id per read
  IdMap<char> reachable;                              // 2: a source id, 1: reachable from a source
  std::vector<char> on_path;                          // per node: does it consume a reachable id?
};

// Gradients by id during one sweep (the map holds an index into values); reused across sweeps.
struct SweepGrads {
  IdMap<std::uint32_t> index;
  std::vector<Tensor> values;
  std::vector<char> needs;  // scratch for each node's Needs mask

  void reset(std::size_t expected) {
    index.reset(expected);
    reuse(values, expected);
  }
  void accumulate(TensorId id, const Tensor& g) {
    auto [slot, fresh] = index.insert(id, static_cast<std::uint32_t>(values.size()));
    if (fresh) {
      values.push_back(g);
    } else {
      Tensor& acc = values[*slot];
      acc = acc.defined() ? add(acc, g) : g;
    }
  }
};

// The buffers of a gradient call, leased per thread (scratch_lease.h).
struct SweepScratch {
  SweepPlan plan;
  SweepGrads grads;
  void release() { grads.values.clear(); }  // the gradients go now, not at the next call
};

}  // namespace detail

void Tape::check_usable() const {
  if (used_ && !persistent_)
    throw std::runtime_error(
        "GradientTape.gradient can only be called once on non-persistent tapes.");
}

void Tape::begin_sweeps() {
  check_usable();
  // A non-persistent tape stops recording here (TF pops it); a persistent one still inside its
  // `with` block records the sweep's ops on itself, which is how one tape gives higher derivatives.
  if (!persistent_) exit();
  used_ = true;
}

Tensor Tape::read_target(const Endpoint& target) {
  if (!target.variable) return target.tensor;
  on_variable_read(target.variable, target.variable->value);  // a variable target is a read
  return target.variable->value;
}

void Tape::end_sweeps() {
  if (persistent_) return;
  nodes_.clear();
  nodes_.shrink_to_fit();
  tracked_.clear();
  var_reads_.clear();
}

void Tape::plan_sweep(const std::vector<Endpoint>& sources, detail::SweepPlan& plan) {
  plan.n_nodes = nodes_.size();
  plan.reachable.reset(2 * plan.n_nodes + 2 * sources.size());
  if (plan.ids_per_source.size() > 64 && plan.ids_per_source.size() > 4 * sources.size())
    plan.ids_per_source.clear();
  plan.ids_per_source.resize(sources.size());  // keeps the inner vectors' buffers
  for (std::size_t s = 0; s < sources.size(); ++s) {
    ids_of(sources[s], plan.ids_per_source[s]);
    for (TensorId id : plan.ids_per_source[s]) plan.reachable.insert(id, 2);
  }
  detail::reuse(plan.on_path, plan.n_nodes);
  // Forward over the nodes (a topological order): which lie on a path from a source?
  plan.on_path.assign(plan.n_nodes, 0);
  for (std::size_t i = 0; i < plan.n_nodes; ++i) {
    const Node* node = nodes_[i].get();
    if (!node) continue;
    for (const InputMeta& in : node->inputs)
      if (plan.reachable.contains(in.id)) {
        plan.on_path[i] = 1;
        plan.reachable.insert(node->output, 1);
        break;
      }
  }
}

void Tape::sweep(const detail::SweepPlan& plan, detail::SweepGrads& grads, bool free_nodes) {
  // Ops the VJPs run may append nodes to this very tape (persistent, still recording): we only
  // walk the first n_nodes, and copy each node handle before using it.
  for (std::size_t i = plan.n_nodes; i-- > 0;) {
    if (!plan.on_path[i]) continue;
    const std::uint32_t* gi = grads.index.find(nodes_[i]->output);
    if (!gi || !grads.values[*gi].defined()) continue;
    std::shared_ptr<Node> node = nodes_[i];
    const Tensor g = grads.values[*gi];
    if (free_nodes) nodes_[i].reset();  // frees what it saved, unless another tape holds it
    // Each output is consumed exactly once per sweep; drop its gradient now (unless it is itself
    // a source), so the sweep's peak memory is the live frontier, not the whole graph.
    if (*plan.reachable.find(node->output) != 2) grads.values[*gi] = Tensor();
    std::vector<char>& needs = grads.needs;
    needs.assign(node->inputs.size(), 0);
    for (std::size_t j = 0; j < node->inputs.size(); ++j)
      needs[j] = plan.reachable.contains(node->inputs[j].id) ? 1 : 0;
    Grads in_grads = node->op->vjp(*node, g, Needs{needs});
    for (std::size_t j = 0; j < node->inputs.size() && j < in_grads.size(); ++j)
      if (needs[j] && in_grads[j].defined()) grads.accumulate(node->inputs[j].id, in_grads[j]);
  }
}

Tensor Tape::source_gradient(const detail::SweepPlan& plan, const detail::SweepGrads& grads,
                             std::size_t s) const {
  Tensor total;
  for (TensorId id : plan.ids_per_source[s]) {
    const std::uint32_t* gi = grads.index.find(id);
    if (!gi || !grads.values[*gi].defined()) continue;
    total = total.defined() ? add(total, grads.values[*gi]) : grads.values[*gi];
  }
  return total;
}

std::vector<Tensor> Tape::gradient(const std::vector<Endpoint>& targets,
                                   const std::vector<Endpoint>& sources,
                                   const std::vector<Tensor>& output_gradients,
                                   bool unconnected_zero) {
  check_usable();
  if (!output_gradients.empty() && output_gradients.size() != targets.size())
    throw ValueError("gradient: got " + std::to_string(output_gradients.size()) +
                     " output_gradients for " + std::to_string(targets.size()) + " targets");
  // Validate before touching any state, so a bad call leaves the tape usable.
  for (std::size_t i = 0; i < output_gradients.size(); ++i) {
    const Tensor& og = output_gradients[i];
    const Tensor& t = targets[i].variable ? targets[i].variable->value : targets[i].tensor;
    if (og.defined() && og.shape() != t.shape())
      throw ValueError("gradient: output_gradients[" + std::to_string(i) + "] has shape " +
                       shape_str(og.shape()) + " but its target has shape " + shape_str(t.shape()));
  }
  begin_sweeps();
  std::vector<Tensor> target_values;
  target_values.reserve(targets.size());
  for (const Endpoint& t : targets) target_values.push_back(read_target(t));

  detail::ScratchLease<detail::SweepScratch> scratch;
  detail::SweepPlan& plan = scratch->plan;
  plan_sweep(sources, plan);
  detail::SweepGrads& grads = scratch->grads;
  grads.reset(2 * plan.n_nodes + 2 * targets.size());
  for (std::size_t i = 0; i < target_values.size(); ++i) {
    const Tensor& t = target_values[i];
    if (!output_gradients.empty() && output_gradients[i].defined())
      grads.accumulate(t.id(), cast(output_gradients[i], t.dtype()));
    else
      grads.accumulate(t.id(), Tensor::full(t.dtype(), t.shape(), 1.0));
  }
  sweep(plan, grads, !persistent_);

  std::vector<Tensor> result;
  result.reserve(sources.size());
  for (std::size_t s = 0; s < sources.size(); ++s) {
    Tensor total = source_gradient(plan, grads, s);
    if (!total.defined() && unconnected_zero) {
      const Tensor& like = sources[s].variable ? sources[s].variable->value : sources[s].tensor;
      total = Tensor::zeros(like.dtype(), like.shape());
    }
    result.push_back(std::move(total));
  }
  end_sweeps();
  return result;
}

// ---- Jacobians ----------------------------------------------------------------------------------

namespace {
const Tensor& value_of(const Endpoint& e) { return e.variable ? e.variable->value : e.tensor; }

// A tensor of `shape` that is 0 except for 1 at the flat positions first, first + stride, ...
Tensor one_hot_seed(DType dtype, const Shape& shape, std::int64_t first, std::int64_t stride) {
  Tensor seed = Tensor::zeros(dtype, shape);
  const std::int64_t n = seed.size();
  if (dtype == DType::Float64) {
    for (std::int64_t k = first; k < n; k += stride) seed.mutable_data<double>()[k] = 1.0;
  } else {
    for (std::int64_t k = first; k < n; k += stride) seed.mutable_data<float>()[k] = 1.0f;
  }
  return seed;
}

// rows (each of the source's shape, undefined = a zero row) stacked along `axis`, then reshaped
// to `shape`: ops, so an outer tape records the assembly too.
Tensor assemble(std::vector<Tensor>& rows, const Tensor& like, std::int64_t axis,
                const Shape& shape) {
  bool any = false;
  for (const Tensor& r : rows) any = any || r.defined();
  if (!any) return Tensor();
  for (Tensor& r : rows)
    if (!r.defined()) r = Tensor::zeros(like.dtype(), like.shape());
  if (rows.size() == 1) return reshape(rows[0], shape);
  return reshape(stack(rows, axis), shape);
}
}  // namespace

template <class MakeSeed>
std::vector<std::vector<Tensor>> Tape::sweep_rows(const Tensor& target,
                                                  const std::vector<Endpoint>& sources,
                                                  std::int64_t n_rows, MakeSeed&& make_seed) {
  detail::ScratchLease<detail::SweepScratch> scratch;
  detail::SweepPlan& plan = scratch->plan;
  plan_sweep(sources, plan);
  detail::SweepGrads& grads = scratch->grads;
  std::vector<std::vector<Tensor>> rows(static_cast<std::size_t>(n_rows));
  for (std::int64_t r = 0; r < n_rows; ++r) {
    grads.reset(2 * plan.n_nodes + 2);
    grads.accumulate(target.id(), make_seed(r));
    sweep(plan, grads, !persistent_ && r + 1 == n_rows);
    auto& row = rows[static_cast<std::size_t>(r)];
    row.reserve(sources.size());
    for (std::size_t s = 0; s < sources.size(); ++s) row.push_back(source_gradient(plan, grads, s));
  }
  return rows;
}

std::vector<Tensor> Tape::jacobian(const Endpoint& target, const std::vector<Endpoint>& sources,
                                   bool unconnected_zero) {
  begin_sweeps();
  const Tensor y = read_target(target);
  const std::int64_t n = y.size();
  // An empty target still gets one (empty-seeded) sweep: it tells which sources are connected.
  auto rows = sweep_rows(y, sources, std::max<std::int64_t>(n, 1), [&](std::int64_t r) {
    return n == 0 ? Tensor::zeros(y.dtype(), y.shape()) : one_hot_seed(y.dtype(), y.shape(), r, n);
  });
  std::vector<Tensor> result;
  result.reserve(sources.size());
  for (std::size_t s = 0; s < sources.size(); ++s) {
    const Tensor& x = value_of(sources[s]);
    Shape shape = y.shape();
    shape.insert(shape.end(), x.shape().begin(), x.shape().end());
    std::vector<Tensor> column;
    column.reserve(rows.size());
    for (auto& row : rows) column.push_back(std::move(row[s]));
    // An empty target: its one sweep only said whether x is connected.
    Tensor j = n > 0                 ? assemble(column, x, 0, shape)
               : column[0].defined() ? Tensor::zeros(x.dtype(), shape)
                                     : Tensor();
    if (!j.defined() && unconnected_zero) j = Tensor::zeros(x.dtype(), shape);
    result.push_back(std::move(j));
  }
  end_sweeps();
  return result;
}

Tensor Tape::batch_jacobian(const Endpoint& target, const Endpoint& source, bool unconnected_zero) {
  const Tensor& y0 = value_of(target);
  const Tensor& x = value_of(source);
  if (y0.rank() < 2 || x.rank() < 2 || y0.shape()[0] != x.shape()[0])
    throw ValueError("batch_jacobian: Need first dimension of target shape " +
                     shape_str(y0.shape()) + " and source shape " + shape_str(x.shape()) +
                     " to match (both of rank >= 2: [batch, ...])");
  begin_sweeps();
  const Tensor y = read_target(target);
  const std::int64_t per_row = numel(Shape(y.shape().begin() + 1, y.shape().end()));
  // Sweep r seeds y[:, r] (flattened) for the whole batch at once: batch rows do not interact.
  auto rows = sweep_rows(y, {source}, std::max<std::int64_t>(per_row, 1), [&](std::int64_t r) {
    return per_row == 0 ? Tensor::zeros(y.dtype(), y.shape())
                        : one_hot_seed(y.dtype(), y.shape(), r, per_row);
  });
  Shape shape = y.shape();
  shape.insert(shape.end(), x.shape().begin() + 1, x.shape().end());
  std::vector<Tensor> column;
  column.reserve(rows.size());
  for (auto& row : rows) column.push_back(std::move(row[0]));
  Tensor j = per_row > 0           ? assemble(column, x, 1, shape)
             : column[0].defined() ? Tensor::zeros(x.dtype(), shape)
                                   : Tensor();
  if (!j.defined() && unconnected_zero) j = Tensor::zeros(x.dtype(), shape);
  end_sweeps();
  return j;
}

}  // namespace tg
