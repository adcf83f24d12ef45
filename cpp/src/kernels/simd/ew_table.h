// The elementwise kernels' ISA table: the innermost loops of every elementwise op, reduction and
// fused loss, compiled once per ISA from ew_body.inc (ew_scalar.cpp: the portable build flags;
// ew_avx2.cpp: -mavx2 -mfma; ew_avx512.cpp: -mavx512f ...). Each ISA file exports only its table
// (tg::kernels::ew_<isa>::kTable) and keeps every loop in an anonymous namespace, so no function
// compiled for a newer ISA can be picked by the linker for the portable code (the nm guard test in
// cpp/tests checks it). Loops see one contiguous-or-strided run; broadcasting, threads and blocking
// live in the portable callers (elementwise.cpp, reduce.cpp, loss.cpp).
//
// This header must stay free of inline functions and templates with out-of-line bodies for the
// same reason.
#pragma once
#include <cstdint>

#include "tapegrad/kernels.h"

namespace tg::kernels {

// Outputs at least this large are written with non-temporal (streaming) stores: they cannot stay
// in the last-level cache anyway, and a normal store first reads every destination line into the
// cache (a third memory stream: relu on 1e7 float32 ran 25-35% faster streamed on Zen 3).
constexpr std::int64_t kStreamMinBytes = std::int64_t(16) << 20;
// ... and only when the loop's runs are long: each streamed call fills an L1 chunk and fences.
constexpr std::int64_t kStreamMinRun = 1024;

template <class T>
struct EwKernels {
  // y[i] = op(x[i]), i < n, contiguous; stream: write y with non-temporal stores.
  void (*unary)(UnaryOp op, const T* x, T* y, std::int64_t n, bool stream);
  // out[i] = op(a[i*sa], b[i*sb]), i < n (sa, sb: 0 broadcasts, 1 contiguous, or any stride).
  void (*binary)(BinaryOp op, const T* a, std::int64_t sa, const T* b, std::int64_t sb, T* out,
                 std::int64_t n, bool stream);
  // Rows of a binary op: for r < rows, the run out[r*so + i] = op(a[r*ra + i*sa], b[r*rb + i*sb]),
  // i < n (out's runs contiguous). Broadcasts with short inner runs (a bias add over (N, 10)) pay
  // one call per block of rows instead of one per row.
  void (*binary_rows)(BinaryOp op, const T* a, std::int64_t ra, std::int64_t sa, const T* b,
                      std::int64_t rb, std::int64_t sb, T* out, std::int64_t so, std::int64_t rows,
                      std::int64_t n);
  // The sum of x[i*s], i < n, in one fixed order (16 lanes, a fixed tree): the same bits on
  // every ISA and every call.
  T (*sum)(const T* x, std::int64_t s, std::int64_t n);
  // out[r] = 0 + sum(row r), r < M, for contiguous (M, K): the same bits as sum per row (the
  // 0 + keeps reduce.cpp's accumulator start), without a call per row.
  void (*sum_rows)(const T* x, std::int64_t M, std::int64_t K, T* out);
  // The NaN-propagating max of init and x[i*s], i < n.
  T (*max)(const T* x, std::int64_t s, std::int64_t n, T init);
  // The sum of (p[i*sp] - t[i*st])^2, i < n, in the same fixed order as sum.
  T (*sq_diff_sum)(const T* t, std::int64_t st, const T* p, std::int64_t sp, std::int64_t n);
  // loss[r] = inv_d * sq_diff_sum(row r of t, row r of p, D), r < M, for contiguous (M, D)
  // operands: the same bits as sq_diff_sum per row, without a call per row.
  void (*sq_diff_rows)(const T* t, const T* p, std::int64_t M, std::int64_t D, T inv_d, T* loss);
  // out[r*D + j] = (scale * g[r]) * (p[r*D + j] - t[r*D + j]), all contiguous: scaled_diff with
  // a broadcast g per row, without a call per row.
  void (*scaled_diff_rows)(const T* g, const T* t, const T* p, std::int64_t M, std::int64_t D,
                           T scale, T* out, bool stream);
  // out[i] = scale * g[i*sg] * (p[i*sp] - t[i*st]), i < n, out contiguous.
  void (*scaled_diff)(const T* g, std::int64_t sg, const T* t, std::int64_t st, const T* p,
                      std::int64_t sp, T scale, T* out, std::int64_t n, bool stream);

  // ---- classification: contiguous (M, D) rows, the softmax axis last (classification.cpp
  // brings other layouts to this one). Each row's maximum shifts it; sums in lane_sum's order.
  // y = softmax(x) per row.
  void (*softmax_rows)(const T* x, std::int64_t M, std::int64_t D, T* y);
  // y = log_softmax(x) = (x - m) - log(sum exp(x - m)) per row.
  void (*log_softmax_rows)(const T* x, std::int64_t M, std::int64_t D, T* y);
  // out[r] = log(sum exp(row r)), one value per row (-inf for D = 0).
  void (*logsumexp_rows)(const T* x, std::int64_t M, std::int64_t D, T* out);
  // dx = y * (g - sum(g * y)) per row: softmax's backward given its output y.
  void (*softmax_grad_rows)(const T* g, const T* y, std::int64_t M, std::int64_t D, T* dx);
  // dx = g - exp(z) * sum(g) per row: log_softmax's backward given its output z.
  void (*log_softmax_grad_rows)(const T* g, const T* z, std::int64_t M, std::int64_t D, T* dx);
  // loss[r] = -sum(l * log_softmax(x)) per row (0 for D = 0).
  void (*softmax_xent_rows)(const T* l, const T* x, std::int64_t M, std::int64_t D, T* loss);
  // dx = g[r] * (sum(l) * softmax(x) - l) per row.
  void (*softmax_xent_grad_rows)(const T* g, const T* l, const T* x, std::int64_t M, std::int64_t D,
                                 T* dx);
  // loss[i] = max(x, 0) - x z + log1p(exp(-|x|)), i < n (labels z, logits x).
  void (*sigmoid_xent)(const T* z, const T* x, std::int64_t n, T* loss);
  // dx[i] = g[i] * (sigmoid(x[i]) - z[i]).
  void (*sigmoid_xent_grad)(const T* g, const T* z, const T* x, std::int64_t n, T* dx);
  // The sparse (integer-label) cross-entropy's two halves, label-free so one table serves every
  // label type (sparse_xent.cpp picks the label's entry): per row, shift[r] = what softmax_rows
  // shifts row r by and log_sum[r] = log(sum exp(x - shift[r])), so -log_softmax(x)[l] =
  // (shift - x[l]) + log_sum; and, from those two, y = (softmax(x) per row) *
  // scale[r * scale_stride] = exp((x - shift) - log_sum) * scale in one pass, less scale at
  // column minus_at[r] (the label; minus_at may be null), streamed out when stream is set.
  void (*shift_log_sum_rows)(const T* x, std::int64_t M, std::int64_t D, T* shift, T* log_sum);
  void (*scaled_softmax_rows)(const T* x, std::int64_t M, std::int64_t D, const T* shift,
                              const T* log_sum, const T* scale, std::int64_t scale_stride,
                              const std::int64_t* minus_at, T* y, bool stream);
  // Adam's update of n weights (kernels.h: adam_update); w may be w_old.
  void (*adam_update)(const T* g, T* m, T* v, const T* w_old, T* w, std::int64_t n, T one_minus_b1,
                      T one_minus_b2, T a, T eps, T wd, T lr);
};

struct EwTable {
  const char* isa;
  EwKernels<float> f32;
  EwKernels<double> f64;
};

namespace ew_scalar {
extern const EwTable kTable;
}
#if defined(__x86_64__) || defined(_M_X64)
namespace ew_avx2 {
extern const EwTable kTable;
}
namespace ew_avx512 {
extern const EwTable kTable;
}
#endif

// The table for the ISA the GEMM dispatch chose (isa_name(): CPUID, TAPEGRAD_ISA, set_isa), so
// one switch moves every kernel family. Defined in elementwise.cpp.
const EwTable& ew_table();
template <class T>
const EwKernels<T>& ew();

}  // namespace tg::kernels
