// Trace: recording a function's ops as a Program (see trace.h and program.h).
#include "tapegrad/autograd/trace.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "tapegrad/errors.h"

namespace tg {

Trace::Trace(std::string function_name, bool may_create_variables)
    : name_(std::move(function_name)), may_create_variables_(may_create_variables) {}

Trace::~Trace() { exit(); }

void Trace::enter() {
  Trace*& active = detail::recorders().trace;
  if (active)
    throw ValueError("tg.function '" + name_ + "': another function ('" + active->name_ +
                     "') is being traced on this thread; nested functions are traced inline");
  active = this;
  entered_ = true;
}

void Trace::exit() {
  if (!entered_) return;
  Trace*& active = detail::recorders().trace;
  if (active == this) active = nullptr;
  entered_ = false;
}

std::int32_t Trace::new_slot(TensorId id) {
  const auto slot = static_cast<std::int32_t>(slot_is_constant_.size());
  slot_is_constant_.push_back(0);
  // A value id seen again later (an op that hands back its input) keeps its first slot, except a
  // constant: a variable read of that same value must become an instruction (see on_variable_read).
  auto [existing, fresh] = slots_.insert(id, slot);
  if (!fresh) *existing = slot;
  return slot;
}

void Trace::add_argument(const Tensor& t) {
  if (!code_.empty() || !constants_.empty() || arguments_.size() != slot_is_constant_.size())
    throw ValueError("tg.function '" + name_ + "': arguments are added before anything is traced");
  arguments_.push_back({t.dtype(), t.shape()});
  new_slot(t.id());
}

bool Trace::is_dynamic(TensorId id) const {
  const std::int32_t* slot = slots_.find(id);
  return slot && !slot_is_constant_[static_cast<std::size_t>(*slot)];
}

std::int32_t Trace::slot_of(const Tensor& t) {
  if (const std::int32_t* slot = slots_.find(t.id())) return *slot;
  const std::int32_t slot = new_slot(t.id());
  slot_is_constant_[static_cast<std::size_t>(slot)] = 1;
  constants_.emplace_back(slot, t);
  return slot;
}

void Trace::on_op(const OpDef& op, const std::vector<Tensor>& inputs, const Tensor& out,
                  const Attrs& attrs) {
  if (!op.compute)
    throw ValueError("tg.function '" + name_ + "': op '" + op.name + "' cannot be compiled");
  // An op of constants only gives a constant: the program keeps the value the trace computed
  // (a gradient's seed scaled by 1/N, broadcast) instead of computing it again at every replay.
  bool all_constant = true;
  for (const Tensor& t : inputs) all_constant = all_constant && !is_dynamic(t.id());
  if (all_constant && !op.stateful) {
    slot_of(out);
    return;
  }
  Instruction ins;
  ins.kind = Instruction::Kind::Op;
  ins.op = &op;
  ins.in.reserve(inputs.size());
  ins.node.inputs.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    ins.in.push_back(slot_of(t));
    ins.node.inputs.push_back({t.id(), t.dtype(), t.shape()});
  }
  ins.node.op = &op;
  ins.node.out_dtype = out.dtype();
  ins.node.out_shape = out.shape();
  ins.node.attrs = attrs;
  ins.out = new_slot(out.id());
  code_.push_back(std::move(ins));
}

void Trace::on_variable_read(const Variable& var, const Tensor& value) {
  if (is_dynamic(value.id())) return;  // read before and not assigned since: the same slot
  Instruction ins;
  ins.kind = Instruction::Kind::ReadVariable;
  ins.variable = var;
  ins.out = new_slot(value.id());
  code_.push_back(std::move(ins));
}

void Trace::on_assign(const Variable& var, AssignMode mode, const Tensor& value) {
  Instruction ins;
  ins.kind = Instruction::Kind::Assign;
  ins.variable = var;
  ins.mode = mode;
  ins.in = {slot_of(value)};
  code_.push_back(std::move(ins));
}

void Trace::on_effect(std::shared_ptr<Effect> effect, const std::vector<Tensor>& inputs) {
  Instruction ins;
  ins.kind = Instruction::Kind::Effect;
  ins.effect = std::move(effect);
  for (const Tensor& t : inputs) ins.in.push_back(slot_of(t));
  code_.push_back(std::move(ins));
}

void Trace::on_check_finite(const Tensor& t, const std::string& what) {
  Instruction ins;
  ins.kind = Instruction::Kind::CheckFinite;
  ins.in = {slot_of(t)};
  ins.what = what;
  code_.push_back(std::move(ins));
}

void Trace::on_variable_created(const std::string& variable_name) const {
  if (!may_create_variables_)
    throw ValueError("tg.function '" + name_ + "' created the variable '" + variable_name +
                     "' on a trace after its first: variables may be created on the first trace "
                     "only (create them outside the function, or once on the first call)");
}

namespace {
// What makes two op instructions compute the same value: the op, its input slots, attributes and
// output type, as one string of words.
std::string value_key(const Instruction& ins) {
  std::vector<std::int64_t> words;
  words.push_back(reinterpret_cast<std::intptr_t>(ins.op));
  auto add_list = [&](const auto& list) {
    words.push_back(static_cast<std::int64_t>(list.size()));
    words.insert(words.end(), list.begin(), list.end());
  };
  add_list(ins.in);
  const Attrs& a = ins.node.attrs;
  add_list(a.ints);
  add_list(a.ints2);
  add_list(a.shape);
  add_list(ins.node.out_shape);
  std::int64_t scalar_bits;
  std::memcpy(&scalar_bits, &a.scalar, sizeof scalar_bits);
  words.push_back(scalar_bits);
  words.push_back(static_cast<std::int64_t>(ins.node.out_dtype) * 4 + a.flag_a * 2 + a.flag_b);
  return std::string(reinterpret_cast<const char*>(words.data()),
                     words.size() * sizeof(std::int64_t));
}
}  // namespace

std::shared_ptr<Program> Trace::finish(const std::vector<Tensor>& outputs) {
  exit();
  std::vector<std::int32_t> output_slots;
  output_slots.reserve(outputs.size());
  for (const Tensor& t : outputs) output_slots.push_back(slot_of(t));
  const std::size_t n_slots = slot_is_constant_.size();

  // Common subexpressions: an op that repeats an earlier one on the same slots with the same
  // attributes (a metric's error beside the loss's) computes the same value, since slots are
  // written once and ops are pure. Its readers read the earlier slot; the dead-code walk below
  // then drops it. Variable reads are never merged: an assignment may lie between two.
  std::vector<std::int32_t> same_as(n_slots);
  for (std::size_t s = 0; s < n_slots; ++s) same_as[s] = static_cast<std::int32_t>(s);
  std::unordered_map<std::string, std::int32_t> first_with_key;
  for (Instruction& ins : code_) {
    for (std::int32_t& s : ins.in) s = same_as[static_cast<std::size_t>(s)];
    if (ins.kind != Instruction::Kind::Op || ins.op->stateful) continue;
    auto [it, fresh] = first_with_key.emplace(value_key(ins), ins.out);
    if (!fresh) same_as[static_cast<std::size_t>(ins.out)] = it->second;
  }
  for (std::int32_t& s : output_slots) s = same_as[static_cast<std::size_t>(s)];

  // Keep what an output or a side effect needs (Note [Replay frees as it goes]): one walk
  // backwards, since every slot is written before it is read.
  std::vector<char> needed(n_slots, 0);
  for (std::int32_t s : output_slots) needed[static_cast<std::size_t>(s)] = 1;
  std::vector<char> live(code_.size(), 0);
  for (std::size_t i = code_.size(); i-- > 0;) {
    const Instruction& ins = code_[i];
    const bool effect = ins.kind == Instruction::Kind::Assign ||
                        ins.kind == Instruction::Kind::Effect ||
                        ins.kind == Instruction::Kind::CheckFinite;
    if (!effect && !(ins.out >= 0 && needed[static_cast<std::size_t>(ins.out)])) continue;
    live[i] = 1;
    for (std::int32_t s : ins.in) needed[static_cast<std::size_t>(s)] = 1;
  }
  std::vector<Instruction> code;
  for (std::size_t i = 0; i < code_.size(); ++i)
    if (live[i]) code.push_back(std::move(code_[i]));
  code_.clear();

  // Each slot that is neither a constant nor an output is released after its last reader.
  std::vector<std::int64_t> last_use(n_slots, -1);
  for (std::size_t i = 0; i < code.size(); ++i)
    for (std::int32_t s : code[i].in)
      last_use[static_cast<std::size_t>(s)] = static_cast<std::int64_t>(i);
  std::vector<char> kept(n_slots, 0);
  for (std::int32_t s : output_slots) kept[static_cast<std::size_t>(s)] = 1;
  for (std::size_t s = 0; s < n_slots; ++s) {
    if (kept[s] || slot_is_constant_[s] || last_use[s] < 0) continue;
    std::vector<std::int32_t>& release = code[static_cast<std::size_t>(last_use[s])].release;
    if (std::find(release.begin(), release.end(), static_cast<std::int32_t>(s)) == release.end())
      release.push_back(static_cast<std::int32_t>(s));
  }
  std::vector<std::pair<std::int32_t, Tensor>> constants;
  for (auto& c : constants_)
    if (needed[static_cast<std::size_t>(c.first)]) constants.push_back(std::move(c));
  constants_.clear();
  return std::make_shared<Program>(name_, std::move(arguments_), std::move(constants),
                                   std::move(code), std::move(output_slots),
                                   static_cast<std::int32_t>(n_slots));
}

void check_untraced(const Tensor& t, const char* what) {
  const Trace* trace = active_trace();
  if (!trace || !t.defined() || !trace->is_dynamic(t.id())) return;
  throw TypeError("tg.function '" + trace->function_name() + "': " + what +
                  " of a traced tensor is not allowed while tracing: its value exists only for "
                  "this call and would be frozen into the compiled program. Compute with tapegrad "
                  "ops instead (tg.where for a branch on values), or return the tensor and read "
                  "it after the call.");
}

}  // namespace tg
