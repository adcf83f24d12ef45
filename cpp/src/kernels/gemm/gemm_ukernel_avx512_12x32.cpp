// AVX-512F GEMM micro-kernels (see Note [Micro-kernel contract] in ukernel.h).
//   float  12x32: 24 zmm accumulators (12 rows x 2 vectors of 16), 2 zmm for the B row, 1 broadcast.
//   double 12x16: the same register layout with 8 doubles per vector.
// The structure is line for line the AVX2 6x16 kernel's with twice the rows and twice the vector
// width: 24 independent FMA chains cover a 512-bit FMA datapath's latency (4 cycles) x 2 pipes
// (Zen 5, Skylake-X), and each k step issues 2 loads + 12 broadcasts for 24 FMAs. Uses AVX-512F
// instructions only (kernels.cmake adds VL/BW/DQ too, harmlessly). Shares no inline code with other
// translation units: everything here but the two entry points has internal linkage.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "ukernel.h"

// gcc 12's _mm512_max_ps/_pd pass _mm512_undefined_*() as the (unused) merge source, which
// -Wmaybe-uninitialized reports at every call site: a known false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace tg::kernels::gemm_detail {
namespace {

// One row's 16 (float) values of C: alpha*ab (+ beta*C) (+ bias) (relu), then an unaligned store.
__attribute__((always_inline)) inline void store_ps(float* c, __m512 ab, __m512 alpha, __m512 beta,
                                                    bool read_c, const float* bias, bool relu) {
  __m512 v = _mm512_mul_ps(alpha, ab);
  if (read_c) v = _mm512_fmadd_ps(beta, _mm512_loadu_ps(c), v);
  if (bias) v = _mm512_add_ps(v, _mm512_loadu_ps(bias));
  // vmaxps returns its second operand when either is NaN or both are zero: 0 first, so NaN and -0
  // pass through exactly as relu's v < 0 ? 0 : v (ukernel.h's contract).
  if (relu) v = _mm512_max_ps(_mm512_setzero_ps(), v);
  _mm512_storeu_ps(c, v);
}

__attribute__((always_inline)) inline void store_pd(double* c, __m512d ab, __m512d alpha,
                                                    __m512d beta, bool read_c, const double* bias,
                                                    bool relu) {
  __m512d v = _mm512_mul_pd(alpha, ab);
  if (read_c) v = _mm512_fmadd_pd(beta, _mm512_loadu_pd(c), v);
  if (bias) v = _mm512_add_pd(v, _mm512_loadu_pd(bias));
  if (relu) v = _mm512_max_pd(_mm512_setzero_pd(), v);  // 0 first: see store_ps
  _mm512_storeu_pd(c, v);
}

// The float 12x32 tile: C = epilogue(A B) for A's 12 rows (A(i, p) at a[i * rs_a + p * cs_a])
// and B's rows of 32 (row p at b + p * ldb). The packed kernel passes its micro-panels (rs_a = 1,
// cs_a = 12, ldb = 32), the unpacked one the operands in place; either way one FMA chain per C
// element, p increasing, so both give the same bits. warm_c prefetches C's rows first: worth it
// for the packed kernel's long k, not for a small product's k of 8.
__attribute__((always_inline)) inline void sgemm_12x32_tile(
    std::int64_t k, const float* a, std::int64_t rs_a, std::int64_t cs_a, const float* b,
    std::int64_t ldb, float* c, std::int64_t ldc, const UkernelEpilogue<float>* ep, bool warm_c) {
  // Warm C's 12 rows (2 lines each: 128 bytes, possibly straddling 3) while the FMAs run.
  for (int i = 0; warm_c && i < 12; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 31), _MM_HINT_T0);
  }
  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
  __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
  __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
  __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
  __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
  __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
  __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps();
  __m512 c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
  __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps();
  __m512 c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps();
  __m512 c100 = _mm512_setzero_ps(), c101 = _mm512_setzero_ps();
  __m512 c110 = _mm512_setzero_ps(), c111 = _mm512_setzero_ps();
#define TG_ROW(i)                                        \
  {                                                      \
    const __m512 ai = _mm512_set1_ps(a[i * rs_a + off]); \
    c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);          \
    c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);          \
  }
  std::int64_t off = 0;
#pragma GCC unroll 4
  for (std::int64_t p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
    // clang-format off: the unrolled rows stay side by side
    TG_ROW(0) TG_ROW(1) TG_ROW(2) TG_ROW(3) TG_ROW(4) TG_ROW(5)
    TG_ROW(6) TG_ROW(7) TG_ROW(8) TG_ROW(9) TG_ROW(10) TG_ROW(11)
        // clang-format on
        off += cs_a;
    b += ldb;
  }
#undef TG_ROW
  const __m512 alpha = _mm512_set1_ps(ep->alpha), beta = _mm512_set1_ps(ep->beta);
  const bool read_c = ep->beta != 0.0f, relu = ep->relu;
  const float* bias0 = ep->bias;
  const float* bias1 = bias0 ? bias0 + 16 : nullptr;
#define TG_STORE(i)                                                 \
  store_ps(c + i * ldc, c##i##0, alpha, beta, read_c, bias0, relu); \
  store_ps(c + i * ldc + 16, c##i##1, alpha, beta, read_c, bias1, relu);
  // clang-format off: the unrolled rows stay side by side
  TG_STORE(0) TG_STORE(1) TG_STORE(2) TG_STORE(3) TG_STORE(4) TG_STORE(5)
  TG_STORE(6) TG_STORE(7) TG_STORE(8) TG_STORE(9) TG_STORE(10) TG_STORE(11)
  // clang-format on
#undef TG_STORE
}

}  // namespace

void sgemm_avx512_12x32(std::int64_t k, const float* a, const float* b, float* c, std::int64_t ldc,
                        const UkernelEpilogue<float>* ep) {
  sgemm_12x32_tile(k, a, 1, 12, b, 32, c, ldc, ep, /*warm_c=*/true);
}

// The unpacked kernel (ukernel.h, UkernelSupF32): A broadcast from its twelve rows in place and B's
// rows loaded in place. Small products (a Dense layer on a batch of 32) spent more time packing A
// and B than multiplying.
void sgemm_sup_avx512_12x32(std::int64_t k, const float* a, std::int64_t rs_a, std::int64_t cs_a,
                            const float* b, std::int64_t ldb, float* c, std::int64_t ldc,
                            const UkernelEpilogue<float>* ep) {
  sgemm_12x32_tile(k, a, rs_a, cs_a, b, ldb, c, ldc, ep, /*warm_c=*/false);
}

void dgemm_avx512_12x16(std::int64_t k, const double* a, const double* b, double* c,
                        std::int64_t ldc, const UkernelEpilogue<double>* ep) {
  for (int i = 0; i < 12; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 8), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 15), _MM_HINT_T0);
  }
  __m512d c00 = _mm512_setzero_pd(), c01 = _mm512_setzero_pd();
  __m512d c10 = _mm512_setzero_pd(), c11 = _mm512_setzero_pd();
  __m512d c20 = _mm512_setzero_pd(), c21 = _mm512_setzero_pd();
  __m512d c30 = _mm512_setzero_pd(), c31 = _mm512_setzero_pd();
  __m512d c40 = _mm512_setzero_pd(), c41 = _mm512_setzero_pd();
  __m512d c50 = _mm512_setzero_pd(), c51 = _mm512_setzero_pd();
  __m512d c60 = _mm512_setzero_pd(), c61 = _mm512_setzero_pd();
  __m512d c70 = _mm512_setzero_pd(), c71 = _mm512_setzero_pd();
  __m512d c80 = _mm512_setzero_pd(), c81 = _mm512_setzero_pd();
  __m512d c90 = _mm512_setzero_pd(), c91 = _mm512_setzero_pd();
  __m512d c100 = _mm512_setzero_pd(), c101 = _mm512_setzero_pd();
  __m512d c110 = _mm512_setzero_pd(), c111 = _mm512_setzero_pd();
#define TG_ROW(i)                               \
  {                                             \
    const __m512d ai = _mm512_set1_pd(a[i]);    \
    c##i##0 = _mm512_fmadd_pd(ai, b0, c##i##0); \
    c##i##1 = _mm512_fmadd_pd(ai, b1, c##i##1); \
  }
#pragma GCC unroll 4
  for (std::int64_t p = 0; p < k; ++p) {
    const __m512d b0 = _mm512_load_pd(b), b1 = _mm512_load_pd(b + 8);
    // clang-format off: the unrolled rows stay side by side
    TG_ROW(0) TG_ROW(1) TG_ROW(2) TG_ROW(3) TG_ROW(4) TG_ROW(5)
    TG_ROW(6) TG_ROW(7) TG_ROW(8) TG_ROW(9) TG_ROW(10) TG_ROW(11)
    a += 12;
    // clang-format on
    b += 16;
  }
#undef TG_ROW
  const __m512d alpha = _mm512_set1_pd(ep->alpha), beta = _mm512_set1_pd(ep->beta);
  const bool read_c = ep->beta != 0.0, relu = ep->relu;
  const double* bias0 = ep->bias;
  const double* bias1 = bias0 ? bias0 + 8 : nullptr;
#define TG_STORE(i)                                                 \
  store_pd(c + i * ldc, c##i##0, alpha, beta, read_c, bias0, relu); \
  store_pd(c + i * ldc + 8, c##i##1, alpha, beta, read_c, bias1, relu);
  // clang-format off: the unrolled rows stay side by side
  TG_STORE(0) TG_STORE(1) TG_STORE(2) TG_STORE(3) TG_STORE(4) TG_STORE(5)
  TG_STORE(6) TG_STORE(7) TG_STORE(8) TG_STORE(9) TG_STORE(10) TG_STORE(11)
  // clang-format on
#undef TG_STORE
}

}  // namespace tg::kernels::gemm_detail
#endif  // x86-64
