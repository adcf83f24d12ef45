// What replaying a compiled step costs beyond its kernels: the seed notebook's training step
// (Dense 8->128 relu, Dense 128->1, MSE, SGD; batch 32) three ways, one thread, side by side:
//   ops:     the step's ops called back to back as straight-line C++ (the same kernels on the same
//            shapes, no tape, no program): what the step costs with nothing around its kernels;
//   program: the step traced once (tape + trace, as tg.function does) and replayed;
//   tape:    the step run eagerly under a GradientTape (what each call costs without tg.function).
// Each way's weights after the same steps are checked bitwise equal before anything is timed.
// Run: ./bench_replay [batch]
#include <cstdio>
#include <cstdlib>
#include <random>

#include "bench.h"
#include "bench_tensors.h"
#include "tapegrad/autograd/tape.h"
#include "tapegrad/autograd/trace.h"
#include "tapegrad/kernels.h"
#include "tapegrad/ops.h"

using namespace tg;

namespace {

using bench::random_tensor;

struct Model {
  Variable w1, b1, w2, b2;
};

Model make_model() {
  std::mt19937 rng(7);
  return {std::make_shared<VariableImpl>(random_tensor({8, 128}, rng, 0.3f), "w1", true),
          std::make_shared<VariableImpl>(Tensor::zeros(DType::Float32, {128}), "b1", true),
          std::make_shared<VariableImpl>(random_tensor({128, 1}, rng, 0.1f), "w2", true),
          std::make_shared<VariableImpl>(Tensor::zeros(DType::Float32, {1}), "b2", true)};
}

const double kLr = 0.01;

// The step as eager code under a tape: what tg.function traces.
Tensor tape_step(const Model& m, const Tensor& x, const Tensor& y) {
  Tape tape(false, true);
  tape.enter();
  const Tensor h = dense(x, read_variable(m.w1), read_variable(m.b1), true);
  const Tensor p = dense(h, read_variable(m.w2), read_variable(m.b2), false);
  const Tensor loss = reduce_mean(mean_squared_error(y, p));
  tape.exit();
  const std::vector<Variable> vars{m.w1, m.b1, m.w2, m.b2};
  std::vector<Endpoint> sources;
  for (const Variable& v : vars) sources.push_back({Tensor(), v});
  const std::vector<Tensor> grads = tape.gradient({{loss, nullptr}}, sources, {}, false);
  for (std::size_t i = 0; i < vars.size(); ++i)
    assign_variable(vars[i], multiply(grads[i], Tensor::scalar(DType::Float32, kLr)),
                    AssignMode::Subtract);
  return loss;
}

// The same kernels by hand, in the program's order (forward, MSE backward, dense backward, SGD).
Tensor ops_step(const Model& m, const Tensor& x, const Tensor& y, const Tensor& lr,
                const Tensor& inv_n, const Tensor& seed) {
  const Tensor w1 = m.w1->value, b1 = m.b1->value, w2 = m.w2->value, b2 = m.b2->value;
  const Tensor h = dense(x, w1, b1, true);
  const Tensor p = dense(h, w2, b2, false);
  const Tensor per_sample = mean_squared_error(y, p);
  const Tensor loss = multiply(reduce_sum(per_sample), inv_n);
  const Tensor dp = mean_squared_error_grad(seed, y, p);
  const Tensor dh = matmul(dp, w2, false, true);
  const Tensor dw2 = matmul(h, dp, true, false);
  const Tensor db2 = reduce_sum(dp, std::vector<std::int64_t>{0});
  const Tensor dz1 = relu_grad(dh, h);
  const Tensor dw1 = matmul(x, dz1, true, false);
  const Tensor db1 = reduce_sum(dz1, std::vector<std::int64_t>{0});
  m.w1->assign_sub(multiply(lr, dw1));
  m.b1->assign_sub(multiply(lr, db1));
  m.w2->assign_sub(multiply(lr, dw2));
  m.b2->assign_sub(multiply(lr, db2));
  return loss;
}

bool same_weights(const Model& a, const Model& b) {
  const Variable va[] = {a.w1, a.b1, a.w2, a.b2}, vb[] = {b.w1, b.b1, b.w2, b.b2};
  for (int i = 0; i < 4; ++i) {
    const Tensor &x = va[i]->value, &y = vb[i]->value;
    for (std::int64_t k = 0; k < x.size(); ++k)
      if (x.data<float>()[k] != y.data<float>()[k]) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t batch = argc > 1 ? std::atoll(argv[1]) : 32;
  kernels::set_num_threads(1);
  std::mt19937 rng(1);
  const Tensor x = random_tensor({batch, 8}, rng, 1.0f), y = random_tensor({batch, 1}, rng, 1.0f);
  const Tensor lr = Tensor::scalar(DType::Float32, kLr);
  const Tensor inv_n = Tensor::scalar(DType::Float32, 1.0 / static_cast<double>(batch));
  const Tensor seed = Tensor::full(DType::Float32, {batch}, 1.0 / static_cast<double>(batch));

  // Trace one step (it runs, as tg.function's first call does), on its own model.
  Model traced = make_model();
  Trace trace("seed_step", true);
  trace.add_argument(x);
  trace.add_argument(y);
  trace.enter();
  const Tensor loss = tape_step(traced, x, y);
  std::shared_ptr<Program> program = trace.finish({loss});
  std::printf("%s", program->to_string().c_str());

  // Check: 20 steps each way from the same weights give bitwise the same weights.
  Model by_tape = make_model(), by_ops = make_model(), by_program = make_model();
  for (int i = 0; i < 21; ++i) tape_step(by_tape, x, y);
  for (int i = 0; i < 20; ++i) program->run({x, y});  // `traced` already took one step
  by_program = traced;
  for (int i = 0; i < 21; ++i) ops_step(by_ops, x, y, lr, inv_n, seed);
  if (!same_weights(by_tape, by_program)) {
    std::fprintf(stderr, "CHECK FAILED: replayed weights differ from the eager tape's\n");
    return 1;
  }
  if (!same_weights(by_tape, by_ops)) {
    std::fprintf(stderr, "CHECK FAILED: hand-written ops' weights differ from the eager tape's\n");
    return 1;
  }
  std::printf(
      "checked: 21 steps by tape, replay and hand-written ops give bitwise equal weights\n");

  // Time the three ways interleaved, several rounds; report medians and the ratio per round.
  std::vector<double> ops_us, program_us, tape_us;
  for (int round = 0; round < 5; ++round) {
    ops_us.push_back(bench::time_it([&] { ops_step(by_ops, x, y, lr, inv_n, seed); }).median_s *
                     1e6);
    program_us.push_back(bench::time_it([&] { program->run({x, y}); }).median_s * 1e6);
    tape_us.push_back(bench::time_it([&] { tape_step(by_tape, x, y); }).median_s * 1e6);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::vector<double> ratio;
  for (std::size_t i = 0; i < ops_us.size(); ++i) ratio.push_back(program_us[i] / ops_us[i]);
  std::printf("seed step, batch %lld, 1 thread (median of 5 rounds):\n",
              static_cast<long long>(batch));
  std::printf("  ops back to back   %8.2f us\n", median(ops_us));
  std::printf("  program replay     %8.2f us   replay / ops = %.3f (per round: ",
              median(program_us), median(ratio));
  for (double r : ratio) std::printf("%.3f ", r);
  std::printf(")\n  eager tape         %8.2f us   tape / replay = %.2f\n", median(tape_us),
              median(tape_us) / median(program_us));
  return 0;
}
