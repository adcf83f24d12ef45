// Fused mean-squared-error kernels (Keras semantics: the mean over the last axis of the broadcast
// shape). The forward is one pass over y_true and y_pred; the backward one pass writing the
// gradient. Rows are summed in fixed blocks like reduce.cpp, so the bits never depend on the
// thread count.
#include "parallel.h"
#include "simd/ew_table.h"
#include "strided_loop.h"
#include "tapegrad/kernels.h"

namespace tg::kernels {
namespace {

constexpr std::int64_t kBlock = 4096;  // as reduce.cpp: fixed, never from the thread count

// os split into its rows (all axes but the last) and the last axis; a 0-d os is one row of one.
struct RowView {
  Shape rows;      // os without its last axis
  std::int64_t D;  // the last axis
};
RowView row_view(const Shape& os) {
  if (os.empty()) return {{}, 1};
  return {Shape(os.begin(), os.end() - 1), os.back()};
}

// Strides of an operand of shape s broadcast to os, split as the rows' strides and the last
// axis' stride.
void split_strides(const Shape& s, const Shape& os, std::vector<std::int64_t>* rows,
                   std::int64_t* last) {
  if (os.empty()) {
    *rows = {};
    *last = 0;
    return;
  }
  auto st = broadcast_strides(s, os);
  *last = st.back();
  st.pop_back();
  *rows = std::move(st);
}

template <class T>
T row_sq_sum(const EwKernels<T>& k, const T* t, std::int64_t st, const T* p, std::int64_t sp,
             std::int64_t D) {
  T acc = 0;
  for (std::int64_t lo = 0; lo < D; lo += kBlock)
    acc += k.sq_diff_sum(t + lo * st, st, p + lo * sp, sp, std::min(kBlock, D - lo));
  return acc;
}

}  // namespace

template <class T>
void mean_squared_error(const T* t, const Shape& ts, const T* p, const Shape& ps, const Shape& os,
                        T* loss) {
  const auto& k = ew<T>();
  const RowView v = row_view(os);
  const std::int64_t M = numel(v.rows), D = v.D;
  if (M == 0) return;
  if (D == 0) {  // the mean of nothing, as NumPy: NaN
    for (std::int64_t r = 0; r < M; ++r) loss[r] = T(0) / T(0);
    return;
  }
  std::vector<std::int64_t> t_rows, p_rows;
  std::int64_t t_last, p_last;
  split_strides(ts, os, &t_rows, &t_last);
  split_strides(ps, os, &p_rows, &p_last);
  const auto plan = make_plan<3>(v.rows, {t_rows, p_rows, broadcast_strides(v.rows, v.rows)});
  const T inv_d = T(1) / T(D);
  if (D == 1) {  // elementwise: (p - t)^2, a run at a time while it is in cache
    parallel_ranges(M, [&](std::int64_t b, std::int64_t e) {
      for_each_run_range(plan, b, e,
                         [&](const std::array<std::int64_t, 3>& off, std::int64_t n,
                             const std::array<std::int64_t, 3>& s) {
                           T* out = loss + off[2];
                           k.binary(BinaryOp::Subtract, p + off[1], s[1], t + off[0], s[0], out, n,
                                    false);
                           k.binary(BinaryOp::Multiply, out, 1, out, 1, out, n, false);
                         });
    });
    return;
  }
  const int threads = num_threads();
  const bool few_long_rows = M < 2 * threads && M * D >= kParallelMinElements && threads > 1;
  if (ts == os && ps == os && D <= kBlock && !few_long_rows) {
    // Contiguous rows of one block each (no broadcasting): one kernel call per thread.
    parallel_ranges(
        M,
        [&](std::int64_t b, std::int64_t e) {
          k.sq_diff_rows(t + b * D, p + b * D, e - b, D, inv_d, loss + b);
        },
        std::max<std::int64_t>(1, kParallelMinElements / D));
    return;
  }
  if (few_long_rows) {
    // Few long rows (a fully reduced loss): a row's blocks in parallel, added in block order.
    const std::int64_t blocks = (D + kBlock - 1) / kBlock;
    std::vector<T> part(static_cast<std::size_t>(blocks));
    for_each_run(plan, [&](const std::array<std::int64_t, 3>& off, std::int64_t n,
                           const std::array<std::int64_t, 3>& s) {
      for (std::int64_t i = 0; i < n; ++i) {
        const T* tr = t + off[0] + i * s[0];
        const T* pr = p + off[1] + i * s[1];
        parallel_ranges(
            blocks,
            [&](std::int64_t b, std::int64_t e) {
              for (std::int64_t j = b; j < e; ++j) {
                const std::int64_t lo = j * kBlock;
                part[j] = k.sq_diff_sum(tr + lo * t_last, t_last, pr + lo * p_last, p_last,
                                        std::min(kBlock, D - lo));
              }
            },
            1);
        T acc = 0;
        for (std::int64_t j = 0; j < blocks; ++j) acc += part[j];
        loss[off[2] + i * s[2]] = acc * inv_d;
      }
    });
    return;
  }
  parallel_ranges(
      M,
      [&](std::int64_t b, std::int64_t e) {
        for_each_run_range(plan, b, e,
                           [&](const std::array<std::int64_t, 3>& off, std::int64_t n,
                               const std::array<std::int64_t, 3>& s) {
                             for (std::int64_t i = 0; i < n; ++i)
                               loss[off[2] + i * s[2]] =
                                   row_sq_sum(k, t + off[0] + i * s[0], t_last,
                                              p + off[1] + i * s[1], p_last, D) *
                                   inv_d;
                           });
      },
      std::max<std::int64_t>(1, kParallelMinElements / D));
}

template <class T>
void mean_squared_error_grad(const T* g, const Shape& gs, const T* t, const Shape& ts, const T* p,
                             const Shape& ps, const Shape& os, T* out) {
  const auto& k = ew<T>();
  const RowView v = row_view(os);
  const T scale = T(2) / T(v.D);
  Shape g_as_os = gs;  // g broadcasts to the rows' shape: stride 0 along the last axis
  if (!os.empty()) g_as_os.push_back(1);
  const auto plan = make_plan<4>(os, {broadcast_strides(g_as_os, os), broadcast_strides(ts, os),
                                      broadcast_strides(ps, os), broadcast_strides(os, os)});
  const bool stream = numel(os) * std::int64_t(sizeof(T)) >= kStreamMinBytes;
  if (!os.empty() && gs == v.rows && ts == os && ps == os && v.D > 1) {
    // No broadcasting: rows of D with one g each, one kernel call per thread.
    const std::int64_t D = v.D;
    parallel_ranges(
        numel(v.rows),
        [&](std::int64_t b, std::int64_t e) {
          k.scaled_diff_rows(g + b, t + b * D, p + b * D, e - b, D, scale, out + b * D, stream);
        },
        std::max<std::int64_t>(1, kParallelMinElements / D));
    return;
  }
  parallel_ranges(numel(os), [&](std::int64_t b, std::int64_t e) {
    for_each_run_range(plan, b, e,
                       [&](const std::array<std::int64_t, 4>& off, std::int64_t n,
                           const std::array<std::int64_t, 4>& s) {
                         k.scaled_diff(g + off[0], s[0], t + off[1], s[1], p + off[2], s[2], scale,
                                       out + off[3], n,
                                       stream && plan.dims.back() >= kStreamMinRun);
                       });
  });
}

#define TG_INSTANTIATE(T)                                                                  \
  template void mean_squared_error<T>(const T*, const Shape&, const T*, const Shape&,      \
                                      const Shape&, T*);                                   \
  template void mean_squared_error_grad<T>(const T*, const Shape&, const T*, const Shape&, \
                                           const T*, const Shape&, const Shape&, T*);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg::kernels
