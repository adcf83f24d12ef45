// Trace: the second listener beside the tapes. While a function is traced (its first call under
// `tg.function`), every op that runs on this thread appends an instruction to a Program
// (program.h): forward ops, the VJP ops a tape's gradient runs, variable reads and assignments,
// optimizer updates. Unlike a tape it records every op, watched or not, since a program must
// compute everything the function computed. The tapes' own bookkeeping is not in the program.
//
// Note [Traced values stay symbolic]
// A tensor the trace made dynamic (an argument, a variable read, an instruction's output) has a
// value only for this one call. Reading it into Python (`float(t)`, `.numpy()`, `if t > 0:`)
// would freeze that value into the program, so the bindings refuse it while tracing
// (check_untraced) with a TypeError naming the function. Values the trace never saw made (a NumPy
// array, a Python number) are constants and may be read freely.
#pragma once
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/autograd/id_map.h"
#include "tapegrad/autograd/program.h"
#include "tapegrad/autograd/recorders.h"

namespace tg {

class Trace {
 public:
  // may_create_variables: TensorFlow's rule, variables are created on a function's first trace only.
  Trace(std::string function_name, bool may_create_variables);
  ~Trace();
  Trace(const Trace&) = delete;
  Trace& operator=(const Trace&) = delete;

  void enter();  // this thread's ops are recorded from here (ValueError if a trace is active)
  void exit();

  // The next argument slot holds t (its shape and dtype join the program's signature).
  void add_argument(const Tensor& t);
  // The program of everything recorded so far, computing `outputs` (dynamic or constant tensors).
  std::shared_ptr<Program> finish(const std::vector<Tensor>& outputs);

  const std::string& function_name() const { return name_; }
  bool is_dynamic(TensorId id) const;

  // Hooks (tape.cpp, ops, optim): each appends one instruction.
  void on_op(const OpDef& op, const std::vector<Tensor>& inputs, const Tensor& out,
             const Attrs& attrs);
  void on_variable_read(const Variable& var, const Tensor& value);
  void on_assign(const Variable& var, AssignMode mode, const Tensor& value);
  void on_effect(std::shared_ptr<Effect> effect, const std::vector<Tensor>& inputs);
  void on_check_finite(const Tensor& t, const std::string& what);
  void on_variable_created(const std::string& variable_name) const;  // ValueError unless allowed

 private:
  std::int32_t slot_of(const Tensor& t);  // a constant slot for a value not seen before
  std::int32_t new_slot(TensorId id);

  std::string name_;
  bool may_create_variables_;
  bool entered_ = false;
  std::vector<ArgumentSpec> arguments_;
  std::vector<std::pair<std::int32_t, Tensor>> constants_;
  std::vector<Instruction> code_;
  detail::IdMap<std::int32_t> slots_;  // tensor id -> slot
  std::vector<char> slot_is_constant_;
};

// TypeError naming the traced function when t's value exists only for the call being traced
// (Note [Traced values stay symbolic]); `what` says what was attempted.
void check_untraced(const Tensor& t, const char* what);

}  // namespace tg
