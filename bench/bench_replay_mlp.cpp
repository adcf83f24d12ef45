// A compiled MLP step against the core's FMA peak: bench/bench_replay.cpp's three ways (program
// replay, the same ops back to back, the eager tape) for the 784-1024-1024-10 MLP at batch 256
// (dense + relu, dense + relu, dense, MSE against one-hot targets, SGD 0.01), one thread, with
// GFLOP/s and percent of the one-core FMA peak measured in the same run (bench/fma_peak_*.cpp, the
// probe of the ISA the kernels dispatched to, as bench/bench_gemm.cpp does).
// FLOPs per step count 3x the forward GEMMs' 2*B*K*N (forward, dX, dW). The first layer's dX is
// not computed (x is no variable), so the kernels do 2*B*784*W fewer than the count says.
// Every way's weights after the same steps are checked bitwise equal before anything is timed.
//   ./bench_replay_mlp [batch]    the three ways, default batch 256
//   ./bench_replay_mlp --scaling  CSV on stdout of the replayed step against batch (32..4096 at
//                                 width 1024) and width (64..2048 at batch 256) of 784-W-W-10;
//                                 bench/plot_scaling.py draws it
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench.h"
#include "bench_tensors.h"
#include "tapegrad/autograd/tape.h"
#include "tapegrad/autograd/trace.h"
#include "tapegrad/gemm.h"
#include "tapegrad/ops.h"

#if defined(TAPEGRAD_BENCH_FMA_PEAK)
namespace tg::bench {
float fma_peak_avx2_f32(std::int64_t iters);
float fma_peak_avx512_f32(std::int64_t iters);
}  // namespace tg::bench
#endif

using namespace tg;

namespace {

const double kLr = 0.01;
const std::int64_t kInputs = 784, kClasses = 10;

using bench::random_tensor;

struct Model {
  std::vector<Variable> vars;  // w1, b1, w2, b2, w3, b3
};

Model make_model(std::int64_t width) {
  std::mt19937 rng(7);
  const std::int64_t sizes[] = {kInputs, width, width, kClasses};
  Model m;
  for (int layer = 0; layer < 3; ++layer) {
    const std::int64_t in = sizes[layer], out = sizes[layer + 1];
    const float scale = 1.0f / std::sqrt(static_cast<float>(in));
    const std::string n = std::to_string(layer + 1);
    m.vars.push_back(
        std::make_shared<VariableImpl>(random_tensor({in, out}, rng, scale), "w" + n, true));
    m.vars.push_back(
        std::make_shared<VariableImpl>(Tensor::zeros(DType::Float32, {out}), "b" + n, true));
  }
  return m;
}

double step_flops(std::int64_t batch, std::int64_t width) {
  return 6.0 * static_cast<double>(batch) *
         static_cast<double>(kInputs * width + width * width + width * kClasses);
}

// The step as eager code under a tape: what tg.function traces.
Tensor tape_step(const Model& m, const Tensor& x, const Tensor& y) {
  Tape tape(false, true);
  tape.enter();
  std::vector<Tensor> w;
  for (const Variable& v : m.vars) w.push_back(read_variable(v));
  const Tensor h1 = dense(x, w[0], w[1], true);
  const Tensor h2 = dense(h1, w[2], w[3], true);
  const Tensor p = dense(h2, w[4], w[5], false);
  const Tensor loss = reduce_mean(mean_squared_error(y, p));
  tape.exit();
  std::vector<Endpoint> sources;
  for (const Variable& v : m.vars) sources.push_back({Tensor(), v});
  const std::vector<Tensor> grads = tape.gradient({{loss, nullptr}}, sources, {}, false);
  for (std::size_t i = 0; i < m.vars.size(); ++i)
    assign_variable(m.vars[i], multiply(grads[i], Tensor::scalar(DType::Float32, kLr)),
                    AssignMode::Subtract);
  return loss;
}

// The same kernels by hand (dense's VJP in cpp/src/ops/linalg.cpp, layer by layer backwards).
struct Constants {
  Tensor lr, inv_n, seed;
};

Tensor ops_step(const Model& m, const Tensor& x, const Tensor& y, const Constants& c) {
  const Tensor w1 = m.vars[0]->value, b1 = m.vars[1]->value, w2 = m.vars[2]->value,
               b2 = m.vars[3]->value, w3 = m.vars[4]->value, b3 = m.vars[5]->value;
  const Tensor h1 = dense(x, w1, b1, true);
  const Tensor h2 = dense(h1, w2, b2, true);
  const Tensor p = dense(h2, w3, b3, false);
  const Tensor loss = multiply(reduce_sum(mean_squared_error(y, p)), c.inv_n);
  const Tensor dp = mean_squared_error_grad(c.seed, y, p);
  const Tensor dh2 = matmul(dp, w3, false, true);
  const Tensor dw3 = matmul(h2, dp, true, false);
  const Tensor db3 = reduce_sum(dp, std::vector<std::int64_t>{0});
  const Tensor dz2 = relu_grad(dh2, h2);
  const Tensor dh1 = matmul(dz2, w2, false, true);
  const Tensor dw2 = matmul(h1, dz2, true, false);
  const Tensor db2 = reduce_sum(dz2, std::vector<std::int64_t>{0});
  const Tensor dz1 = relu_grad(dh1, h1);
  const Tensor dw1 = matmul(x, dz1, true, false);
  const Tensor db1 = reduce_sum(dz1, std::vector<std::int64_t>{0});
  const Tensor grads[] = {dw1, db1, dw2, db2, dw3, db3};
  for (int i = 0; i < 6; ++i) m.vars[i]->assign_sub(multiply(c.lr, grads[i]));
  return loss;
}

bool same_weights(const Model& a, const Model& b) {
  for (std::size_t i = 0; i < a.vars.size(); ++i) {
    const Tensor &x = a.vars[i]->value, &y = b.vars[i]->value;
    for (std::int64_t k = 0; k < x.size(); ++k)
      if (x.data<float>()[k] != y.data<float>()[k]) return false;
  }
  return true;
}

struct Batch {
  Tensor x, y;
};

Batch make_batch(std::int64_t batch) {
  std::mt19937 rng(1);
  Batch b{random_tensor({batch, kInputs}, rng, 1.0f),
          Tensor::zeros(DType::Float32, {batch, kClasses})};
  std::uniform_int_distribution<int> label(0, kClasses - 1);
  for (std::int64_t i = 0; i < batch; ++i)
    b.y.mutable_data<float>()[i * kClasses + label(rng)] = 1.0f;
  return b;
}

std::shared_ptr<Program> trace_step(const Model& m, const Batch& b) {
  Trace trace("mlp_step", true);
  trace.add_argument(b.x);
  trace.add_argument(b.y);
  trace.enter();
  const Tensor loss = tape_step(m, b.x, b.y);
  return trace.finish({loss});
}

// Traces on one model, then checks that `steps` replays on it equal steps + 1 tape steps on a
// fresh model bitwise (the trace ran one). Returns the program, or null when they differ.
std::shared_ptr<Program> traced_and_checked(Model& traced, const Batch& b, int steps) {
  std::shared_ptr<Program> program = trace_step(traced, b);
  Model by_tape = make_model(traced.vars[0]->value.shape()[1]);
  for (int i = 0; i < steps + 1; ++i) tape_step(by_tape, b.x, b.y);
  for (int i = 0; i < steps; ++i) program->run({b.x, b.y});
  return same_weights(by_tape, traced) ? program : nullptr;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The clock-bound f32 FMA peak of one core in GFLOP/s on the ISA the kernels use (0 when none).
double fma_peak_gflops() {
#if defined(TAPEGRAD_BENCH_FMA_PEAK)
  const bool avx512 = std::strcmp(kernels::isa_name(), "avx512") == 0;
  const bool avx2 = std::strcmp(kernels::isa_name(), "avx2") == 0;
  if (!avx512 && !avx2) return 0;
  const std::int64_t iters = 2000000;
  const double flops = static_cast<double>(iters) * (avx512 ? 24 * 16 : 12 * 8) * 2;
  const auto timing = bench::time_it([&] {
    const float r = avx512 ? bench::fma_peak_avx512_f32(iters) : bench::fma_peak_avx2_f32(iters);
    bench::do_not_optimize(r);
  });
  return flops / timing.min_s * 1e-9;  // best sample: the ceiling, least disturbed by neighbours
#else
  return 0;
#endif
}

int three_ways(std::int64_t batch) {
  const std::int64_t width = 1024;
  const Batch b = make_batch(batch);
  const Constants c{Tensor::scalar(DType::Float32, kLr),
                    Tensor::scalar(DType::Float32, 1.0 / static_cast<double>(batch)),
                    Tensor::full(DType::Float32, {batch}, 1.0 / static_cast<double>(batch))};

  Model by_program = make_model(width);
  std::shared_ptr<Program> program = traced_and_checked(by_program, b, 2);
  if (!program) {
    std::fprintf(stderr, "CHECK FAILED: replayed weights differ from the eager tape's\n");
    return 1;
  }
  std::printf("%s", program->to_string().c_str());
  Model by_tape = make_model(width), by_ops = make_model(width);
  for (int i = 0; i < 3; ++i) {
    tape_step(by_tape, b.x, b.y);
    ops_step(by_ops, b.x, b.y, c);
  }
  if (!same_weights(by_tape, by_ops)) {
    std::fprintf(stderr, "CHECK FAILED: hand-written ops' weights differ from the eager tape's\n");
    return 1;
  }
  std::printf("checked: 3 steps by tape, replay and hand-written ops give bitwise equal weights\n");

  // The peak is measured in every round beside the steps: on a shared machine it moves with the
  // neighbours' load, and a percentage means something only against the peak of the same moment.
  std::vector<double> peak_gflops, ops_s, program_s, tape_s;
  for (int round = 0; round < 5; ++round) {
    peak_gflops.push_back(fma_peak_gflops());
    ops_s.push_back(bench::time_it([&] { ops_step(by_ops, b.x, b.y, c); }, 5, 0.1, 1).median_s);
    program_s.push_back(bench::time_it([&] { program->run({b.x, b.y}); }, 5, 0.1, 1).median_s);
    tape_s.push_back(bench::time_it([&] { tape_step(by_tape, b.x, b.y); }, 5, 0.1, 1).median_s);
  }
  const double flops = step_flops(batch, width);
  auto per_round = [](const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> r;
    for (std::size_t i = 0; i < a.size(); ++i) r.push_back(a[i] / b[i]);
    return median(r);
  };
  std::printf(
      "MLP 784-%lld-%lld-10, batch %lld, 1 thread, ISA %s, %.2f GFLOP/step (median of 5 rounds)\n",
      static_cast<long long>(width), static_cast<long long>(width), static_cast<long long>(batch),
      kernels::isa_name(), flops * 1e-9);
  const double peak = median(peak_gflops);
  if (peak > 0)
    std::printf("  FMA peak, one core  %8.1f GFLOP/s (rounds: %.1f .. %.1f)\n", peak,
                *std::min_element(peak_gflops.begin(), peak_gflops.end()),
                *std::max_element(peak_gflops.begin(), peak_gflops.end()));
  auto row = [&](const char* name, const std::vector<double>& seconds) {
    const double s = median(seconds);
    std::printf("  %-18s %8.2f ms %7.1f GFLOP/s", name, s * 1e3, flops / s * 1e-9);
    if (peak > 0) {  // each round's GFLOP/s against that round's peak
      std::vector<double> gflops;
      for (double t : seconds) gflops.push_back(flops / t * 1e-9);
      std::printf(" %5.1f%% of peak", 100.0 * per_round(gflops, peak_gflops));
    }
  };
  row("ops back to back", ops_s);
  std::printf("\n");
  row("program replay", program_s);
  std::printf("   replay / ops = %.3f\n", per_round(program_s, ops_s));
  row("eager tape", tape_s);
  std::printf("   tape / replay = %.3f\n", per_round(tape_s, program_s));
  return 0;
}

// One CSV row per size: the replayed step's median time and GFLOP/s, and the FMA peak measured
// right after it.
int scaling() {
  std::printf("sweep,batch,width,gflop_per_step,ms_per_step,gflops,fma_peak_gflops\n");
  struct Size {
    const char* sweep;
    std::int64_t batch, width;
  };
  std::vector<Size> sizes;
  for (std::int64_t batch = 32; batch <= 4096; batch *= 2) sizes.push_back({"batch", batch, 1024});
  for (std::int64_t width = 64; width <= 2048; width *= 2) sizes.push_back({"width", 256, width});
  for (const Size& s : sizes) {
    const Batch b = make_batch(s.batch);
    Model model = make_model(s.width);
    std::shared_ptr<Program> program = traced_and_checked(model, b, 1);
    if (!program) {
      std::fprintf(stderr, "CHECK FAILED: batch %lld width %lld: replay differs from the tape\n",
                   static_cast<long long>(s.batch), static_cast<long long>(s.width));
      return 1;
    }
    const double seconds = bench::time_it([&] { program->run({b.x, b.y}); }, 5, 0.05, 1).median_s;
    const double peak = fma_peak_gflops();  // beside each row: the neighbours' load moves it
    const double flops = step_flops(s.batch, s.width);
    std::printf("%s,%lld,%lld,%.4f,%.4f,%.2f,%.2f\n", s.sweep, static_cast<long long>(s.batch),
                static_cast<long long>(s.width), flops * 1e-9, seconds * 1e3,
                flops / seconds * 1e-9, peak);
    std::fflush(stdout);
  }
  std::fprintf(stderr, "checked: every size's replay equals the eager tape bitwise after 1 step\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  kernels::set_num_threads(1);
  if (argc > 1 && std::strcmp(argv[1], "--scaling") == 0) return scaling();
  return three_ways(argc > 1 ? std::atoll(argv[1]) : 256);
}
