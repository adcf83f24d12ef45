// Reductions over any set of axes. Two layouts get fast, threaded paths (after dropping extent-1
// axes, x viewed as a matrix):
//  - rows (M, K) reducing K (the trailing axes; a full reduction is M = 1): each row is summed in
//    fixed blocks of kBlock elements by the ISA's lane sum, and the block partials are added in
//    block order. Threads take whole rows, or, for few long rows, blocks; either way every row's
//    arithmetic is the same, so the result has the same bits for any thread count.
//  - columns (K, M) reducing K (the leading axes; a bias gradient): out[j] accumulates x[k, j] in
//    k order; threads take ranges of j, which never changes any one sum's order.
// Everything else walks a StridedPlan in which the output is an operand with stride 0 on the
// reduced axes (serial; small in practice: middle-axis reductions).
#include <limits>

#include "parallel.h"
#include "simd/ew_table.h"
#include "strided_loop.h"
#include "tapegrad/kernels.h"

namespace tg::kernels {
namespace {

constexpr std::int64_t kBlock = 4096;  // fixed: never derived from the thread count

template <class T>
T init_of(ReduceOp op) {
  return op == ReduceOp::Sum ? T(0) : -std::numeric_limits<T>::infinity();
}

template <class T>
T max_nan(T a, T b) {
  return (a >= b || a != a) ? a : b;
}

template <class T>
T reduce_block(ReduceOp op, const EwKernels<T>& k, const T* x, std::int64_t n) {
  return op == ReduceOp::Sum ? k.sum(x, 1, n) : k.max(x, 1, n, init_of<T>(op));
}
template <class T>
T combine(ReduceOp op, T acc, T part) {
  return op == ReduceOp::Sum ? acc + part : max_nan(part, acc);
}

// out[r] = reduce(x[r*K .. r*K+K)), r < M.
template <class T>
void reduce_rows(ReduceOp op, const T* x, std::int64_t M, std::int64_t K, T* out) {
  const auto& k = ew<T>();
  const std::int64_t blocks = (K + kBlock - 1) / kBlock;
  auto row = [&](std::int64_t r) {
    T acc = init_of<T>(op);
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t lo = b * kBlock, n = std::min(kBlock, K - lo);
      acc = combine(op, acc, reduce_block(op, k, x + r * K + lo, n));
    }
    out[r] = acc;
  };
  const int threads = num_threads();
  if (op == ReduceOp::Sum && blocks == 1 && M > 1) {  // short rows: one call per block of rows
    parallel_ranges(
        M, [&](std::int64_t b, std::int64_t e) { k.sum_rows(x + b * K, e - b, K, out + b); },
        std::max<std::int64_t>(1, kParallelMinElements / std::max<std::int64_t>(K, 1)));
    return;
  }
  if (M * K < kParallelMinElements || threads <= 1) {
    for (std::int64_t r = 0; r < M; ++r) row(r);
  } else if (M >= 2 * threads) {
    parallel_ranges(
        M,
        [&](std::int64_t b, std::int64_t e) {
          for (std::int64_t r = b; r < e; ++r) row(r);
        },
        1);
  } else {  // few long rows: the blocks of each row in parallel, combined in block order
    std::vector<T> part(static_cast<std::size_t>(blocks));
    for (std::int64_t r = 0; r < M; ++r) {
      parallel_ranges(
          blocks,
          [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) {
              const std::int64_t lo = i * kBlock;
              part[i] = reduce_block(op, k, x + r * K + lo, std::min(kBlock, K - lo));
            }
          },
          1);
      T acc = init_of<T>(op);
      for (std::int64_t i = 0; i < blocks; ++i) acc = combine(op, acc, part[i]);
      out[r] = acc;
    }
  }
}

// out[j] = reduce_k x[k*M + j], j < M.
template <class T>
void reduce_cols(ReduceOp op, const T* x, std::int64_t K, std::int64_t M, T* out) {
  const auto& k = ew<T>();
  const BinaryOp step = op == ReduceOp::Sum ? BinaryOp::Add : BinaryOp::Maximum;
  const std::int64_t min_cols =
      std::max<std::int64_t>(64, kParallelMinElements / std::max<std::int64_t>(K, 1));
  parallel_ranges(
      M,
      [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t j = b; j < e; ++j) out[j] = init_of<T>(op);
        // out = x[k] (op) out for k = 0, 1, ... in order, as rows of one call (every row writes the
        // same out: row stride 0). maximum's NaN rule keeps its first operand, as the serial walk did.
        k.binary_rows(step, x + b, M, 1, out + b, 0, 1, out + b, 0, K, e - b);
      },
      min_cols);
}

}  // namespace

template <class T>
void reduce(ReduceOp op, const T* x, const Shape& xs, const std::vector<char>& red, T* out) {
  Shape os = xs;
  for (std::size_t i = 0; i < xs.size(); ++i)
    if (red[i]) os[i] = 1;
  const std::int64_t n_out = numel(os);
  const T init = init_of<T>(op);
  if (numel(xs) == 0) {
    for (std::int64_t i = 0; i < n_out; ++i) out[i] = init;
    return;
  }
  // The pattern of reduced (R) and kept (K) axes, extent-1 axes dropped: R..R is a full
  // reduction, K..KR..R rows, R..RK..K columns.
  std::int64_t kept = 1, reduced = 1;
  int switches = 0;
  int last = -1, first = -1;  // int: char is unsigned on aarch64
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (xs[i] == 1) continue;
    const int r = red[i] ? 1 : 0;
    (r ? reduced : kept) *= xs[i];
    if (first < 0) first = r;
    if (last >= 0 && r != last) ++switches;
    last = r;
  }
  if (switches == 0 || (switches == 1 && first == 0)) {
    reduce_rows(op, x, kept, reduced, out);
    return;
  }
  if (switches == 1 && first == 1) {
    reduce_cols(op, x, reduced, kept, out);
    return;
  }
  for (std::int64_t i = 0; i < n_out; ++i) out[i] = init;
  std::vector<std::int64_t> xst(xs.size());
  std::int64_t acc = 1;
  for (std::size_t i = xs.size(); i-- > 0;) {
    xst[i] = acc;
    acc *= xs[i];
  }
  const auto& k = ew<T>();
  const auto plan = make_plan<2>(xs, {xst, broadcast_strides(os, xs)});
  for_each_run(plan, [&](const std::array<std::int64_t, 2>& off, std::int64_t n,
                         const std::array<std::int64_t, 2>& st) {
    const T* px = x + off[0];
    T* po = out + off[1];
    if (op == ReduceOp::Sum) {
      if (st[1] == 0) {  // a run folds into one output
        *po += k.sum(px, st[0], n);
      } else {
        for (std::int64_t i = 0; i < n; ++i) po[i * st[1]] += px[i * st[0]];
      }
    } else {
      for (std::int64_t i = 0; i < n; ++i) {
        T& m = po[i * st[1]];
        m = max_nan(px[i * st[0]], m);  // NaN propagates, as NumPy's max
      }
    }
  });
}

template void reduce<float>(ReduceOp, const float*, const Shape&, const std::vector<char>&, float*);
template void reduce<double>(ReduceOp, const double*, const Shape&, const std::vector<char>&,
                             double*);

}  // namespace tg::kernels
