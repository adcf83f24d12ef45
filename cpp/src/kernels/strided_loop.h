// One loop nest for every elementwise, broadcasting, slicing and reducing kernel: each operand is
// a base pointer offset plus one stride per output axis (0 where it broadcasts, any sign for
// slices). Axes of extent 1 are dropped and adjacent axes merged wherever every operand allows, so
// the innermost run is as long as possible; the callback handles one contiguous-or-strided run.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "tapegrad/shape.h"

namespace tg::kernels {

template <int N>
struct StridedPlan {
  std::vector<std::int64_t> dims;                    // merged extents, outermost first
  std::vector<std::array<std::int64_t, N>> strides;  // per merged axis, per operand
  std::array<std::int64_t, N> base{};                // starting offsets
};

// Row-major strides of `shape` padded on the left to `rank`, with 0 on broadcast axes.
inline std::vector<std::int64_t> broadcast_strides(const Shape& shape, const Shape& out) {
  const std::size_t rank = out.size(), pad = rank - shape.size();
  std::vector<std::int64_t> st(rank, 0);
  std::int64_t s = 1;
  for (std::size_t i = rank; i-- > pad;) {
    const std::int64_t d = shape[i - pad];
    st[i] = (d == 1 && out[i] != 1) ? 0 : s;
    s *= d;
  }
  return st;
}

template <int N>
StridedPlan<N> make_plan(const Shape& out, const std::array<std::vector<std::int64_t>, N>& strides,
                         const std::array<std::int64_t, N>& base = {}) {
  StridedPlan<N> plan;
  plan.base = base;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 1) continue;
    std::array<std::int64_t, N> st;
    for (int k = 0; k < N; ++k) st[k] = strides[k][i];
    if (!plan.dims.empty()) {
      bool mergeable = true;
      for (int k = 0; k < N; ++k) mergeable &= plan.strides.back()[k] == st[k] * out[i];
      if (mergeable) {
        plan.dims.back() *= out[i];
        plan.strides.back() = st;
        continue;
      }
    }
    plan.dims.push_back(out[i]);
    plan.strides.push_back(st);
  }
  if (plan.dims.empty()) {  // a single element
    plan.dims.push_back(1);
    plan.strides.push_back({});
  }
  return plan;
}

// Calls run(offsets, n, inner_strides) once per innermost run; nothing when any extent is 0.
template <int N, class Run>
void for_each_run(const StridedPlan<N>& plan, Run&& run) {
  const std::size_t rank = plan.dims.size();
  for (auto d : plan.dims)
    if (d == 0) return;
  const std::int64_t inner = plan.dims[rank - 1];
  const auto& inner_st = plan.strides[rank - 1];
  std::vector<std::int64_t> counter(rank, 0);
  std::array<std::int64_t, N> off = plan.base;
  std::int64_t outer = 1;
  for (std::size_t i = 0; i + 1 < rank; ++i) outer *= plan.dims[i];
  for (std::int64_t o = 0; o < outer; ++o) {
    run(off, inner, inner_st);
    // Advance the odometer over the outer axes.
    for (std::size_t i = rank - 1; i-- > 0;) {
      for (int k = 0; k < N; ++k) off[k] += plan.strides[i][k];
      if (++counter[i] < plan.dims[i]) break;
      for (int k = 0; k < N; ++k) off[k] -= plan.strides[i][k] * plan.dims[i];
      counter[i] = 0;
    }
  }
}

}  // namespace tg::kernels

namespace tg::kernels {

// for_each_run restricted to the elements [begin, end) of the plan's row-major order (so threads
// can split a broadcasting loop at any element): runs at the edges are cut short.
template <int N, class Run>
void for_each_run_range(const StridedPlan<N>& plan, std::int64_t begin, std::int64_t end,
                        Run&& run) {
  const std::size_t rank = plan.dims.size();
  if (begin >= end) return;
  const std::int64_t inner = plan.dims[rank - 1];
  const auto& inner_st = plan.strides[rank - 1];
  // The odometer at `begin`: counters of the outer axes and the position in the inner run.
  std::vector<std::int64_t> counter(rank, 0);
  std::array<std::int64_t, N> off = plan.base;
  std::int64_t rest = begin / inner, pos = begin % inner;
  for (std::size_t i = rank - 1; i-- > 0;) {
    counter[i] = rest % plan.dims[i];
    rest /= plan.dims[i];
    for (int k = 0; k < N; ++k) off[k] += counter[i] * plan.strides[i][k];
  }
  std::int64_t at = begin;
  while (at < end) {
    const std::int64_t n = std::min(inner - pos, end - at);
    std::array<std::int64_t, N> o = off;
    for (int k = 0; k < N; ++k) o[k] += pos * inner_st[k];
    run(o, n, inner_st);
    at += n;
    pos = 0;
    for (std::size_t i = rank - 1; i-- > 0;) {
      for (int k = 0; k < N; ++k) off[k] += plan.strides[i][k];
      if (++counter[i] < plan.dims[i]) break;
      for (int k = 0; k < N; ++k) off[k] -= plan.strides[i][k] * plan.dims[i];
      counter[i] = 0;
    }
  }
}

}  // namespace tg::kernels
