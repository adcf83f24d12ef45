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
  tracked_.insert(node->output);
}

void Tape::watch(const Tensor& t) { tracked_.insert(t.id()); }

void Tape::watch(const Variable& v) {
  if (explicit_vars_.insert(v->id).second) on_variable_read(v, v->value);
}

void Tape::on_variable_read(const Variable& var, const Tensor& value) {
  const bool watched = (var->trainable && watch_accessed_variables_) || explicit_vars_.count(var->id);
  if (!watched) return;
  auto& reads = var_reads_[var->id];
  if (reads.empty()) watched_vars_.push_back(var);
  if (std::find(reads.begin(), reads.end(), value.id()) == reads.end()) reads.push_back(value.id());
  tracked_.insert(value.id());
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
  if (e.variable) {
    auto it = var_reads_.find(e.variable->id);
    return it == var_reads_.end() ? std::vector<TensorId>{} : it->second;
  }
  return {e.tensor.id()};
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

  std::unordered_set<TensorId> source_ids;
  std::vector<std::vector<TensorId>> ids_per_source;
  ids_per_source.reserve(sources.size());
  for (const Endpoint& s : sources) {
    ids_per_source.push_back(ids_of(s));
    source_ids.insert(ids_per_source.back().begin(), ids_per_source.back().end());
  }

  // Seeds: ones (or the given output gradient) for each target; a repeated target adds up.
  std::unordered_map<TensorId, Tensor> grads;
  auto accumulate = [&grads](TensorId id, const Tensor& g) {
    auto [it, fresh] = grads.try_emplace(id, g);
    if (!fresh) it->second = add(it->second, g);
  };
  for (std::size_t i = 0; i < target_values.size(); ++i) {
    const Tensor& t = target_values[i];
    Tensor seed;
    if (!output_gradients.empty() && output_gradients[i].defined()) {
      seed = output_gradients[i];
      if (seed.shape() != t.shape())
        throw ValueError("gradient: output_gradients[" + std::to_string(i) + "] has shape " +
                         shape_str(seed.shape()) + " but its target has shape " +
                         shape_str(t.shape()));
      if (seed.dtype() != t.dtype()) seed = cast(seed, t.dtype());
    } else {
      seed = Tensor::full(t.dtype(), t.shape(), 1.0);
    }
    accumulate(t.id(), seed);
  }

  // (1) Which nodes lie on a path from a source?
  const std::size_t n_nodes = nodes_.size();
  std::unordered_set<TensorId> reachable = source_ids;
  std::vector<char> on_path(n_nodes, 0);
  for (std::size_t i = 0; i < n_nodes; ++i) {
    const Node* node = nodes_[i].get();
    if (!node) continue;
    for (const InputMeta& in : node->inputs)
      if (reachable.count(in.id)) {
        on_path[i] = 1;
        reachable.insert(node->output);
        break;
      }
  }

  // (2) Reverse sweep. Ops the VJPs run may append nodes to this very tape (persistent, still
  // recording): we only walk the first n_nodes, and copy each node handle before using it.
  std::vector<char> needs;
  for (std::size_t i = n_nodes; i-- > 0;) {
    if (!on_path[i]) continue;
    std::shared_ptr<Node> node = nodes_[i];
    auto git = grads.find(node->output);
    if (git == grads.end()) continue;
    const Tensor g = git->second;
    if (!persistent_) {
      nodes_[i].reset();  // frees what the node saved, unless another tape still holds it
      if (!source_ids.count(node->output)) grads.erase(git);
    }
    needs.assign(node->inputs.size(), 0);
    for (std::size_t j = 0; j < node->inputs.size(); ++j) needs[j] = reachable.count(node->inputs[j].id) ? 1 : 0;
    Grads in_grads = node->op->vjp(*node, g, Needs{needs});
    for (std::size_t j = 0; j < node->inputs.size() && j < in_grads.size(); ++j)
      if (needs[j] && in_grads[j].defined()) accumulate(node->inputs[j].id, in_grads[j]);
  }

  std::vector<Tensor> result;
  result.reserve(sources.size());
  for (std::size_t s = 0; s < sources.size(); ++s) {
    Tensor total;
    for (TensorId id : ids_per_source[s]) {
      auto it = grads.find(id);
      if (it == grads.end()) continue;
      total = total.defined() ? add(total, it->second) : it->second;
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
