// The clock-bound FMA peak of one core: a loop of independent FMAs with no memory traffic, so the
// GEMM table can say how close it gets. Compiled with -mavx2 -mfma (bench/CMakeLists.txt), x86-64
// only; called only when the CPU has AVX2+FMA.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

namespace tg::bench {

// Runs `iters` rounds of 12 independent 8-float FMAs; returns a value that depends on all of them.
float fma_peak_avx2_f32(std::int64_t iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  for (std::int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  }
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  return _mm256_cvtss_f32(s);
}

}  // namespace tg::bench
#endif
