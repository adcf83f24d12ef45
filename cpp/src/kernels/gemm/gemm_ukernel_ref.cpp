// Portable GEMM micro-kernels (see Note [Micro-kernel contract] in ukernel.h). Compiled with no
// special flags, so they run everywhere (SSE2 on x86-64, NEON on aarch64): the table dispatch.cpp
// starts from. Plain loops over a register-sized accumulator block that the compiler vectorizes.
#include "ukernel.h"

namespace tg::kernels::gemm_detail {
namespace {  // internal linkage: nothing here can be merged with a per-ISA copy

template <class T, int MR, int NR>
void ukernel_ref(std::int64_t k, const T* a, const T* b, T* c, std::int64_t ldc,
                 const UkernelEpilogue<T>* ep) {
  T ab[MR][NR] = {};
  for (std::int64_t p = 0; p < k; ++p) {
    for (int i = 0; i < MR; ++i) {
      const T a_ip = a[i];
      for (int j = 0; j < NR; ++j) ab[i][j] += a_ip * b[j];
    }
    a += MR;
    b += NR;
  }
  const T alpha = ep->alpha, beta = ep->beta;
  for (int i = 0; i < MR; ++i) {
    T* c_row = c + i * ldc;
    for (int j = 0; j < NR; ++j) {
      T v = alpha * ab[i][j];
      if (beta != T(0)) v += beta * c_row[j];  // beta == 0: never read C (it may be NaN)
      if (ep->bias) v += ep->bias[j];
      if (ep->relu) v = v < T(0) ? T(0) : v;  // relu's own rule: NaN stays NaN
      c_row[j] = v;
    }
  }
}

}  // namespace

void sgemm_ref_4x8(std::int64_t k, const float* a, const float* b, float* c, std::int64_t ldc,
                   const UkernelEpilogue<float>* ep) {
  ukernel_ref<float, 4, 8>(k, a, b, c, ldc, ep);
}

void dgemm_ref_4x4(std::int64_t k, const double* a, const double* b, double* c, std::int64_t ldc,
                   const UkernelEpilogue<double>* ep) {
  ukernel_ref<double, 4, 4>(k, a, b, c, ldc, ep);
}

}  // namespace tg::kernels::gemm_detail
