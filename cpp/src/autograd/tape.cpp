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

#include <algorithm>

#include "tapegrad/errors.h"
#include "tapegrad/ops.h"

namespace tg {

namespace detail {

std::vector<Tape*>& active_tapes() {
  thread_local std::vector<Tape*> tapes;
  return tapes;
}

namespace {
template <class Inputs>
void record_on_tapes(const OpDef& op, const Inputs& inputs, const Tensor& out, TensorRefs saved,
                     Attrs&& attrs) {
  std::shared_ptr<Node> node;  // built once, shared by every tape that records the op
  for (Tape* tape : active_tapes()) {
    if (!tape->recording()) continue;
    bool tracked = false;
    for (const Tensor& in : inputs) tracked = tracked || tape->tracks(in.id());
    if (!tracked) continue;
    if (!node) {
      node = std::make_shared<Node>();
      node->op = &op;
      node->inputs.reserve(inputs.size());
      for (const Tensor& in : inputs) node->inputs.push_back({in.id(), in.dtype(), in.shape()});
      node->output = out.id();
      node->out_dtype = out.dtype();
      node->out_shape = out.shape();
      node->saved.reserve(saved.size());
      for (const Tensor& s : saved) node->saved.push_back(s);
      node->attrs = std::move(attrs);
    }
    tape->add_node(node);
  }
}
}  // namespace

void record_slow(const OpDef& op, TensorRefs inputs, const Tensor& out, TensorRefs saved,
                 Attrs&& attrs) {
  record_on_tapes(op, inputs, out, saved, std::move(attrs));
}
void record_slow(const OpDef& op, const std::vector<Tensor>& inputs, const Tensor& out,
                 TensorRefs saved, Attrs&& attrs) {
  record_on_tapes(op, inputs, out, saved, std::move(attrs));
}

}  // namespace detail

Tensor read_variable(const Variable& var) {
  for (Tape* tape : detail::active_tapes())
    if (tape->recording()) tape->on_variable_read(var, var->value);
  return var->value;
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
  nodes_.push_back(node);
  tracked_.insert(node->output, 1);
}

void Tape::watch(const Tensor& t) { tracked_.insert(t.id(), 1); }

void Tape::watch(const Variable& v) {
  if (std::find(explicit_vars_.begin(), explicit_vars_.end(), v->id) != explicit_vars_.end()) return;
  explicit_vars_.push_back(v->id);
  on_variable_read(v, v->value);
}

void Tape::on_variable_read(const Variable& var, const Tensor& value) {
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

void Tape::reset() {
  nodes_.clear();
  tracked_.clear();
  watched_vars_.clear();
  explicit_vars_.clear();
  var_reads_.clear();
  used_ = false;
}

std::vector<TensorId> Tape::ids_of(const Endpoint& e) {
  if (!e.variable) return {e.tensor.id()};
  std::vector<TensorId> ids;
  var_reads_.for_each([&](std::uint64_t value_id, std::uint64_t var_id) {
    if (var_id == e.variable->id) ids.push_back(value_id);
  });
  std::sort(ids.begin(), ids.end());  // a fixed order: the sum below is then deterministic
  return ids;
}

std::vector<Tensor> Tape::gradient(const std::vector<Endpoint>& targets,
                                   const std::vector<Endpoint>& sources,
                                   const std::vector<Tensor>& output_gradients,
                                   bool unconnected_zero) {
  if (used_ && !persistent_)
    throw std::runtime_error("GradientTape.gradient can only be called once on non-persistent tapes.");
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
  // A non-persistent tape stops recording here (TF pops it); a persistent one still inside its
  // `with` block records the sweep's ops on itself, which is how one tape gives higher derivatives.
  if (!persistent_) exit();
  used_ = true;

  // Target values: a variable target is a read of the variable on this tape.
  std::vector<Tensor> target_values;
  target_values.reserve(targets.size());
  for (const Endpoint& t : targets) {
    if (t.variable) on_variable_read(t.variable, t.variable->value);
    target_values.push_back(t.variable ? t.variable->value : t.tensor);
  }

  // Sources, and the ids reachable from them (filled further in the forward pass below).
  const std::size_t n_nodes = nodes_.size();
  detail::IdMap<char> reachable(2 * n_nodes + 2 * sources.size());
  std::vector<std::vector<TensorId>> ids_per_source;
  ids_per_source.reserve(sources.size());
  for (const Endpoint& s : sources) {
    ids_per_source.push_back(ids_of(s));
    for (TensorId id : ids_per_source.back()) reachable.insert(id, 2);  // 2: a source id
  }

  // Gradients by id: the map holds an index into grad_values.
  detail::IdMap<std::uint32_t> grad_index(2 * n_nodes + 2 * targets.size());
  std::vector<Tensor> grad_values;
  grad_values.reserve(n_nodes + targets.size());
  auto accumulate = [&](TensorId id, const Tensor& g) {
    auto [slot, fresh] = grad_index.insert(id, static_cast<std::uint32_t>(grad_values.size()));
    if (fresh) {
      grad_values.push_back(g);
    } else {
      Tensor& acc = grad_values[*slot];
      acc = acc.defined() ? add(acc, g) : g;
    }
  };
  for (std::size_t i = 0; i < target_values.size(); ++i) {
    const Tensor& t = target_values[i];
    Tensor seed;
    if (!output_gradients.empty() && output_gradients[i].defined())
      seed = cast(output_gradients[i], t.dtype());
    else
      seed = Tensor::full(t.dtype(), t.shape(), 1.0);
    accumulate(t.id(), seed);
  }

  // (1) Which nodes lie on a path from a source?
  std::vector<char> on_path(n_nodes, 0);
  for (std::size_t i = 0; i < n_nodes; ++i) {
    const Node* node = nodes_[i].get();
    if (!node) continue;
    for (const InputMeta& in : node->inputs)
      if (reachable.contains(in.id)) {
        on_path[i] = 1;
        reachable.insert(node->output, 1);
        break;
      }
  }

  // (2) Reverse sweep. Ops the VJPs run may append nodes to this very tape (persistent, still
  // recording): we only walk the first n_nodes, and copy each node handle before using it.
  std::vector<char> needs;
  for (std::size_t i = n_nodes; i-- > 0;) {
    if (!on_path[i]) continue;
    const std::uint32_t* gi = grad_index.find(nodes_[i]->output);
    if (!gi || !grad_values[*gi].defined()) continue;
    std::shared_ptr<Node> node = nodes_[i];
    const Tensor g = grad_values[*gi];
    if (!persistent_) nodes_[i].reset();  // frees what it saved, unless another tape holds it
    // Each output is consumed exactly once per sweep; drop its gradient now (unless it is itself
    // a source), so the sweep's peak memory is the live frontier, not the whole graph.
    if (*reachable.find(node->output) != 2) grad_values[*gi] = Tensor();
    needs.assign(node->inputs.size(), 0);
    for (std::size_t j = 0; j < node->inputs.size(); ++j)
      needs[j] = reachable.contains(node->inputs[j].id) ? 1 : 0;
    Grads in_grads = node->op->vjp(*node, g, Needs{needs});
    for (std::size_t j = 0; j < node->inputs.size() && j < in_grads.size(); ++j)
      if (needs[j] && in_grads[j].defined()) accumulate(node->inputs[j].id, in_grads[j]);
  }

  std::vector<Tensor> result;
  result.reserve(sources.size());
  for (std::size_t s = 0; s < sources.size(); ++s) {
    Tensor total;
    for (TensorId id : ids_per_source[s]) {
      const std::uint32_t* gi = grad_index.find(id);
      if (!gi || !grad_values[*gi].defined()) continue;
      total = total.defined() ? add(total, grad_values[*gi]) : grad_values[*gi];
    }
    if (!total.defined() && unconnected_zero) {
      const Tensor& like = sources[s].variable ? sources[s].variable->value : sources[s].tensor;
      total = Tensor::zeros(like.dtype(), like.shape());
    }
    result.push_back(std::move(total));
  }
  if (!persistent_) {
    nodes_.clear();
    nodes_.shrink_to_fit();
    tracked_.clear();
    var_reads_.clear();
  }
  return result;
}

}  // namespace tg
