// Threaded kernels called after the caller has been busy elsewhere: per-call time of a GEMM and a
// relu on 1 and 2 threads, back to back and after a busy gap (the pool's worker has gone to sleep,
// and on a VM its vCPU may have halted: a wake-up then takes far longer). With run_helpers
// (threadpool.h) a late worker should never make 2 threads slower than 1.
//   usage: bench_threads [gap_us ...]   (default gaps: 0 and 2000)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <vector>

#include "tapegrad/gemm.h"
#include "tapegrad/ops.h"
#include "tapegrad/tensor.h"

namespace {

using clk = std::chrono::steady_clock;
using i64 = std::int64_t;

// Median microseconds per call of f(), each call after `gap_us` of busy waiting on this thread.
double median_call_us(const std::function<void()>& f, int gap_us, int calls = 201) {
  std::vector<double> per_call;
  f();
  for (int i = 0; i < calls; ++i) {
    const auto until = clk::now() + std::chrono::microseconds(gap_us);
    while (clk::now() < until) {
    }
    const auto t0 = clk::now();
    f();
    per_call.push_back(std::chrono::duration<double, std::micro>(clk::now() - t0).count());
  }
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
}

// C = A B for n x n A = 1/2, B = 1/4 everywhere: every element is n/8 exactly.
bool gemm_ok(const std::vector<float>& c, i64 n) {
  for (float v : c)
    if (v != float(n) / 8) return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> gaps;
  for (int i = 1; i < argc; ++i) gaps.push_back(std::atoi(argv[i]));
  if (gaps.empty()) gaps = {0, 2000};

  const i64 relu_n = i64(1) << 19;  // above the elementwise threading threshold (2^17)
  const tg::Tensor x = tg::Tensor::full(tg::DType::Float32, {relu_n}, -0.5);
  struct Case {
    const char* name;
    std::function<void()> run;
    std::function<bool()> ok;
  };
  std::vector<Case> cases;
  for (i64 n : {128, 256}) {
    auto a = std::make_shared<std::vector<float>>(n * n, 0.5f);
    auto b = std::make_shared<std::vector<float>>(n * n, 0.25f);
    auto c = std::make_shared<std::vector<float>>(n * n);
    cases.push_back({n == 128 ? "gemm 128^3" : "gemm 256^3",
                     [=] {
                       tg::kernels::gemm<float>(false, false, n, n, n, 1.f, a->data(), n, b->data(),
                                                n, 0.f, c->data(), n);
                     },
                     [=] { return gemm_ok(*c, n); }});
  }
  cases.push_back({"relu 2^19", [&] { (void)tg::relu(x); },
                   [&] {
                     const tg::Tensor y = tg::relu(x);
                     const float* p = y.data<float>();
                     return std::all_of(p, p + relu_n, [](float v) { return v == 0.0f; });
                   }});

  std::printf("threaded kernels after a busy gap: median us per call (201 calls)\n");
  int failures = 0;
  for (const Case& c : cases) {
    for (int threads : {1, 2}) {  // check under both thread counts before timing
      tg::kernels::set_num_threads(threads);
      c.run();
      if (!c.ok()) {
        std::fprintf(stderr, "CHECK FAILED %s on %d threads\n", c.name, threads);
        ++failures;
      }
    }
    for (int gap : gaps) {
      double us[2];
      for (int threads : {1, 2}) {
        tg::kernels::set_num_threads(threads);
        us[threads - 1] = median_call_us(c.run, gap);
      }
      std::printf("%-11s gap %5d us: 1 thread %8.1f  2 threads %8.1f  (1T/2T %.2f)\n", c.name, gap,
                  us[0], us[1], us[0] / us[1]);
    }
  }
  tg::kernels::set_num_threads(0);
  return failures ? 1 : 0;
}
