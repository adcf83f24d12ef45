// AVX2 + FMA GEMM micro-kernels (see Note [Micro-kernel contract] in ukernel.h).
//   float  6x16: 12 ymm accumulators (6 rows x 2 vectors of 8), 2 ymm for the B row, 1 broadcast.
//   double 6x8 : the same register layout with 4 doubles per vector.
// 12 independent FMA chains cover Zen 3's / Haswell's FMA latency (4-5 cycles) x 2 pipes, and
// each k step issues 2 loads + 6 broadcasts for 12 FMAs, within the 2 loads/cycle of L1 (BLIS's
// haswell 6x16 / 6x8 choice). Compiled with -mavx2 -mfma only (kernels.cmake); it shares no inline
// code with other translation units: everything here but the two entry points has internal linkage.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "ukernel.h"

namespace tg::kernels::gemm_detail {
namespace {

// One row's 8 (float) values of C: alpha*ab (+ beta*C) (+ bias) (relu), then an unaligned store.
__attribute__((always_inline)) inline void store_ps(float* c, __m256 ab, __m256 alpha, __m256 beta,
                                                    bool read_c, const float* bias, bool relu) {
  __m256 v = _mm256_mul_ps(alpha, ab);
  if (read_c) v = _mm256_fmadd_ps(beta, _mm256_loadu_ps(c), v);
  if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
  // maxps returns its second operand when either is NaN or both are zero: 0 first, so NaN and -0
  // pass through exactly as relu's v < 0 ? 0 : v (ukernel.h's contract).
  if (relu) v = _mm256_max_ps(_mm256_setzero_ps(), v);
  _mm256_storeu_ps(c, v);
}

__attribute__((always_inline)) inline void store_pd(double* c, __m256d ab, __m256d alpha,
                                                    __m256d beta, bool read_c, const double* bias,
                                                    bool relu) {
  __m256d v = _mm256_mul_pd(alpha, ab);
  if (read_c) v = _mm256_fmadd_pd(beta, _mm256_loadu_pd(c), v);
  if (bias) v = _mm256_add_pd(v, _mm256_loadu_pd(bias));
  if (relu) v = _mm256_max_pd(_mm256_setzero_pd(), v);  // 0 first: see store_ps
  _mm256_storeu_pd(c, v);
}

}  // namespace

void sgemm_avx2_6x16(std::int64_t k, const float* a, const float* b, float* c, std::int64_t ldc,
                     const UkernelEpilogue<float>* ep) {
  // Warm C's 6 rows (2 lines each) while the FMAs run; the epilogue reads them last.
  for (int i = 0; i < 6; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 15), _MM_HINT_T0);
  }
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
#define TG_ROW(i)                                 \
  {                                               \
    const __m256 ai = _mm256_broadcast_ss(a + i); \
    c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);   \
    c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);   \
  }
#pragma GCC unroll 4
  for (std::int64_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    // clang-format off: the unrolled rows stay side by side
    TG_ROW(0) TG_ROW(1) TG_ROW(2) TG_ROW(3) TG_ROW(4) TG_ROW(5)
    a += 6;
    // clang-format on
    b += 16;
  }
#undef TG_ROW
  const __m256 alpha = _mm256_set1_ps(ep->alpha), beta = _mm256_set1_ps(ep->beta);
  const bool read_c = ep->beta != 0.0f, relu = ep->relu;
  const float* bias0 = ep->bias;
  const float* bias1 = bias0 ? bias0 + 8 : nullptr;
#define TG_STORE(i)                                                 \
  store_ps(c + i * ldc, c##i##0, alpha, beta, read_c, bias0, relu); \
  store_ps(c + i * ldc + 8, c##i##1, alpha, beta, read_c, bias1, relu);
  // clang-format off: the unrolled rows stay side by side
  TG_STORE(0) TG_STORE(1) TG_STORE(2) TG_STORE(3) TG_STORE(4) TG_STORE(5)
  // clang-format on
#undef TG_STORE
}

void dgemm_avx2_6x8(std::int64_t k, const double* a, const double* b, double* c, std::int64_t ldc,
                    const UkernelEpilogue<double>* ep) {
  for (int i = 0; i < 6; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 7), _MM_HINT_T0);
  }
  __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd();
  __m256d c10 = _mm256_setzero_pd(), c11 = _mm256_setzero_pd();
  __m256d c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd();
  __m256d c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd();
  __m256d c40 = _mm256_setzero_pd(), c41 = _mm256_setzero_pd();
  __m256d c50 = _mm256_setzero_pd(), c51 = _mm256_setzero_pd();
#define TG_ROW(i)                                  \
  {                                                \
    const __m256d ai = _mm256_broadcast_sd(a + i); \
    c##i##0 = _mm256_fmadd_pd(ai, b0, c##i##0);    \
    c##i##1 = _mm256_fmadd_pd(ai, b1, c##i##1);    \
  }
#pragma GCC unroll 4
  for (std::int64_t p = 0; p < k; ++p) {
    const __m256d b0 = _mm256_load_pd(b), b1 = _mm256_load_pd(b + 4);
    // clang-format off: the unrolled rows stay side by side
    TG_ROW(0) TG_ROW(1) TG_ROW(2) TG_ROW(3) TG_ROW(4) TG_ROW(5)
    a += 6;
    // clang-format on
    b += 8;
  }
#undef TG_ROW
  const __m256d alpha = _mm256_set1_pd(ep->alpha), beta = _mm256_set1_pd(ep->beta);
  const bool read_c = ep->beta != 0.0, relu = ep->relu;
  const double* bias0 = ep->bias;
  const double* bias1 = bias0 ? bias0 + 4 : nullptr;
#define TG_STORE(i)                                                 \
  store_pd(c + i * ldc, c##i##0, alpha, beta, read_c, bias0, relu); \
  store_pd(c + i * ldc + 4, c##i##1, alpha, beta, read_c, bias1, relu);
  // clang-format off: the unrolled rows stay side by side
  TG_STORE(0) TG_STORE(1) TG_STORE(2) TG_STORE(3) TG_STORE(4) TG_STORE(5)
  // clang-format on
#undef TG_STORE
}

// Packs A (row-major, not transposed) into 6-row micro-panels: dst[q*6*kc + p*6 + r]. Eight
// columns at a time: 6 row loads, an 8x8 transpose (rows 6 and 7 zero), then 8 overlapping 8-wide
// stores at dst + p*6, in increasing p, so each store's 2 spare lanes are overwritten by the next
// (the last spills at most 2 floats past the panel: kPackSlack). 3-4x fewer instructions than
// 6 scalar moves per column, and the rows are read as whole vectors.
void pack_a_avx2_6_f32(const float* a, std::int64_t lda, std::int64_t mc, std::int64_t kc,
                       float* dst) {
  for (std::int64_t i = 0; i < mc; i += 6, dst += 6 * kc) {
    const int m = mc - i < 6 ? static_cast<int>(mc - i) : 6;
    const float* rows[6];
    for (int r = 0; r < 6; ++r) rows[r] = a + (i + (r < m ? r : 0)) * lda;
    std::int64_t p = 0;
    if (m == 6) {
      for (; p + 8 <= kc; p += 8) {
        const __m256 r0 = _mm256_loadu_ps(rows[0] + p), r1 = _mm256_loadu_ps(rows[1] + p);
        const __m256 r2 = _mm256_loadu_ps(rows[2] + p), r3 = _mm256_loadu_ps(rows[3] + p);
        const __m256 r4 = _mm256_loadu_ps(rows[4] + p), r5 = _mm256_loadu_ps(rows[5] + p);
        const __m256 z = _mm256_setzero_ps();
        // 8x8 transpose of rows r0..r5, 0, 0 (the classic unpack / shuffle / permute2f128).
        const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
        const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
        const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
        const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
        const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
        const __m256 u4 = _mm256_shuffle_ps(t4, z, 0x44), u5 = _mm256_shuffle_ps(t4, z, 0xEE);
        const __m256 u6 = _mm256_shuffle_ps(t5, z, 0x44), u7 = _mm256_shuffle_ps(t5, z, 0xEE);
        float* d = dst + p * 6;
        _mm256_storeu_ps(d + 0, _mm256_permute2f128_ps(u0, u4, 0x20));
        _mm256_storeu_ps(d + 6, _mm256_permute2f128_ps(u1, u5, 0x20));
        _mm256_storeu_ps(d + 12, _mm256_permute2f128_ps(u2, u6, 0x20));
        _mm256_storeu_ps(d + 18, _mm256_permute2f128_ps(u3, u7, 0x20));
        _mm256_storeu_ps(d + 24, _mm256_permute2f128_ps(u0, u4, 0x31));
        _mm256_storeu_ps(d + 30, _mm256_permute2f128_ps(u1, u5, 0x31));
        _mm256_storeu_ps(d + 36, _mm256_permute2f128_ps(u2, u6, 0x31));
        _mm256_storeu_ps(d + 42, _mm256_permute2f128_ps(u3, u7, 0x31));
      }
    }
    for (; p < kc; ++p)
      for (int r = 0; r < 6; ++r) dst[p * 6 + r] = r < m ? rows[r][p] : 0.0f;
  }
}

// Packs one 16-column micro-panel of a transposed B (16 stored rows of length >= kc): per 8 values
// of p, two 8x8 register transposes (stored rows 0-7, then 8-15), each output row 8 contiguous
// floats at dst + p*16 (+8). Replaces 16 scalar gathers per p.
void pack_b_trans_avx2_16_f32(const float* b, std::int64_t ldb, std::int64_t kc, float* dst) {
  std::int64_t p = 0;
  for (; p + 8 <= kc; p += 8) {
    for (int half = 0; half < 2; ++half) {
      const float* src = b + half * 8 * ldb + p;
      const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ldb);
      const __m256 r2 = _mm256_loadu_ps(src + 2 * ldb), r3 = _mm256_loadu_ps(src + 3 * ldb);
      const __m256 r4 = _mm256_loadu_ps(src + 4 * ldb), r5 = _mm256_loadu_ps(src + 5 * ldb);
      const __m256 r6 = _mm256_loadu_ps(src + 6 * ldb), r7 = _mm256_loadu_ps(src + 7 * ldb);
      const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
      const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
      const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
      const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
      const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float* d = dst + p * 16 + half * 8;
      _mm256_store_ps(d + 0 * 16, _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_store_ps(d + 1 * 16, _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_store_ps(d + 2 * 16, _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_store_ps(d + 3 * 16, _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_store_ps(d + 4 * 16, _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_store_ps(d + 5 * 16, _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_store_ps(d + 6 * 16, _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_store_ps(d + 7 * 16, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
  }
  for (; p < kc; ++p)
    for (int c = 0; c < 16; ++c) dst[p * 16 + c] = b[c * ldb + p];
}

// double, 6-row A panels: per 4 values of p, a 4x4 register transpose of rows 0-3 (one 4-wide store
// per p) and an unpack of rows 4-5 (one 2-wide store per p).
void pack_a_avx2_6_f64(const double* a, std::int64_t lda, std::int64_t mc, std::int64_t kc,
                       double* dst) {
  for (std::int64_t i = 0; i < mc; i += 6, dst += 6 * kc) {
    const int m = mc - i < 6 ? static_cast<int>(mc - i) : 6;
    const double* rows[6];
    for (int r = 0; r < 6; ++r) rows[r] = a + (i + (r < m ? r : 0)) * lda;
    std::int64_t p = 0;
    if (m == 6) {
      for (; p + 4 <= kc; p += 4) {
        const __m256d r0 = _mm256_loadu_pd(rows[0] + p), r1 = _mm256_loadu_pd(rows[1] + p);
        const __m256d r2 = _mm256_loadu_pd(rows[2] + p), r3 = _mm256_loadu_pd(rows[3] + p);
        const __m256d r4 = _mm256_loadu_pd(rows[4] + p), r5 = _mm256_loadu_pd(rows[5] + p);
        const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
        const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
        const __m256d t4 = _mm256_unpacklo_pd(r4, r5), t5 = _mm256_unpackhi_pd(r4, r5);
        double* d = dst + p * 6;
        _mm256_storeu_pd(d + 0, _mm256_permute2f128_pd(t0, t2, 0x20));
        _mm_storeu_pd(d + 4, _mm256_castpd256_pd128(t4));
        _mm256_storeu_pd(d + 6, _mm256_permute2f128_pd(t1, t3, 0x20));
        _mm_storeu_pd(d + 10, _mm256_castpd256_pd128(t5));
        _mm256_storeu_pd(d + 12, _mm256_permute2f128_pd(t0, t2, 0x31));
        _mm_storeu_pd(d + 16, _mm256_extractf128_pd(t4, 1));
        _mm256_storeu_pd(d + 18, _mm256_permute2f128_pd(t1, t3, 0x31));
        _mm_storeu_pd(d + 22, _mm256_extractf128_pd(t5, 1));
      }
    }
    for (; p < kc; ++p)
      for (int r = 0; r < 6; ++r) dst[p * 6 + r] = r < m ? rows[r][p] : 0.0;
  }
}

// double, one 8-column micro-panel of a transposed B: per 4 values of p, two 4x4 transposes.
void pack_b_trans_avx2_8_f64(const double* b, std::int64_t ldb, std::int64_t kc, double* dst) {
  std::int64_t p = 0;
  for (; p + 4 <= kc; p += 4) {
    for (int half = 0; half < 2; ++half) {
      const double* src = b + half * 4 * ldb + p;
      const __m256d r0 = _mm256_loadu_pd(src), r1 = _mm256_loadu_pd(src + ldb);
      const __m256d r2 = _mm256_loadu_pd(src + 2 * ldb), r3 = _mm256_loadu_pd(src + 3 * ldb);
      const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
      const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
      double* d = dst + p * 8 + half * 4;
      _mm256_store_pd(d + 0 * 8, _mm256_permute2f128_pd(t0, t2, 0x20));
      _mm256_store_pd(d + 1 * 8, _mm256_permute2f128_pd(t1, t3, 0x20));
      _mm256_store_pd(d + 2 * 8, _mm256_permute2f128_pd(t0, t2, 0x31));
      _mm256_store_pd(d + 3 * 8, _mm256_permute2f128_pd(t1, t3, 0x31));
    }
  }
  for (; p < kc; ++p)
    for (int c = 0; c < 8; ++c) dst[p * 8 + c] = b[c * ldb + p];
}

// The unpacked 6x16 kernel (ukernel.h, UkernelSupF32): sgemm_avx2_6x16's register layout and
// arithmetic (one FMA chain per C element, p increasing), with A broadcast from its six rows in
// place and B's rows loaded in place.
void sgemm_sup_avx2_6x16(std::int64_t k, const float* a, std::int64_t rs_a, std::int64_t cs_a,
                         const float* b, std::int64_t ldb, float* c, std::int64_t ldc,
                         const UkernelEpilogue<float>* ep) {
  const float* a0 = a;
  const float* a1 = a + rs_a;
  const float* a2 = a + 2 * rs_a;
  const float* a3 = a + 3 * rs_a;
  const float* a4 = a + 4 * rs_a;
  const float* a5 = a + 5 * rs_a;
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
#define TG_ROW(i)                                      \
  {                                                    \
    const __m256 ai = _mm256_broadcast_ss(a##i + off); \
    c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);        \
    c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);        \
  }
  std::int64_t off = 0;
#pragma GCC unroll 4
  for (std::int64_t p = 0; p < k; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    // clang-format off: the unrolled rows stay side by side
    TG_ROW(0) TG_ROW(1) TG_ROW(2) TG_ROW(3) TG_ROW(4) TG_ROW(5)
        // clang-format on
        off += cs_a;
    b += ldb;
  }
#undef TG_ROW
  const __m256 alpha = _mm256_set1_ps(ep->alpha), beta = _mm256_set1_ps(ep->beta);
  const bool read_c = ep->beta != 0.0f, relu = ep->relu;
  const float* bias0 = ep->bias;
  const float* bias1 = bias0 ? bias0 + 8 : nullptr;
#define TG_STORE(i)                                                 \
  store_ps(c + i * ldc, c##i##0, alpha, beta, read_c, bias0, relu); \
  store_ps(c + i * ldc + 8, c##i##1, alpha, beta, read_c, bias1, relu);
  // clang-format off: the unrolled rows stay side by side
  TG_STORE(0) TG_STORE(1) TG_STORE(2) TG_STORE(3) TG_STORE(4) TG_STORE(5)
  // clang-format on
#undef TG_STORE
}
namespace {
#include "gemm_direct.inc"
}  // namespace

void gemm_direct_avx2_f32(const DirectGemm<float>* d) { gemm_direct(*d); }
void gemm_direct_avx2_f64(const DirectGemm<double>* d) { gemm_direct(*d); }
}  // namespace tg::kernels::gemm_detail
#endif  // x86-64
