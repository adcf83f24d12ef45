// Optimizers (tapegrad/optim.h): Keras's rules against closed forms, learning rates from the
// step counter, the copy-on-write rule for values held elsewhere, and all-or-nothing argument checks.
// A tiny assert harness, no dependencies; the last line reads "N passed, M failed".
#include "check.h"
#include "tensors.h"
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/errors.h"
#include "tapegrad/optim.h"

namespace {

using tg_test::check;
using tg_test::g_failed;

bool near(double a, double b, double tol = 1e-12) {
  return std::fabs(a - b) <= tol * (1 + std::fabs(b));
}

using tg_test::vec;

tg::Variable var(std::vector<double> v) {
  return std::make_shared<tg::VariableImpl>(vec(v), "w", true);
}

void test_sgd_momentum_nesterov() {
  for (bool nesterov : {false, true}) {
    tg::Variable w = var({1.0, -2.0});
    tg::optim::SGD sgd(0.9, nesterov);
    sgd.learning_rate = tg::optim::LearningRate::constant(0.1);
    double wr[2] = {1.0, -2.0}, vr[2] = {0, 0};
    const double g[3][2] = {{0.5, -1.0}, {0.25, 2.0}, {-1.0, 0.0}};
    for (const auto& gs : g) {
      sgd.apply({w}, {vec({gs[0], gs[1]})});
      for (int j = 0; j < 2; ++j) {
        vr[j] = 0.9 * vr[j] - 0.1 * gs[j];
        wr[j] += nesterov ? 0.9 * vr[j] - 0.1 * gs[j] : vr[j];
      }
    }
    const double* got = w->value.data<double>();
    check(near(got[0], wr[0]) && near(got[1], wr[1]),
          std::string("SGD momentum 3 steps, nesterov=") + (nesterov ? "true" : "false"));
  }
}

void test_adam() {
  tg::Variable w = var({0.5});
  tg::optim::Adam adam(0.9, 0.999, 1e-7);
  adam.learning_rate = tg::optim::LearningRate::constant(0.01);
  double wr = 0.5, m = 0, v = 0;
  const double gs[3] = {0.1, -0.3, 0.2};
  for (int t = 1; t <= 3; ++t) {
    adam.apply({w}, {vec({gs[t - 1]})});
    const double alpha = 0.01 * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t));
    m += (gs[t - 1] - m) * 0.1;
    v += (gs[t - 1] * gs[t - 1] - v) * 0.001;
    wr -= alpha * m / (std::sqrt(v) + 1e-7);
  }
  check(near(w->value.data<double>()[0], wr), "Adam 3 steps, Keras epsilon placement");
  check(adam.iterations == 3, "apply counts iterations");
}

void test_saved_values_never_change() {
  tg::Variable w = var({1.0, 2.0});
  const tg::Tensor saved = w->value;  // what a tape holds after reading the variable
  tg::optim::SGD sgd(0.0, false);
  sgd.learning_rate = tg::optim::LearningRate::constant(0.5);
  sgd.apply({w}, {vec({1.0, 1.0})});
  check(saved.data<double>()[0] == 1.0 && saved.data<double>()[1] == 2.0, "held value unchanged");
  check(w->value.data<double>()[0] == 0.5 && w->value.data<double>()[1] == 1.5, "variable updated");
  check(w->value.raw() != saved.raw(), "shared buffer replaced, not written");
  // with nobody else holding it, the update is in place
  const void* before = w->value.raw();
  sgd.apply({w}, {vec({1.0, 1.0})});
  check(w->value.raw() == before, "unique buffer updated in place");
}

void test_bad_pairs_change_nothing() {
  tg::Variable a = var({1.0, 2.0}), b = var({3.0});
  tg::optim::SGD sgd(0.0, false);
  bool threw = false;
  try {
    sgd.apply({a, b}, {vec({1.0, 1.0}), vec({1.0, 1.0})});
  } catch (const tg::ValueError& e) {
    threw = std::string(e.what()).find("(2,)") != std::string::npos;
  }
  check(threw, "shape mismatch raises ValueError naming the shape");
  check(a->value.data<double>()[0] == 1.0, "no variable updated when a pair is bad");
  check(sgd.iterations == 0, "a bad pair is not counted");
}

void test_clipping() {
  tg::Variable w = var({0.0, 0.0});
  tg::optim::SGD by_norm(0.0, false);
  by_norm.learning_rate = tg::optim::LearningRate::constant(1.0);
  by_norm.clip.norm = 1.0;
  by_norm.apply({w}, {vec({3.0, 4.0})});
  check(near(w->value.data<double>()[0], -0.6) && near(w->value.data<double>()[1], -0.8),
        "clipnorm");
  tg::Variable u = var({0.0, 0.0});
  tg::optim::SGD by_value(0.0, false);
  by_value.learning_rate = tg::optim::LearningRate::constant(1.0);
  by_value.clip.value = 3.5;
  const tg::Tensor g = vec({3.0, -4.0});
  by_value.apply({u}, {g});
  check(u->value.data<double>()[0] == -3.0 && u->value.data<double>()[1] == 3.5, "clipvalue");
  check(g.data<double>()[1] == -4.0, "clipping leaves the caller's gradient as it was");
}

void test_learning_rate_schedules() {
  using tg::optim::LearningRate;
  const LearningRate exp = LearningRate::exponential_decay(0.1, 10, 0.5, false);
  check(exp.at(0) == 0.1 && near(exp.at(10), 0.05) && near(exp.at(5), 0.1 * std::sqrt(0.5)),
        "exponential decay");
  const LearningRate stairs = LearningRate::exponential_decay(0.1, 10, 0.5, true);
  check(stairs.at(9) == 0.1 && near(stairs.at(10), 0.05), "staircase");
  const LearningRate inv = LearningRate::inverse_time_decay(1.0, 2, 1.0, false);
  check(near(inv.at(2), 0.5) && near(inv.at(1), 1.0 / 1.5), "inverse time decay");
  const LearningRate pw = LearningRate::piecewise_constant_decay({2, 4}, {1.0, 0.5, 0.1});
  check(pw.at(2) == 1.0 && pw.at(3) == 0.5 && pw.at(4) == 0.5 && pw.at(5) == 0.1,
        "piecewise constant");
  // the optimizer reads its schedule at its own counter: 1 + 1 + 1 + 0.5 + 0.5 + 0.1
  tg::Variable w = var({0.0});
  tg::optim::SGD sgd(0.0, false);
  sgd.learning_rate = pw;
  for (int i = 0; i < 6; ++i) sgd.apply({w}, {vec({-1.0})});
  check(near(w->value.data<double>()[0], 4.1) && sgd.iterations == 6, "SGD follows the schedule");
}

void test_rmsprop_adagrad_adamw_one_step() {
  tg::Variable r = var({1.0});
  tg::optim::RMSprop rms(0.9, 0.0, 1e-7, false);
  rms.learning_rate = tg::optim::LearningRate::constant(0.1);
  rms.apply({r}, {vec({2.0})});
  check(near(r->value.data<double>()[0], 1.0 - 0.1 * 2.0 / std::sqrt(0.1 * 4.0 + 1e-7)),
        "RMSprop one step");
  tg::Variable a = var({1.0});
  tg::optim::Adagrad ada(0.1, 1e-7);
  ada.learning_rate = tg::optim::LearningRate::constant(0.1);
  ada.apply({a}, {vec({2.0})});
  check(near(a->value.data<double>()[0], 1.0 - 0.1 * 2.0 / std::sqrt(4.1 + 1e-7)),
        "Adagrad one step");
  tg::Variable aw = var({1.0});
  tg::optim::AdamW adamw(0.004, 0.9, 0.999, 1e-7);
  adamw.learning_rate = tg::optim::LearningRate::constant(0.1);
  adamw.apply({aw}, {vec({2.0})});
  const double alpha = 0.1 * std::sqrt(1 - 0.999) / (1 - 0.9);
  const double expected = (1.0 - 1.0 * 0.004 * 0.1) - alpha * 0.2 / (std::sqrt(0.001 * 4.0) + 1e-7);
  check(near(aw->value.data<double>()[0], expected), "AdamW one step (decay before the Adam step)");
}

// A restored slot continues the rule exactly: SGD with momentum stepped twice equals a fresh SGD
// given the first step's velocity (and variable value) and stepped once.
void test_slot_restore() {
  tg::Variable w = var({1.0, -2.0});
  tg::optim::SGD sgd(0.9, false);
  sgd.learning_rate = tg::optim::LearningRate::constant(0.1);
  sgd.apply({w}, {vec({0.5, -1.0})});
  tg::Variable w2 = var({w->value.data<double>()[0], w->value.data<double>()[1]});
  tg::optim::SGD restored(0.9, false);
  restored.learning_rate = tg::optim::LearningRate::constant(0.1);
  restored.slot_tables()[0].second->set(*w2, sgd.velocity(*w));
  check(restored.slot_tables()[0].first == "velocity", "SGD's slot table is named velocity");
  sgd.apply({w}, {vec({0.25, 2.0})});
  restored.apply({w2}, {vec({0.25, 2.0})});
  check(w->value.data<double>()[0] == w2->value.data<double>()[0] &&
            w->value.data<double>()[1] == w2->value.data<double>()[1],
        "a restored velocity continues the update exactly");
  bool threw = false;
  try {
    restored.slot_tables()[0].second->set(*w2, vec({1.0, 2.0, 3.0}));
  } catch (const tg::ValueError&) {
    threw = true;
  }
  check(threw, "a slot of another shape than its variable's is a ValueError");
}

// Memory a tensor only borrows (Tensor::from_external) is never written in place: a variable
// holding it copies at its first update.
void test_borrowed_memory_is_copied_on_write() {
  auto borrowed = std::make_shared<std::vector<double>>(std::vector<double>{1.0, 2.0});
  const tg::Tensor t =
      tg::Tensor::from_external(tg::DType::Float64, {2}, borrowed->data(), borrowed);
  check(!t.buffer_unique(), "a borrowed buffer is never unique");
  tg::Variable w = std::make_shared<tg::VariableImpl>(t.with_new_id(), "w", true);
  tg::optim::SGD sgd(0.0, false);
  sgd.learning_rate = tg::optim::LearningRate::constant(1.0);
  sgd.apply({w}, {vec({1.0, 1.0})});
  check((*borrowed)[0] == 1.0 && (*borrowed)[1] == 2.0,
        "the update leaves the borrowed memory as it was");
  check(w->value.data<double>()[0] == 0.0 && w->value.data<double>()[1] == 1.0,
        "the variable is updated");
}

}  // namespace

int main() {
  test_sgd_momentum_nesterov();
  test_adam();
  test_saved_values_never_change();
  test_bad_pairs_change_nothing();
  test_clipping();
  test_learning_rate_schedules();
  test_rmsprop_adagrad_adamw_one_step();
  test_slot_restore();
  test_borrowed_memory_is_copied_on_write();
  return tg_test::finish();
}
