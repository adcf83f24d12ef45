// GEMM, runtime ISA dispatch and the thread pool's settings (kernels, no tensors).
#pragma once
#include <cstdint>

namespace tg::kernels {

// C = alpha * op(A) @ op(B) + beta * C, all row-major. op(A) is M x K: A is stored M x K with
// leading dimension lda >= K, or, when trans_a, K x M with lda >= M (likewise B, N, ldb). beta == 0
// means C is written without being read (it may hold garbage or NaN). M, N or K may be 0.
template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
          const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C,
          std::int64_t ldc);

// C = act(op(A) @ op(B) + bias), the Dense layer's forward in one pass: bias holds N values added
// to every row (or is nullptr), relu applies C > 0 ? C : 0 (NaN becomes 0, like the relu op). C is
// written without being read. The bias and relu are applied in the micro-kernel's epilogue on the
// last KC pass, while the tile is still in registers. K == 0 gives C = act(bias) (or zeros).
template <class T>
void gemm_bias_act(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                   const T* A, std::int64_t lda, const T* B, std::int64_t ldb, const T* bias,
                   bool relu, T* C, std::int64_t ldc);

// The instruction set the dispatched kernels use: "avx512", "avx2" or "scalar". Chosen once from
// CPUID; env TAPEGRAD_ISA=scalar|avx2|avx512 forces one (an ISA the CPU lacks falls back to the
// best it has, with a message on stderr).
const char* isa_name();
// Tests and benchmarks: switch the GEMM micro-kernels to the named ISA at run time. Returns false
// and changes nothing when the name is unknown or this CPU (or build) cannot run it. Not meant to
// be called while other threads run GEMMs.
bool set_isa(const char* isa);
bool isa_supported(const char* isa);

// The most threads the kernels use (docs/limits.md): a larger count only oversubscribes the cores
// and, near the system's limit, makes thread starts fail.
inline constexpr int kMaxThreads = 1024;

// Threads the kernels may use (1..kMaxThreads): set_num_threads(n), else env TAPEGRAD_NUM_THREADS,
// else the hardware's count, each capped at kMaxThreads. n <= 0 restores that default (tg's
// Python set_num_threads refuses it and any n above kMaxThreads). Results never depend on it
// (GEMM splits only M and N, never K).
int num_threads();
void set_num_threads(int n);

}  // namespace tg::kernels
