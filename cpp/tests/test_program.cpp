// Trace and Program (tapegrad/autograd/trace.h, program.h) without Python: what a trace records,
// what finish() drops, and that replays compute what eager code computes on new inputs, read
// variables afresh, repeat assignments and optimizer updates, and stop at a failed finiteness check.
// A tiny assert harness, no dependencies; the last line reads "N passed, M failed".
#include "check.h"
#include "tensors.h"
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/autograd/tape.h"
#include "tapegrad/autograd/trace.h"
#include "tapegrad/errors.h"
#include "tapegrad/ops.h"
#include "tapegrad/optim.h"

namespace {

using tg_test::check;
using namespace tg;

using tg_test::values;
using tg_test::vec;

template <class F>
std::shared_ptr<Program> trace_of(const std::vector<Tensor>& args, F&& f) {
  Trace trace("f", true);
  for (const Tensor& a : args) trace.add_argument(a);
  trace.enter();
  std::vector<Tensor> out = f();
  return trace.finish(out);
}

// y = sum(x * w) with dy/dx by a tape inside the traced code; w is a variable.
void test_forward_and_gradient_replay_on_new_inputs() {
  Variable w = std::make_shared<VariableImpl>(vec({1, 2, 3}), "w", true);
  auto f = [&](const Tensor& x) {
    Tape tape(false, true);
    tape.enter();
    tape.watch(x);
    const Tensor y = reduce_sum(multiply(x, read_variable(w)));
    tape.exit();
    const Tensor dx = tape.gradient({{y, nullptr}}, {{x, nullptr}}, {}, false)[0];
    return std::vector<Tensor>{y, dx};
  };
  const Tensor x0 = vec({1, 1, 1});
  auto program = trace_of({x0}, [&] { return f(x0); });
  const auto out = program->run({vec({2, 0, -1})});
  check(values(out[0]) == std::vector<double>{2 * 1 + 0 * 2 - 1 * 3},
        "replayed forward uses the new input");
  check(values(out[1]) == std::vector<double>{1, 2, 3}, "replayed gradient is w");
  w->assign(vec({5, 5, 5}));
  check(values(program->run({vec({1, 1, 1})})[0]) == std::vector<double>{15},
        "a variable is read at every replay");
}

void test_dead_instructions_are_dropped_and_constants_fold() {
  const Tensor x0 = vec({1, 2});
  auto program = trace_of({x0}, [&] {
    negative(exp(x0));                                    // unused: dropped
    const Tensor c = multiply(vec({3, 3}), vec({2, 2}));  // constants only: folded
    return std::vector<Tensor>{add(x0, c)};
  });
  check(program->code().size() == 1,
        "one live instruction, got " + std::to_string(program->code().size()));
  check(values(program->run({vec({0, 1})})[0]) == std::vector<double>{6, 7},
        "folded constant used");
}

void test_assignments_and_optimizer_updates_repeat() {
  Variable counter = std::make_shared<VariableImpl>(vec({0}), "counter", false);
  Variable w = std::make_shared<VariableImpl>(vec({1, 1}), "w", true);
  auto sgd = std::make_shared<optim::SGD>(0.0, false);
  sgd->learning_rate = optim::LearningRate::constant(0.5);
  const Tensor g0 = vec({1, 2});
  auto program = trace_of({g0}, [&] {
    assign_variable(counter, vec({1}), AssignMode::Add);
    sgd->apply({w}, {g0});
    return std::vector<Tensor>{};
  });
  check(values(counter->value) == std::vector<double>{1} && sgd->iterations == 1,
        "the trace ran once");
  program->run({vec({2, 2})});
  program->run({vec({2, 2})});
  check(values(counter->value) == std::vector<double>{3}, "assign_add repeats at every replay");
  check(sgd->iterations == 3, "the optimizer counts replayed updates");
  check(values(w->value) == std::vector<double>{1 - 0.5 - 1 - 1, 1 - 1 - 1 - 1},
        "updates use the replayed gradient");
}

void test_check_finite_stops_before_later_instructions() {
  Variable w = std::make_shared<VariableImpl>(vec({0}), "w", true);
  const Tensor x0 = vec({1});
  auto program = trace_of({x0}, [&] {
    const Tensor y = log(x0);
    check_finite(y, "loss");
    assign_variable(w, y, AssignMode::Assign);
    return std::vector<Tensor>{y};
  });
  bool stopped = false;
  try {
    program->run({vec({-1})});  // log(-1) = nan
  } catch (const NonFiniteError& e) {
    stopped = std::isnan(e.value) && std::string(e.what()).find("loss") != std::string::npos;
  }
  check(stopped, "NonFiniteError names the value and what it is");
  check(values(w->value) == std::vector<double>{0}, "the assignment after the check did not run");
}

void test_arguments_are_checked_and_traced_values_refused() {
  const Tensor x0 = vec({1, 2});
  auto program = trace_of({x0}, [&] { return std::vector<Tensor>{square(x0)}; });
  bool type_error = false;
  try {
    program->run({vec({1, 2, 3})});
  } catch (const TypeError& e) {
    type_error = std::string(e.what()).find("(2,)") != std::string::npos;
  }
  check(type_error, "a wrong shape is a TypeError naming the traced shape");

  Trace trace("g", false);
  trace.add_argument(x0);
  trace.enter();
  bool refused = false, refused_variable = false;
  try {
    check_untraced(square(x0), "float()");
  } catch (const TypeError& e) {
    refused = std::string(e.what()).find("'g'") != std::string::npos;
  }
  check_untraced(vec({1}), "float()");  // a constant may be read
  try {
    trace.on_variable_created("v");
  } catch (const ValueError& e) {
    refused_variable = std::string(e.what()).find("'g'") != std::string::npos;
  }
  trace.exit();
  check(refused, "reading a traced value is refused, naming the function");
  check(refused_variable, "creating a variable on a later trace is refused, naming the function");
  check(active_trace() == nullptr, "exit leaves no active trace");
}

}  // namespace

int main() {
  test_forward_and_gradient_replay_on_new_inputs();
  test_dead_instructions_are_dropped_and_constants_fold();
  test_assignments_and_optimizer_updates_repeat();
  test_check_finite_stops_before_later_instructions();
  test_arguments_are_checked_and_traced_values_refused();
  return tg_test::finish();
}
