// GEMM tests: every kernel path against a naive double-accumulating reference, for every ISA this
// CPU runs (others are reported as skipped), plus thread-count invariance, concurrent callers and
// fork safety. A tiny assert harness, no dependencies; the last line reads "N passed, M failed".
#include "check.h"
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tapegrad/gemm.h"

namespace tk = tg::kernels;
using i64 = std::int64_t;

namespace {

using tg_test::check;
using tg_test::g_failed;
int g_skipped = 0;

template <class T>
const char* dtype_name() {
  return sizeof(T) == 4 ? "f32" : "f64";
}

struct Case {
  bool ta, tb;
  i64 M, N, K;
  double alpha, beta;
  i64 pad;         // extra elements in every leading dimension
  bool fused;      // gemm_bias_act instead of gemm
  bool with_bias;  // fused only
  bool relu;       // fused only
};

std::string describe(const Case& c, const char* dt) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%s %s ta=%d tb=%d M=%lld N=%lld K=%lld alpha=%g beta=%g pad=%lld fused=%d "
                "bias=%d relu=%d",
                tk::isa_name(), dt, c.ta, c.tb, (long long)c.M, (long long)c.N, (long long)c.K,
                c.alpha, c.beta, (long long)c.pad, c.fused, c.with_bias, c.relu);
  return buf;
}

template <class T>
std::vector<T> random_vector(i64 n, std::mt19937& rng) {
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<T>(dist(rng));
  return v;
}

// Runs one case and compares every element with the reference within the rigorous worst-case
// rounding bound (K + 3) * eps * (|alpha| sum |a||b| + |beta c| + |bias|): a wrong index or a
// missed tile gives errors of order one, far above it.
template <class T>
void run_case(const Case& c, std::mt19937& rng) {
  const i64 a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K;
  const i64 b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N;
  const i64 lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.N + c.pad;
  auto A = random_vector<T>(std::max<i64>(a_rows * lda, 1), rng);
  auto B = random_vector<T>(std::max<i64>(b_rows * ldb, 1), rng);
  auto bias = random_vector<T>(std::max<i64>(c.N, 1), rng);
  const bool reads_c = !c.fused && c.beta != 0.0;
  std::vector<T> C =
      reads_c ? random_vector<T>(std::max<i64>(c.M * ldc, 1), rng)
              : std::vector<T>(std::max<i64>(c.M * ldc, 1), std::numeric_limits<T>::quiet_NaN());
  const std::vector<T> C0 = C;

  if (c.fused)
    tk::gemm_bias_act<T>(c.ta, c.tb, c.M, c.N, c.K, A.data(), lda, B.data(), ldb,
                         c.with_bias ? bias.data() : nullptr, c.relu, C.data(), ldc);
  else
    tk::gemm<T>(c.ta, c.tb, c.M, c.N, c.K, T(c.alpha), A.data(), lda, B.data(), ldb, T(c.beta),
                C.data(), ldc);

  const double eps = std::numeric_limits<T>::epsilon();
  const double alpha = c.fused ? 1.0 : c.alpha;
  i64 bad = 0;
  char first_bad[160] = "";
  for (i64 i = 0; i < c.M; ++i) {
    for (i64 j = 0; j < c.N; ++j) {
      double sum = 0, mag = 0;
      for (i64 p = 0; p < c.K; ++p) {
        const double a = c.ta ? A[p * lda + i] : A[i * lda + p];
        const double b = c.tb ? B[j * ldb + p] : B[p * ldb + j];
        sum += a * b;
        mag += std::fabs(a * b);
      }
      double ref = alpha * sum, scale = std::fabs(alpha) * mag;
      if (reads_c) {
        ref += c.beta * double(C0[i * ldc + j]);
        scale += std::fabs(c.beta * double(C0[i * ldc + j]));
      }
      if (c.fused && c.with_bias) {
        ref += double(bias[j]);
        scale += std::fabs(double(bias[j]));
      }
      if (c.fused && c.relu) ref = ref < 0 ? 0 : ref;  // relu's rule (NaN would stay NaN)
      const double got = double(C[i * ldc + j]);
      const double tol = (double(c.K) + 3.0) * eps * scale + 1e-30;
      if (!(std::fabs(got - ref) <= tol)) {  // also catches NaN
        if (bad++ == 0)
          std::snprintf(first_bad, sizeof first_bad, " first bad C[%lld,%lld]=%.9g ref=%.9g",
                        (long long)i, (long long)j, got, ref);
      }
    }
    // The padding past each row of C must be untouched.
    for (i64 j = c.N; j < ldc; ++j) {
      const T before = C0[i * ldc + j], after = C[i * ldc + j];
      if (std::memcmp(&before, &after, sizeof(T)) != 0) ++bad;
    }
  }
  check(bad == 0, describe(c, dtype_name<T>()) + " mismatches=" + std::to_string(bad) + first_bad);
}

template <class T>
void test_all_shapes(std::mt19937& rng) {
  const i64 sizes[] = {0, 1, 7, 17, 64, 129};
  // (alpha, beta) pairs cycled across shapes: plain, accumulate, general, beta=0 with alpha != 1,
  // and alpha = 0 (C = beta*C, A and B unread).
  const double ab[][2] = {{1, 0}, {1, 1}, {0.5, -2}, {-1.5, 0}, {0, 0.5}, {2, 0.25}};
  int variant = 0;
  for (i64 M : sizes)
    for (i64 N : sizes)
      for (i64 K : sizes)
        for (int t = 0; t < 4; ++t) {
          const double* v = ab[variant % 6];
          Case c{bool(t & 1), bool(t & 2),           M,     N,     K,    v[0],
                 v[1],        (variant % 3) ? 0 : 3, false, false, false};
          ++variant;
          run_case<T>(c, rng);
        }
  // Larger, non-square, several KC blocks and edge tiles in both directions.
  const i64 big[][3] = {{1000, 129, 300}, {129, 1000, 300}, {300, 257, 1000}, {67, 523, 611}};
  for (auto& s : big)
    for (int t = 0; t < 4; ++t) {
      run_case<T>(Case{bool(t & 1), bool(t & 2), s[0], s[1], s[2], 1, 0, 0, false, false, false},
                  rng);
      run_case<T>(
          Case{bool(t & 1), bool(t & 2), s[0], s[1], s[2], -0.75, 1.5, 7, false, false, false},
          rng);
    }
  // The seed's shapes (direct path) with every transpose.
  const i64 seed[][3] = {{32, 128, 8}, {32, 1, 128}, {1, 64, 64}, {5, 3, 2}};
  for (auto& s : seed)
    for (int t = 0; t < 4; ++t)
      run_case<T>(Case{bool(t & 1), bool(t & 2), s[0], s[1], s[2], 1, 0, 0, false, false, false},
                  rng);
}

template <class T>
void test_fused(std::mt19937& rng) {
  const i64 shapes[][3] = {{32, 128, 8}, {32, 1, 128},   {17, 7, 0},
                           {64, 64, 64}, {129, 65, 300}, {300, 129, 1000}};
  for (auto& s : shapes)
    for (int t = 0; t < 4; ++t)
      for (int flags = 0; flags < 4; ++flags)
        run_case<T>(Case{bool(t & 1), bool(t & 2), s[0], s[1], s[2], 1, 0, (t == 3) ? 2 : 0, true,
                         bool(flags & 1), bool(flags & 2)},
                    rng);
}

// Bit-identical C for 1 and 2 threads (and 3: an odd split) on sizes large enough to be threaded:
// the team path, and the helper-shared one (Note [Helper-shared GEMM]) by row blocks, by panel
// groups (M = 10), over several K blocks (K = 1000) and where one thread takes the unpacked kernel
// (200x128x64).
template <class T>
void test_thread_invariance(std::mt19937& rng) {
  const i64 shapes[][3] = {{512, 512, 512}, {1000, 129, 300}, {37, 2000, 300},
                           {2000, 37, 300}, {259, 263, 700},  {10, 200, 600},
                           {300, 64, 1000}, {128, 128, 128},  {200, 128, 64}};
  for (auto& s : shapes)
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      const i64 M = s[0], N = s[1], K = s[2];
      auto A = random_vector<T>(M * K, rng);
      auto B = random_vector<T>(K * N, rng);
      auto bias = random_vector<T>(N, rng);
      std::vector<std::vector<T>> results;
      for (int threads : {1, 2, 3}) {
        tk::set_num_threads(threads);
        std::vector<T> C(M * N, T(0.5));
        tk::gemm<T>(ta, tb, M, N, K, T(0.7), A.data(), ta ? M : K, B.data(), tb ? K : N, T(-1),
                    C.data(), N);
        std::vector<T> D(M * N);
        tk::gemm_bias_act<T>(ta, tb, M, N, K, A.data(), ta ? M : K, B.data(), tb ? K : N,
                             bias.data(), true, D.data(), N);
        C.insert(C.end(), D.begin(), D.end());
        results.push_back(std::move(C));
      }
      tk::set_num_threads(0);
      char what[160];
      std::snprintf(what, sizeof what, "%s %s thread invariance ta=%d tb=%d %lldx%lldx%lld",
                    tk::isa_name(), dtype_name<T>(), ta, tb, (long long)M, (long long)N,
                    (long long)K);
      const size_t bytes = results[0].size() * sizeof(T);
      check(std::memcmp(results[0].data(), results[1].data(), bytes) == 0 &&
                std::memcmp(results[0].data(), results[2].data(), bytes) == 0,
            what);
    }
}

// Two threads calling GEMM at once: one gets the pool, the other runs alone; both must be right.
void test_concurrent_callers(std::mt19937& rng) {
  const i64 n = 384;
  auto A = random_vector<float>(n * n, rng), B = random_vector<float>(n * n, rng);
  std::vector<float> expected(n * n), C1(n * n), C2(n * n);
  tk::set_num_threads(1);
  tk::gemm<float>(false, false, n, n, n, 1.f, A.data(), n, B.data(), n, 0.f, expected.data(), n);
  tk::set_num_threads(2);
  bool ok = true;
  for (int round = 0; round < 20; ++round) {
    std::thread other([&] {
      tk::gemm<float>(false, false, n, n, n, 1.f, A.data(), n, B.data(), n, 0.f, C2.data(), n);
    });
    tk::gemm<float>(false, false, n, n, n, 1.f, A.data(), n, B.data(), n, 0.f, C1.data(), n);
    other.join();
    ok = ok && std::memcmp(C1.data(), expected.data(), n * n * 4) == 0 &&
         std::memcmp(C2.data(), expected.data(), n * n * 4) == 0;
  }
  tk::set_num_threads(0);
  check(ok, std::string(tk::isa_name()) + " concurrent callers give the 1-thread result");
}

// After fork() the child's pool threads do not exist; a threaded GEMM there must still finish.
void test_fork(std::mt19937& rng) {
  const i64 n = 256;
  auto A = random_vector<double>(n * n, rng), B = random_vector<double>(n * n, rng);
  std::vector<double> C(n * n), expected(n * n);
  tk::set_num_threads(2);
  tk::gemm<double>(false, false, n, n, n, 1.0, A.data(), n, B.data(), n, 0.0, expected.data(), n);
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(20);  // a hang becomes SIGALRM, i.e. a failure, not a stuck test
    tk::gemm<double>(false, false, n, n, n, 1.0, A.data(), n, B.data(), n, 0.0, C.data(), n);
    _exit(std::memcmp(C.data(), expected.data(), n * n * 8) == 0 ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  tk::set_num_threads(0);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "threaded GEMM in a forked child");
}

}  // namespace

int main() {
  std::mt19937 rng(1234);
  std::printf("default ISA: %s, threads: %d\n", tk::isa_name(), tk::num_threads());
  check(!tk::set_isa("no-such-isa"), "set_isa rejects an unknown name");
  // TAPEGRAD_TEST_ONLY_ISA=name limits the per-ISA tests to one ISA (the emulated AVX-512 build
  // uses it: its scalar and AVX2 kernels are the ones test_gemm already covers).
  const char* only = std::getenv("TAPEGRAD_TEST_ONLY_ISA");
  for (const char* isa : {"scalar", "avx2", "avx512"}) {
    if (only && std::strcmp(only, isa) != 0) continue;
    if (!tk::isa_supported(isa)) {
      std::printf("skip: ISA %s is not supported by this CPU/build\n", isa);
      ++g_skipped;
      continue;
    }
    check(tk::set_isa(isa) && std::strcmp(tk::isa_name(), isa) == 0, std::string("set_isa ") + isa);
    const int before = g_failed;
    test_all_shapes<float>(rng);
    test_all_shapes<double>(rng);
    test_fused<float>(rng);
    test_fused<double>(rng);
    test_thread_invariance<float>(rng);
    test_thread_invariance<double>(rng);
    test_concurrent_callers(rng);
    std::printf("ISA %s: %d failures\n", isa, g_failed - before);
  }
  test_fork(rng);
  std::printf("%d ISA(s) skipped\n", g_skipped);
  return tg_test::finish();
}
