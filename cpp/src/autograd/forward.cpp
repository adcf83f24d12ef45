// ForwardAccumulator: tangents by tensor id, propagated op by op (see forward.h).
#include "tapegrad/autograd/forward.h"

#include <algorithm>

#include "tapegrad/autograd/recorders.h"
#include "tapegrad/autograd/tape.h"
#include "tapegrad/errors.h"
#include "tapegrad/ops.h"
#include "scratch_lease.h"

namespace tg {

ForwardAccumulator::~ForwardAccumulator() { exit(); }

void ForwardAccumulator::enter() {
  if (entered_)
    throw ValueError("ForwardAccumulator: already active; an accumulator is entered once");
  detail::recorders().accumulators.push_back(this);
  tapes_at_enter_ = detail::recorders().tapes.size();
  entered_ = true;
}

void ForwardAccumulator::exit() {
  if (!entered_) return;
  auto& accs = detail::recorders().accumulators;
  auto it = std::find(accs.begin(), accs.end(), this);
  if (it != accs.end()) accs.erase(it);
  entered_ = false;
}

void ForwardAccumulator::set(TensorId id, const Tensor& tangent) {
  auto [slot, fresh] = index_.insert(id, static_cast<std::uint32_t>(entries_.size()));
  if (fresh)
    entries_.push_back({tangent, -1});
  else
    entries_[*slot] = {tangent, -1};
}

namespace {
Tensor checked_tangent(const Tensor& primal, const Tensor& tangent, const std::string& what) {
  if (tangent.shape() != primal.shape())
    throw ValueError("ForwardAccumulator: the tangent of " + what + " has shape " +
                     shape_str(tangent.shape()) + " but the primal has shape " +
                     shape_str(primal.shape()));
  return tangent.dtype() == primal.dtype() ? tangent : cast(stop_gradient(tangent), primal.dtype());
}
}  // namespace

void ForwardAccumulator::watch(const Tensor& primal, const Tensor& tangent) {
  set(primal.id(), checked_tangent(primal, tangent, "a tensor"));
}

void ForwardAccumulator::watch(const Variable& var, const Tensor& tangent) {
  const Tensor t = checked_tangent(var->value, tangent, "variable '" + var->name + "'");
  for (auto& [id, old] : variable_tangents_)
    if (id == var->id) {
      old = t;
      return;
    }
  variable_tangents_.emplace_back(var->id, t);
  set(var->value.id(), t);  // a value read before entering counts too
}

Tensor ForwardAccumulator::tangent_of(const Tensor& t) {
  if (!t.defined()) return Tensor();
  const std::uint32_t* slot = index_.find(t.id());
  if (!slot) return Tensor();
  if (entries_[*slot].deferred >= 0) resolve(entries_[*slot].deferred);
  return entries_[*slot].tangent;
}

Tensor ForwardAccumulator::tangent_of(const Variable& var) { return tangent_of(var->value); }

// Deferred ops depend only on earlier ones (recording order), so a depth-first walk with an
// explicit stack (no recursion: a chain of 100k ops must not overflow the stack) computes each once
// all its inputs' deferred tangents are computed.
void ForwardAccumulator::resolve(std::int64_t first) {
  std::vector<std::int64_t> stack{first};
  while (!stack.empty()) {
    const std::int64_t d = stack.back();
    Deferred& op = deferred_[static_cast<std::size_t>(d)];
    if (!op.node) {  // computed already (reached twice through a diamond)
      stack.pop_back();
      continue;
    }
    bool waiting = false;
    for (const Tensor& in : op.inputs) {
      const std::uint32_t* slot = index_.find(in.id());
      if (slot && entries_[*slot].deferred >= 0) {
        stack.push_back(entries_[*slot].deferred);
        waiting = true;
      }
    }
    if (waiting) continue;
    stack.pop_back();
    const Deferred taken = std::move(op);  // op.node is null from here: computed
    op = Deferred();
    std::vector<Tensor> tangents;
    Tensor t;
    if (input_tangents(taken.inputs, tangents))
      t = apply_rule(taken.inputs, tangents, taken.out, *taken.node);
    entries_[*index_.find(taken.out.id())] = {t, -1};
  }
}

void ForwardAccumulator::on_variable_read(const Variable& var, const Tensor& value) {
  for (const auto& [id, tangent] : variable_tangents_)
    if (id == var->id) return set(value.id(), tangent);
}

void ForwardAccumulator::pass_on(const Tensor& in, const Tensor& out) {
  if (in_rule_) return;
  Tensor t = tangent_of(in);
  if (t.defined()) set(out.id(), t);
}

namespace {
// Pauses the recording tapes from position `first` on (those entered inside an accumulator)
// while a JVP rule runs; resumes them after, also on an exception.
class InnerTapesPaused {
 public:
  InnerTapesPaused(const std::vector<Tape*>& tapes, std::size_t first)
      : tapes_(tapes), first_(first) {
    for (std::size_t i = first; i < tapes.size() && i - first < kMax; ++i) {
      paused_[i - first] = tapes[i]->recording();
      if (paused_[i - first]) tapes[i]->pause();
    }
  }
  ~InnerTapesPaused() {
    // A rule pushes and pops no tapes of its own that outlive it: the same positions are ours.
    for (std::size_t i = first_; i < tapes_.size() && i - first_ < kMax; ++i)
      if (paused_[i - first_]) tapes_[i]->resume();
  }
  InnerTapesPaused(const InnerTapesPaused&) = delete;
  InnerTapesPaused& operator=(const InnerTapesPaused&) = delete;

 private:
  static constexpr std::size_t kMax = 16;  // tapes nested inside one accumulator (no allocation)
  const std::vector<Tape*>& tapes_;        // this thread's active tapes (recorders.h)
  std::size_t first_;
  bool paused_[kMax] = {};
};
}  // namespace

namespace {
// The input tangents of one rule call, from this thread's scratch (no allocation per op).
struct TangentScratch {
  std::vector<Tensor> tangents;
  void release() { tangents.clear(); }
};
}  // namespace

void ForwardAccumulator::on_op(TensorList inputs, const Tensor& out, const Node& node,
                               const std::shared_ptr<const Node>& owned) {
  if (in_rule_) return;
  if (lazy_ && owned) {
    if (!has_tangent_for_any(inputs)) return;
    auto [slot, fresh] = index_.insert(out.id(), static_cast<std::uint32_t>(entries_.size()));
    const auto d = static_cast<std::int64_t>(deferred_.size());
    deferred_.push_back({owned, inputs.to_vector(), out});
    if (fresh)
      entries_.push_back({Tensor(), d});
    else
      entries_[*slot] = {Tensor(), d};
    return;
  }
  detail::ScratchLease<TangentScratch> scratch;
  std::vector<Tensor>& tangents = scratch->tangents;
  if (!input_tangents(inputs, tangents)) return;
  const Tensor t = apply_rule(inputs, tangents, out, node);
  if (t.defined()) set(out.id(), t);
}

bool ForwardAccumulator::input_tangents(TensorList inputs, std::vector<Tensor>& tangents) {
  bool any = false;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    tangents.push_back(tangent_of(inputs[i]));
    any = any || tangents.back().defined();
  }
  return any;
}

Tensor ForwardAccumulator::apply_rule(TensorList inputs, const std::vector<Tensor>& tangents,
                                      const Tensor& out, const Node& node) {
  if (!node.op->jvp)
    throw ValueError(std::string("forward mode: op '") + node.op->name + "' has no JVP rule");
  in_rule_ = true;
  Tensor t;
  try {
    const std::vector<Tape*>& tapes = detail::recorders().tapes;
    InnerTapesPaused paused(tapes, std::min(tapes_at_enter_, tapes.size()));
    t = node.op->jvp(inputs, tangents, out, node);
  } catch (...) {
    in_rule_ = false;
    throw;
  }
  in_rule_ = false;
  return t;
}

}  // namespace tg
