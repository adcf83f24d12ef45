// ForwardAccumulator: tangents by tensor id, propagated op by op (see forward.h).
#include "tapegrad/autograd/forward.h"

#include <algorithm>

#include "tapegrad/autograd/recorders.h"
#include "tapegrad/autograd/tape.h"
#include "tapegrad/errors.h"
#include "tapegrad/ops.h"

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
  auto [slot, fresh] = index_.insert(id, static_cast<std::uint32_t>(tangents_.size()));
  if (fresh)
    tangents_.push_back(tangent);
  else
    tangents_[*slot] = tangent;
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

Tensor ForwardAccumulator::tangent_of(const Tensor& t) const {
  if (!t.defined()) return Tensor();
  const std::uint32_t* slot = index_.find(t.id());
  return slot ? tangents_[*slot] : Tensor();
}

Tensor ForwardAccumulator::tangent_of(const Variable& var) const { return tangent_of(var->value); }

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
  explicit InnerTapesPaused(std::size_t first) : first_(first) {
    const auto& tapes = detail::recorders().tapes;
    for (std::size_t i = first; i < tapes.size() && i - first < kMax; ++i) {
      paused_[i - first] = tapes[i]->recording();
      if (paused_[i - first]) tapes[i]->pause();
    }
  }
  ~InnerTapesPaused() {
    // A rule pushes and pops no tapes of its own that outlive it: the same positions are ours.
    const auto& tapes = detail::recorders().tapes;
    for (std::size_t i = first_; i < tapes.size() && i - first_ < kMax; ++i)
      if (paused_[i - first_]) tapes[i]->resume();
  }
  InnerTapesPaused(const InnerTapesPaused&) = delete;
  InnerTapesPaused& operator=(const InnerTapesPaused&) = delete;

 private:
  static constexpr std::size_t kMax = 16;  // tapes nested inside one accumulator (no allocation)
  std::size_t first_;
  bool paused_[kMax] = {};
};
}  // namespace

void ForwardAccumulator::on_op(const std::vector<Tensor>& inputs, const Tensor& out,
                               const Node& node) {
  if (in_rule_) return;
  std::vector<Tensor> tangents(inputs.size());
  bool any = false;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    tangents[i] = tangent_of(inputs[i]);
    any = any || tangents[i].defined();
  }
  if (!any) return;
  if (!node.op->jvp)
    throw ValueError(std::string("forward mode: op '") + node.op->name + "' has no JVP rule");
  in_rule_ = true;
  Tensor t;
  try {
    InnerTapesPaused paused(std::min(tapes_at_enter_, detail::recorders().tapes.size()));
    t = node.op->jvp(inputs, tangents, out, node);
  } catch (...) {
    in_rule_ = false;
    throw;
  }
  in_rule_ = false;
  if (t.defined()) set(out.id(), t);
}

}  // namespace tg
