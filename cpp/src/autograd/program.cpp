// Program replay: one pass over the instructions, slots freed after their last reader (Note
// [Replay frees as it goes] in program.h).
#include "tapegrad/autograd/program.h"

#include <memory>
#include <sstream>

#include "tapegrad/autograd/tape.h"
#include "tapegrad/errors.h"
#include "scratch_lease.h"

namespace tg {

Program::Program(std::string name, std::vector<ArgumentSpec> arguments,
                 std::vector<std::pair<std::int32_t, Tensor>> constants,
                 std::vector<Instruction> code, std::vector<std::int32_t> outputs,
                 std::int32_t n_slots)
    : name_(std::move(name)),
      arguments_(std::move(arguments)),
      constants_(std::move(constants)),
      code_(std::move(code)),
      outputs_(std::move(outputs)),
      n_slots_(n_slots) {}

void Program::check_arguments(const std::vector<Tensor>& args) const {
  if (args.size() != arguments_.size())
    throw TypeError("tg.function '" + name_ + "': the compiled program takes " +
                    std::to_string(arguments_.size()) + " tensor arguments, got " +
                    std::to_string(args.size()));
  for (std::size_t i = 0; i < args.size(); ++i) {
    const ArgumentSpec& spec = arguments_[i];
    if (!args[i].defined() || args[i].dtype() != spec.dtype || args[i].shape() != spec.shape)
      throw TypeError("tg.function '" + name_ + "': tensor argument " + std::to_string(i) +
                      " was traced as " + dtype_name(spec.dtype) + shape_str(spec.shape) +
                      ", got " +
                      (args[i].defined() ? dtype_name(args[i].dtype()) + shape_str(args[i].shape())
                                         : std::string("None")));
  }
}

namespace detail {
// The slots and input list of one run, leased per thread (scratch_lease.h).
struct RunScratch {
  std::vector<Tensor> slots;
  std::vector<Tensor> inputs;
  // Every slot lets go of its tensor: a variable's buffer must be unshared again when the next
  // step writes it, and intermediates go back to the storage cache.
  void release() {
    for (Tensor& t : slots) t = Tensor();
    inputs.clear();
  }
};
}  // namespace detail

std::vector<Tensor> Program::run(const std::vector<Tensor>& args) const {
  check_arguments(args);
  detail::ScratchLease<detail::RunScratch> lease;
  std::vector<Tensor>& slots = lease->slots;
  std::vector<Tensor>& inputs = lease->inputs;
  if (slots.size() < static_cast<std::size_t>(n_slots_))
    slots.resize(static_cast<std::size_t>(n_slots_));
  for (std::size_t i = 0; i < args.size(); ++i) slots[i] = args[i];
  for (const auto& [slot, value] : constants_) slots[static_cast<std::size_t>(slot)] = value;
  for (const Instruction& ins : code_) {
    inputs.clear();
    for (std::int32_t s : ins.in) inputs.push_back(slots[static_cast<std::size_t>(s)]);
    switch (ins.kind) {
      case Instruction::Kind::Op:
        slots[static_cast<std::size_t>(ins.out)] = ins.op->compute(inputs, ins.node);
        break;
      case Instruction::Kind::ReadVariable:
        slots[static_cast<std::size_t>(ins.out)] = read_variable(ins.variable);
        break;
      case Instruction::Kind::Assign: assign_variable(ins.variable, inputs[0], ins.mode); break;
      case Instruction::Kind::Effect: ins.effect->run(inputs); break;
      case Instruction::Kind::CheckFinite: check_finite(inputs[0], ins.what); break;
    }
    for (std::int32_t s : ins.release) slots[static_cast<std::size_t>(s)] = Tensor();
  }
  std::vector<Tensor> out;
  out.reserve(outputs_.size());
  for (std::int32_t s : outputs_) out.push_back(slots[static_cast<std::size_t>(s)]);
  return out;
}

std::string Program::to_string() const {
  std::ostringstream os;
  auto slot_list = [&](const std::vector<std::int32_t>& in) {
    for (std::size_t i = 0; i < in.size(); ++i) os << (i ? ", " : "") << '%' << in[i];
  };
  os << "program " << name_ << " (" << arguments_.size() << " arguments, " << constants_.size()
     << " constants, " << code_.size() << " instructions)\n";
  for (const Instruction& ins : code_) {
    switch (ins.kind) {
      case Instruction::Kind::Op:
        os << '%' << ins.out << " = " << ins.op->name << '(';
        slot_list(ins.in);
        os << ") : " << dtype_name(ins.node.out_dtype) << shape_str(ins.node.out_shape);
        break;
      case Instruction::Kind::ReadVariable:
        os << '%' << ins.out << " = read_variable '" << ins.variable->name << "'";
        break;
      case Instruction::Kind::Assign:
        os << (ins.mode == AssignMode::Assign ? "assign"
               : ins.mode == AssignMode::Add  ? "assign_add"
                                              : "assign_sub")
           << " '" << ins.variable->name << "' <- %" << ins.in[0];
        break;
      case Instruction::Kind::Effect:
        os << ins.effect->name() << '(';
        slot_list(ins.in);
        os << ')';
        break;
      case Instruction::Kind::CheckFinite: os << "check_finite(%" << ins.in[0] << ')'; break;
    }
    os << '\n';
  }
  os << "return ";
  slot_list(outputs_);
  os << '\n';
  return os.str();
}

}  // namespace tg
