// GEMM GFLOP/s by dtype, shape, transposes and thread count, on the ISA the library dispatched to
// (TAPEGRAD_ISA=scalar|avx2|avx512 forces one). Every shape is checked against a naive
// double-accumulating reference before it is timed. Also prints the core's clock-bound FMA peak
// and, for small shapes, a naive -O3 loop for scale.
//   usage: bench_gemm [--quick] [--all-isas]   (--quick skips 2048; --all-isas repeats the tables
//          for every ISA this CPU runs, switched in-process with set_isa)
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench.h"
#include "tapegrad/gemm.h"

namespace tk = tg::kernels;
using i64 = std::int64_t;

#if defined(TAPEGRAD_BENCH_FMA_PEAK)
namespace tg::bench {
float fma_peak_avx2_f32(std::int64_t iters);
float fma_peak_avx512_f32(std::int64_t iters);
}  // namespace tg::bench
#endif

namespace {

struct Shape {
  i64 M, K, N;
  bool ta, tb;
};

std::string shape_name(const Shape& s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lldx%lldx%lld %s%s", (long long)s.M, (long long)s.K,
                (long long)s.N, s.ta ? "T" : "N", s.tb ? "T" : "N");
  return buf;
}

// The naive loop a user would write (i-k-j order, so the inner loop vectorizes), for scale.
template <class T>
void naive_gemm(const Shape& s, const T* A, const T* B, T* C) {
  for (i64 i = 0; i < s.M * s.N; ++i) C[i] = T(0);
  for (i64 i = 0; i < s.M; ++i)
    for (i64 p = 0; p < s.K; ++p) {
      const T a = s.ta ? A[p * s.M + i] : A[i * s.K + p];
      T* c = C + i * s.N;
      if (!s.tb) {
        const T* b = B + p * s.N;
        for (i64 j = 0; j < s.N; ++j) c[j] += a * b[j];
      } else {
        for (i64 j = 0; j < s.N; ++j) c[j] += a * B[j * s.K + p];
      }
    }
}

template <class T>
void run_gemm(const Shape& s, const T* A, const T* B, T* C) {
  tk::gemm<T>(s.ta, s.tb, s.M, s.N, s.K, T(1), A, s.ta ? s.M : s.K, B, s.tb ? s.K : s.N, T(0), C,
              s.N);
}

// Checks rows spread over C (all rows when small) against a double-accumulating reference.
template <class T>
bool check_gemm(const Shape& s, const std::vector<T>& A, const std::vector<T>& B,
                const std::vector<T>& C) {
  const i64 row_step = s.M <= 64 ? 1 : s.M / 37 + 1;
  std::vector<double> ref, scale;
  std::vector<T> got;
  for (i64 i = 0; i < s.M; i += row_step)
    for (i64 j = 0; j < s.N; ++j) {
      double sum = 0, mag = 0;
      for (i64 p = 0; p < s.K; ++p) {
        const double a = s.ta ? A[p * s.M + i] : A[i * s.K + p];
        const double b = s.tb ? B[j * s.K + p] : B[p * s.N + j];
        sum += a * b;
        mag += std::fabs(a * b);
      }
      ref.push_back(sum);
      scale.push_back(mag);
      got.push_back(C[i * s.N + j]);
    }
  const double eps = sizeof(T) == 4 ? 1.2e-7 : 2.3e-16;
  return tg::bench::check_close(got.data(), ref.data(), scale.data(), i64(got.size()),
                                (s.K + 2) * eps, shape_name(s).c_str());
}

double g_peak_f32 = 0;  // measured FMA peak of one core, by thread CPU time (0: not measured)

double thread_cpu_s() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// Median seconds per call of f() by this thread's CPU time: on a machine shared with other jobs
// the wall clock also counts the time slices they take; CPU time does not (their cache and memory
// traffic still shows). Meaningful for single-threaded calls only.
template <class F>
double cpu_time_median(F&& f, int calls, int samples = 7) {
  std::vector<double> per_call;
  for (int r = 0; r < samples; ++r) {
    const double t0 = thread_cpu_s();
    for (int i = 0; i < calls; ++i) f();
    per_call.push_back((thread_cpu_s() - t0) / calls);
  }
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
}

template <class T>
int bench_dtype(const std::vector<Shape>& shapes, const char* dtype) {
  const double peak = sizeof(T) == 4 ? g_peak_f32 : g_peak_f32 / 2;
  std::printf(
      "\n%s on %s  (GFLOP/s, median of 7; 2T/1T = thread scaling; 1T by CPU = 1 thread by "
      "thread CPU time; %%peak = that vs the one-core FMA peak by CPU time)\n",
      dtype, tk::isa_name());
  std::printf("%-20s %10s %10s %7s %10s %7s %12s\n", "M x K x N  op", "1 thread", "2 threads",
              "2T/1T", "1T by CPU", "%peak", "naive loop");
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> dist(-1, 1);
  int failures = 0;
  for (const Shape& s : shapes) {
    std::vector<T> A(s.M * s.K), B(s.K * s.N), C(s.M * s.N);
    for (auto& x : A) x = T(dist(rng));
    for (auto& x : B) x = T(dist(rng));
    const double flops = 2.0 * s.M * s.N * s.K;
    double gflops[2] = {0, 0}, gflops_cpu = 0;
    bool ok = true;
    for (int t = 0; t < 2 && ok; ++t) {
      tk::set_num_threads(t + 1);
      std::fill(C.begin(), C.end(), T(0));
      run_gemm(s, A.data(), B.data(), C.data());
      ok = check_gemm(s, A, B, C);  // check first, then time
      if (!ok) break;
      const auto timing = tg::bench::time_it([&] {
        run_gemm(s, A.data(), B.data(), C.data());
        tg::bench::do_not_optimize(C[0]);
      });
      gflops[t] = flops / timing.median_s * 1e-9;
      if (t == 0) {
        const double cpu_s = cpu_time_median(
            [&] {
              run_gemm(s, A.data(), B.data(), C.data());
              tg::bench::do_not_optimize(C[0]);
            },
            timing.calls_per_sample);
        gflops_cpu = flops / cpu_s * 1e-9;
      }
    }
    tk::set_num_threads(0);
    if (!ok) {
      std::printf("%-20s CHECK FAILED\n", shape_name(s).c_str());
      ++failures;
      continue;
    }
    char naive[32] = "";
    if (s.M * s.N * s.K <= 256LL * 256 * 256) {
      std::vector<T> Cn(s.M * s.N);
      const auto timing = tg::bench::time_it([&] {
        naive_gemm(s, A.data(), B.data(), Cn.data());
        tg::bench::do_not_optimize(Cn[0]);
      });
      std::snprintf(naive, sizeof naive, "%12.2f", flops / timing.median_s * 1e-9);
    }
    char pct[16] = "      -";
    if (peak > 0) std::snprintf(pct, sizeof pct, "%6.1f%%", 100.0 * gflops_cpu / peak);
    std::printf("%-20s %10.2f %10.2f %7.2f %10.2f %s %s\n", shape_name(s).c_str(), gflops[0],
                gflops[1], gflops[1] / gflops[0], gflops_cpu, pct, naive);
    std::fflush(stdout);
  }
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, all_isas = false;
  for (int i = 1; i < argc; ++i) {
    quick = quick || std::strcmp(argv[i], "--quick") == 0;
    all_isas = all_isas || std::strcmp(argv[i], "--all-isas") == 0;
  }
  std::printf("tapegrad GEMM benchmark: ISA %s, default threads %d\n", tk::isa_name(),
              tk::num_threads());
#if defined(TAPEGRAD_BENCH_FMA_PEAK)
  {  // clock-bound peak of one core, f32: flops per call = iters * chains * lanes * 2
    const bool avx512 = std::strcmp(tk::isa_name(), "avx512") == 0;
    const bool avx2 = avx512 || std::strcmp(tk::isa_name(), "avx2") == 0;
    if (avx2) {
      const i64 iters = 2000000;
      const double flops = double(iters) * (avx512 ? 24 * 16 : 12 * 8) * 2;
      const auto timing = tg::bench::time_it([&] {
        float r =
            avx512 ? tg::bench::fma_peak_avx512_f32(iters) : tg::bench::fma_peak_avx2_f32(iters);
        tg::bench::do_not_optimize(r);
      });
      const double peak = flops / timing.min_s * 1e-9;
      const double peak_cpu = flops /
                              cpu_time_median(
                                  [&] {
                                    float r = avx512 ? tg::bench::fma_peak_avx512_f32(iters)
                                                     : tg::bench::fma_peak_avx2_f32(iters);
                                    tg::bench::do_not_optimize(r);
                                  },
                                  timing.calls_per_sample) *
                              1e-9;
      g_peak_f32 = peak_cpu;
      std::printf(
          "FMA peak, one core (%s loop): %.1f GFLOP/s f32 (%.1f by thread CPU time), "
          "f64 half of that\n",
          avx512 ? "512-bit" : "256-bit", peak, peak_cpu);
    }
  }
#endif
  std::vector<Shape> shapes;
  for (i64 n : {64, 128, 256, 512, 1024, 2048})
    if (!(quick && n > 1024)) shapes.push_back({n, n, n, false, false});
  for (i64 n : {512, 1024}) {  // matmul's VJP shapes: A^T B and A B^T
    shapes.push_back({n, n, n, true, false});
    shapes.push_back({n, n, n, false, true});
  }
  // The 784-1024-1024-10 MLP at batch 256: forward x @ W, backward x^T @ dz and dz @ W^T.
  shapes.push_back({256, 784, 1024, false, false});
  shapes.push_back({256, 1024, 1024, false, false});
  shapes.push_back({784, 256, 1024, true, false});
  shapes.push_back({256, 1024, 1024, false, true});
  // The seed notebook's shapes (M x K x N): a batch-32 Dense layer 8 -> 128, and 128 -> 1.
  for (bool ta : {false, true}) {
    shapes.push_back({32, 8, 128, ta, false});
    shapes.push_back({32, 128, 1, ta, false});
  }
  shapes.push_back({32, 8, 128, false, true});
  shapes.push_back({32, 128, 1, false, true});
  int failures = 0;
  const std::string default_isa = tk::isa_name();
  for (const char* isa : {"avx512", "avx2", "scalar"}) {
    if (all_isas ? !tk::set_isa(isa) : default_isa != isa) continue;
    failures += bench_dtype<float>(shapes, "float32");
    failures += bench_dtype<double>(shapes, "float64");
  }
  tk::set_isa(default_isa.c_str());
  return failures == 0 ? 0 : 1;
}
