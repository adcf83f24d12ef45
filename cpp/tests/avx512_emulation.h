// Test-only: the handful of AVX-512F intrinsics gemm_ukernel_avx512_12x32.cpp uses, emulated with
// pairs of AVX2 vectors (same lane order, same FMA rounding), so the AVX-512 kernels' logic
// (indexing, strides, epilogue, the 64-byte alignment of packed panels) is tested on CPUs without
// AVX-512. Force-included (-include) before the kernel file: its own <immintrin.h> is then a
// no-op and the macros below rename every _mm512_ call it makes. It proves the kernel's
// arithmetic, not the real instructions' encoding: that needs an AVX-512 machine.
#pragma once
#include <immintrin.h>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
namespace {
struct shim_m512 {
  __m256 lo, hi;
};
struct shim_m512d {
  __m256d lo, hi;
};
inline void shim_check_align(const void* p) {
  if (reinterpret_cast<std::uintptr_t>(p) % 64) {
    std::fprintf(stderr, "avx512 emulation: misaligned _mm512_load (packing contract broken)\n");
    std::abort();
  }
}
inline shim_m512 shim_setzero_ps() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
inline shim_m512 shim_set1_ps(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
inline shim_m512 shim_load_ps(const float* p) {
  shim_check_align(p);
  return {_mm256_load_ps(p), _mm256_load_ps(p + 8)};
}
inline shim_m512 shim_loadu_ps(const float* p) {
  return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
}
inline void shim_storeu_ps(float* p, shim_m512 v) {
  _mm256_storeu_ps(p, v.lo);
  _mm256_storeu_ps(p + 8, v.hi);
}
inline shim_m512 shim_fmadd_ps(shim_m512 a, shim_m512 b, shim_m512 c) {
  return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
inline shim_m512 shim_mul_ps(shim_m512 a, shim_m512 b) {
  return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)};
}
inline shim_m512 shim_add_ps(shim_m512 a, shim_m512 b) {
  return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)};
}
inline shim_m512 shim_max_ps(shim_m512 a, shim_m512 b) {
  return {_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)};
}
inline shim_m512d shim_setzero_pd() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
inline shim_m512d shim_set1_pd(double x) { return {_mm256_set1_pd(x), _mm256_set1_pd(x)}; }
inline shim_m512d shim_load_pd(const double* p) {
  shim_check_align(p);
  return {_mm256_load_pd(p), _mm256_load_pd(p + 4)};
}
inline shim_m512d shim_loadu_pd(const double* p) {
  return {_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)};
}
inline void shim_storeu_pd(double* p, shim_m512d v) {
  _mm256_storeu_pd(p, v.lo);
  _mm256_storeu_pd(p + 4, v.hi);
}
inline shim_m512d shim_fmadd_pd(shim_m512d a, shim_m512d b, shim_m512d c) {
  return {_mm256_fmadd_pd(a.lo, b.lo, c.lo), _mm256_fmadd_pd(a.hi, b.hi, c.hi)};
}
inline shim_m512d shim_mul_pd(shim_m512d a, shim_m512d b) {
  return {_mm256_mul_pd(a.lo, b.lo), _mm256_mul_pd(a.hi, b.hi)};
}
inline shim_m512d shim_add_pd(shim_m512d a, shim_m512d b) {
  return {_mm256_add_pd(a.lo, b.lo), _mm256_add_pd(a.hi, b.hi)};
}
inline shim_m512d shim_max_pd(shim_m512d a, shim_m512d b) {
  return {_mm256_max_pd(a.lo, b.lo), _mm256_max_pd(a.hi, b.hi)};
}
}  // namespace
#define __m512 shim_m512
#define __m512d shim_m512d
#define _mm512_setzero_ps shim_setzero_ps
#define _mm512_set1_ps shim_set1_ps
#define _mm512_load_ps shim_load_ps
#define _mm512_loadu_ps shim_loadu_ps
#define _mm512_storeu_ps shim_storeu_ps
#define _mm512_fmadd_ps shim_fmadd_ps
#define _mm512_mul_ps shim_mul_ps
#define _mm512_add_ps shim_add_ps
#define _mm512_max_ps shim_max_ps
#define _mm512_setzero_pd shim_setzero_pd
#define _mm512_set1_pd shim_set1_pd
#define _mm512_load_pd shim_load_pd
#define _mm512_loadu_pd shim_loadu_pd
#define _mm512_storeu_pd shim_storeu_pd
#define _mm512_fmadd_pd shim_fmadd_pd
#define _mm512_mul_pd shim_mul_pd
#define _mm512_add_pd shim_add_pd
#define _mm512_max_pd shim_max_pd
