// GEMM micro-kernels: the one contract every ISA implements, and the function table dispatch.cpp
// fills. This header holds declarations and plain data only: no inline functions, no templates with
// bodies. Every per-ISA translation unit includes it, and any code defined here would be compiled
// once per ISA flag set and merged by the linker, so an old CPU could run an AVX-512 copy (SIGILL).
//
// ---- Note [Micro-kernel contract] ------------------------------------------------------------
// (BLIS's micro-kernel contract, but row-major C and with the epilogue folded in.)
//
//   void ukernel(int64_t k, const T* a, const T* b, T* c, int64_t ldc, const UkernelEpilogue<T>* ep)
//
// computes one MR x NR tile of C:
//
//   AB     = sum_{p < k} a_p (x) b_p            (outer products, MR x NR, accumulated in registers)
//   C      = alpha * AB + beta * C              (beta == 0: C is NOT read, it may hold NaN)
//   C[i,j] += bias[j]                           (only when ep->bias != nullptr)
//   C      = C < 0 ? 0 : C                      (only when ep->relu; the relu op's rule: NaN and -0
//                                                pass through, as in the unfused relu(x @ W + b))
//
// Inputs:
//   k    >= 0. k == 0 gives AB = 0 (the kernel must not touch a or b then).
//   a    packed micro-panel of A: k columns of MR contiguous values, a[p*MR + i] = A(i, p).
//   b    packed micro-panel of B: k rows of NR contiguous values,   b[p*NR + j] = B(p, j).
//        Both are aligned to kPackAlign bytes and zero-padded by the packer past the matrix edge.
//   c    row-major, row stride ldc (in elements), no alignment promised. The whole MR x NR tile is
//        writable: the framework routes edge tiles through a scratch tile, so kernels never see a
//        partial tile (BLIS does the same).
//   ep   alpha, beta, bias (NR values, or nullptr), relu.
// Evaluation order is fixed per kernel (sum over p in increasing order, one accumulator per C
// element), so a given kernel gives bit-identical C for any threading of the framework.
// ------------------------------------------------------------------------------------------------
#pragma once
#include <cstdint>

namespace tg::kernels::gemm_detail {

constexpr int kPackAlign = 64;  // bytes; one cache line, and what AVX-512 aligned loads want
constexpr int kMaxMR = 16;      // the largest MR/NR any kernel may declare (scratch tile size)
constexpr int kMaxNR = 32;

template <class T>
struct UkernelEpilogue {
  T alpha;
  T beta;
  const T* bias;  // NR values or nullptr
  bool relu;
};

using UkernelF32 = void (*)(std::int64_t k, const float* a, const float* b, float* c,
                            std::int64_t ldc, const UkernelEpilogue<float>* ep);
using UkernelF64 = void (*)(std::int64_t k, const double* a, const double* b, double* c,
                            std::int64_t ldc, const UkernelEpilogue<double>* ep);

// Optional per-ISA packers (gemm.cpp's portable packers do the rest); each packs for its own
// table's MR / NR.
// Packs rows [0, mc) and columns [0, kc) of a row-major A block (a points at its first element,
// row stride lda) into micro-panels of MR rows, dst[q*MR*kc + p*MR + r], rows past mc zero. May
// write up to kPackSlack elements past the last panel (the buffer has room for them).
using PackAF32 = void (*)(const float* a, std::int64_t lda, std::int64_t mc, std::int64_t kc,
                          float* dst);
constexpr int kPackSlack = 16;
// Packs one full micro-panel of a transposed float B: NR columns of op(B), stored as NR rows of
// length >= kc (b points at the first, row stride ldb), into dst[p*NR + c] = b[c*ldb + p].
using PackBTransF32 = void (*)(const float* b, std::int64_t ldb, std::int64_t kc, float* dst);
// The same two contracts for double.
using PackAF64 = void (*)(const double* a, std::int64_t lda, std::int64_t mc, std::int64_t kc,
                          double* dst);
using PackBTransF64 = void (*)(const double* b, std::int64_t ldb, std::int64_t kc, double* dst);

// Optional "small, unpacked" micro-kernel (BLIS's gemmsup): the same MR x NR tile and epilogue as
// the packed kernel, but A is read in place, element (i, p) at a[i*rs_a + p*cs_a] (a transposed
// A is rs_a = 1, cs_a = lda), and B's rows in place, b[p*ldb + j], NR values each. For small
// products, where packing costs a sizable part of the arithmetic. The tile is full (the framework
// pads edge tiles).
using UkernelSupF32 = void (*)(std::int64_t k, const float* a, std::int64_t rs_a, std::int64_t cs_a,
                               const float* b, std::int64_t ldb, float* c, std::int64_t ldc,
                               const UkernelEpilogue<float>* ep);

// Optional per-ISA copy of the direct path for tiny products (gemm_direct.inc, compiled with the
// ISA's flags): the whole C = act(alpha * op(A) op(B) + beta * C + bias), no packing, no tiles.
template <class T>
struct DirectGemm {
  bool trans_a, trans_b;
  std::int64_t M, N, K;
  T alpha;
  const T* A;
  std::int64_t lda;
  const T* B;
  std::int64_t ldb;
  T beta;
  T* C;
  std::int64_t ldc;
  const T* bias;  // N values or nullptr
  bool relu;
};
using DirectF32 = void (*)(const DirectGemm<float>* d);
using DirectF64 = void (*)(const DirectGemm<double>* d);

// One ISA's kernels and register-block sizes (BLIS's "context").
struct GemmKernelTable {
  const char* isa;  // "scalar", "avx2", "avx512"
  int mr_f32, nr_f32;
  UkernelF32 ukernel_f32;
  int mr_f64, nr_f64;
  UkernelF64 ukernel_f64;
  // Optional ISA packers (nullptr: the portable ones in gemm.cpp): a non-transposed A block, and
  // one full micro-panel of a transposed B.
  PackAF32 pack_a_f32 = nullptr;
  PackBTransF32 pack_b_trans_f32 = nullptr;
  PackAF64 pack_a_f64 = nullptr;  // likewise for double
  PackBTransF64 pack_b_trans_f64 = nullptr;
  UkernelSupF32 sup_f32 = nullptr;  // the unpacked float kernel (mr_f32 x nr_f32), if any
  DirectF32 direct_f32 = nullptr;   // the direct path compiled for this ISA (nullptr: gemm.cpp's)
  DirectF64 direct_f64 = nullptr;
};

// ---- per-ISA kernels (each defined in its own translation unit) ------------------------------
// Portable C++ (gemm_ukernel_ref.cpp), no special flags: float 4x8, double 4x4
// (8 SSE2/NEON registers of accumulators each; the compiler vectorizes the plain loops).
void sgemm_ref_4x8(std::int64_t k, const float* a, const float* b, float* c, std::int64_t ldc,
                   const UkernelEpilogue<float>* ep);
void dgemm_ref_4x4(std::int64_t k, const double* a, const double* b, double* c, std::int64_t ldc,
                   const UkernelEpilogue<double>* ep);
#if defined(__x86_64__) || defined(_M_X64)
// AVX2 + FMA (gemm_ukernel_avx2_6x16.cpp): float 6x16, double 6x8 (12 ymm accumulators each).
void sgemm_avx2_6x16(std::int64_t k, const float* a, const float* b, float* c, std::int64_t ldc,
                     const UkernelEpilogue<float>* ep);
void dgemm_avx2_6x8(std::int64_t k, const double* a, const double* b, double* c, std::int64_t ldc,
                    const UkernelEpilogue<double>* ep);
void pack_a_avx2_6_f32(const float* a, std::int64_t lda, std::int64_t mc, std::int64_t kc,
                       float* dst);
void pack_b_trans_avx2_16_f32(const float* b, std::int64_t ldb, std::int64_t kc, float* dst);
void pack_a_avx2_6_f64(const double* a, std::int64_t lda, std::int64_t mc, std::int64_t kc,
                       double* dst);
void pack_b_trans_avx2_8_f64(const double* b, std::int64_t ldb, std::int64_t kc, double* dst);
void sgemm_sup_avx2_6x16(std::int64_t k, const float* a, std::int64_t rs_a, std::int64_t cs_a,
                         const float* b, std::int64_t ldb, float* c, std::int64_t ldc,
                         const UkernelEpilogue<float>* ep);
void gemm_direct_avx2_f32(const DirectGemm<float>* d);
void gemm_direct_avx2_f64(const DirectGemm<double>* d);
// AVX-512F (gemm_ukernel_avx512_12x32.cpp): float 12x32, double 12x16 (24 zmm accumulators each).
void sgemm_avx512_12x32(std::int64_t k, const float* a, const float* b, float* c, std::int64_t ldc,
                        const UkernelEpilogue<float>* ep);
void dgemm_avx512_12x16(std::int64_t k, const double* a, const double* b, double* c,
                        std::int64_t ldc, const UkernelEpilogue<double>* ep);
void sgemm_sup_avx512_12x32(std::int64_t k, const float* a, std::int64_t rs_a, std::int64_t cs_a,
                            const float* b, std::int64_t ldb, float* c, std::int64_t ldc,
                            const UkernelEpilogue<float>* ep);
#endif

// ---- dispatch (dispatch.cpp) -------------------------------------------------------------------
// The table in use: chosen once from CPUID and TAPEGRAD_ISA, or by select_isa.
const GemmKernelTable& gemm_kernel_table();
// Whether this CPU (and build) can run the named ISA ("scalar", "avx2", "avx512").
bool cpu_supports_isa(const char* isa);

}  // namespace tg::kernels::gemm_detail
