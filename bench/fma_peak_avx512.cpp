// As fma_peak_avx2.cpp, with 512-bit FMAs (24 independent chains). Compiled with AVX-512 flags,
// x86-64 only; called only when the CPU has AVX-512F.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

namespace tg::bench {

float fma_peak_avx512_f32(std::int64_t iters) {
  __m512 acc[24];
  for (int i = 0; i < 24; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
  for (std::int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < 24; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 24; ++i) s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

}  // namespace tg::bench
#endif
