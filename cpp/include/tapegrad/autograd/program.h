// Program: a traced function as a flat list of instructions over numbered slots, replayed in C++
// with no Python (what `tg.function` runs after its first call). A Trace (trace.h) builds one.
//
// Slots: the function's tensor arguments come first, then captured constants (values the trace
// saw that no instruction made: Python numbers, NumPy arrays, a gradient's seed), then the
// outputs of instructions, each written once. A Variable is never a slot: it is read by a
// ReadVariable instruction at the point the traced code read it, so a replay sees its current
// value, and written by Assign/Effect instructions.
//
// Note [Replay frees as it goes]
// Finishing a trace drops every instruction whose result nothing uses (no output, no side effect
// depends on it) and lists, per instruction, the slots it read for the last time. Replay empties
// those slots right after the instruction, so a buffer goes back to the storage cache while the
// step still runs and the next op of that size gets it: the same buffers are reused at every
// replay, and a variable's own buffer is unshared again by the time the update writes it in place.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tapegrad/autograd/node.h"
#include "tapegrad/variable.h"

namespace tg {

// A side effect a program replays with the tensors of its input slots: an optimizer's update of
// its variables, for instance. The library above the tape (optim) implements it; the program only
// calls run.
struct Effect {
  virtual ~Effect() = default;
  virtual const char* name() const = 0;
  virtual void run(const std::vector<Tensor>& inputs) = 0;
};

enum class AssignMode : std::uint8_t { Assign, Add, Subtract };

// Raised when a check_finite instruction meets a NaN or an infinity: the replay stops there,
// before the instructions after it (a training step's update) run.
struct NonFiniteError : std::runtime_error {
  NonFiniteError(const std::string& what, double value) : std::runtime_error(what), value(value) {}
  double value;  // the first NaN or infinity found
};

struct Instruction {
  enum class Kind : std::uint8_t { Op, ReadVariable, Assign, Effect, CheckFinite };
  Kind kind = Kind::Op;
  const OpDef* op = nullptr;  // Op: what computes the output
  Node node;                  // Op: attributes, output shape and dtype (nothing saved)
  std::vector<std::int32_t> in;
  std::int32_t out = -1;                 // the slot written (Op, ReadVariable)
  Variable variable;                     // ReadVariable, Assign
  AssignMode mode = AssignMode::Assign;  // Assign
  std::shared_ptr<tg::Effect> effect;    // Effect
  std::string what;                      // CheckFinite: what its error names
  std::vector<std::int32_t> release;     // slots read here for the last time
};

struct ArgumentSpec {
  DType dtype;
  Shape shape;
};

class Program {
 public:
  Program(std::string name, std::vector<ArgumentSpec> arguments,
          std::vector<std::pair<std::int32_t, Tensor>> constants, std::vector<Instruction> code,
          std::vector<std::int32_t> outputs, std::int32_t n_slots);

  // Runs the instructions on args (shapes and dtypes as traced, else TypeError naming the
  // argument) and returns the output tensors. Safe to call from several threads at once (each
  // run has its own slots); the variables it writes are the caller's to guard.
  std::vector<Tensor> run(const std::vector<Tensor>& args) const;

  const std::string& name() const { return name_; }
  const std::vector<ArgumentSpec>& arguments() const { return arguments_; }
  const std::vector<Instruction>& code() const { return code_; }
  const std::vector<std::int32_t>& outputs() const { return outputs_; }
  std::size_t num_constants() const { return constants_.size(); }
  const std::vector<std::pair<std::int32_t, Tensor>>& constants() const { return constants_; }
  // The instructions as text, one a line (slot numbers, op names, shapes): for tests and docs.
  std::string to_string() const;

 private:
  void check_arguments(const std::vector<Tensor>& args) const;

  std::string name_;
  std::vector<ArgumentSpec> arguments_;
  std::vector<std::pair<std::int32_t, Tensor>> constants_;
  std::vector<Instruction> code_;
  std::vector<std::int32_t> outputs_;
  std::int32_t n_slots_;
};

}  // namespace tg
