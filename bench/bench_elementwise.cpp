// relu forward, relu forward+backward and MSE forward+backward on 1e7 float32, through the ops
// (fresh outputs from the storage cache, as from Python), per ISA and thread count. Each is
// checked against a double reference before it is timed. GB/s counts the bytes each pass must
// move (inputs read + outputs written): relu 80 MB, relu fwd+bwd 200 MB, MSE fwd+bwd 200 MB.
//   usage: bench_elementwise [n]        (TAPEGRAD_ISA / set_isa pick the ISA; all are tried)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "bench.h"
#include "tapegrad/gemm.h"
#include "tapegrad/ops.h"

namespace tk = tg::kernels;
using tg::Tensor;
using i64 = std::int64_t;

namespace {

Tensor filled(i64 n, std::uint32_t seed) {
  Tensor t = Tensor::empty(tg::DType::Float32, {n});
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  float* p = t.mutable_data<float>();
  for (i64 i = 0; i < n; ++i) p[i] = u(rng);
  return t;
}

bool check_relu(const Tensor& x, const Tensor& y) {
  for (i64 i = 0; i < x.size(); ++i) {
    const float v = x.data<float>()[i];
    if (y.data<float>()[i] != (v < 0.f ? 0.f : v)) {
      std::fprintf(stderr, "CHECK FAILED relu at %lld\n", (long long)i);
      return false;
    }
  }
  return true;
}

bool check_relu_grad(const Tensor& g, const Tensor& x, const Tensor& dx) {
  for (i64 i = 0; i < x.size(); ++i)
    if (dx.data<float>()[i] != (x.data<float>()[i] > 0.f ? g.data<float>()[i] : 0.f)) {
      std::fprintf(stderr, "CHECK FAILED relu_grad at %lld\n", (long long)i);
      return false;
    }
  return true;
}

bool check_mse(const Tensor& t, const Tensor& p, const Tensor& loss, const Tensor& dp) {
  const i64 n = t.size();
  double s = 0;
  for (i64 i = 0; i < n; ++i) {
    const double d = double(p.data<float>()[i]) - t.data<float>()[i];
    s += d * d;
  }
  const double want = s / double(n), one = 1.0;
  if (!tg::bench::check_close(loss.data<float>(), &want, &one, 1, 1e-5 * want, "mse")) return false;
  for (i64 i = 0; i < n; ++i) {
    const double want_d = 2.0 * (double(p.data<float>()[i]) - t.data<float>()[i]) / double(n);
    const double scale = std::fabs(want_d) + 1e-12;
    if (!tg::bench::check_close(dp.data<float>() + i, &want_d, &scale, 1, 1e-5, "mse_grad"))
      return false;
  }
  return true;
}

void row(const char* isa, int threads, const char* what, double bytes, tg::bench::Timing t) {
  std::printf("  %-7s %d thr  %-22s %8.3f ms  (best %7.3f)  %6.1f GB/s\n", isa, threads, what,
              t.median_s * 1e3, t.min_s * 1e3, bytes / t.median_s * 1e-9);
}

}  // namespace

int main(int argc, char** argv) {
  const i64 n = argc > 1 ? std::atoll(argv[1]) : 10'000'000;
  std::printf("elementwise ops on %lld float32 (fresh outputs), median of 7 samples\n",
              (long long)n);
  const Tensor x = filled(n, 1), g = filled(n, 2), t = filled(n, 3), p = filled(n, 4);
  const Tensor one = Tensor::full(tg::DType::Float32, {}, 1.0);
  const double fb = 4.0 * double(n);
  bool ok = true;
  {  // the machine's scale: a plain copy into a fresh (cached) buffer, as the issue quotes
    tg::bench::Timing c = tg::bench::time_it([&] {
      Tensor y = Tensor::empty(tg::DType::Float32, {n});
      std::memcpy(y.raw_mutable(), x.raw(), x.nbytes());
      tg::bench::do_not_optimize(y);
    });
    row("-", 1, "memcpy (scale)", 2 * fb, c);
  }
  for (const char* isa : {"scalar", "avx2", "avx512"}) {
    if (!tk::set_isa(isa)) {
      std::printf("  %-7s not supported by this CPU: skipped\n", isa);
      continue;
    }
    for (int threads : {1, 2}) {
      tk::set_num_threads(threads);
      // Checked first, then timed.
      ok &= check_relu(x, tg::relu(x));
      ok &= check_relu_grad(g, x, tg::relu_grad(g, x));
      ok &= check_mse(t, p, tg::mean_squared_error(t, p), tg::mean_squared_error_grad(one, t, p));
      if (!ok) return 1;
      row(isa, threads, "relu fwd", 2 * fb, tg::bench::time_it([&] {
            Tensor y = tg::relu(x);
            tg::bench::do_not_optimize(y);
          }));
      row(isa, threads, "relu fwd+bwd", 5 * fb, tg::bench::time_it([&] {
            Tensor y = tg::relu(x);
            Tensor dx = tg::relu_grad(g, x);
            tg::bench::do_not_optimize(y);
            tg::bench::do_not_optimize(dx);
          }));
      row(isa, threads, "mse fwd+bwd", 5 * fb, tg::bench::time_it([&] {
            Tensor loss = tg::mean_squared_error(t, p);
            Tensor dp = tg::mean_squared_error_grad(one, t, p);
            tg::bench::do_not_optimize(loss);
            tg::bench::do_not_optimize(dp);
          }));
    }
  }
  return ok ? 0 : 1;
}
