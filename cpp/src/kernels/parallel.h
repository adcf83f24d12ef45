// Splitting elementwise work over the persistent pool (threadpool.h). Elementwise results do not
// depend on where a range is cut, so any split gives the same bits; reductions cut only at fixed
// block boundaries (reduce.cpp), never at thread-count-dependent ones.
#pragma once
#include <algorithm>
#include <cstdint>

#include "threadpool.h"

namespace tg::kernels {

// Below this many elements an op runs on the calling thread: waking a worker costs about as long
// as one core needs for a few hundred KB of a memory-bound loop (docs/performance.md).
constexpr std::int64_t kParallelMinElements = std::int64_t(1) << 17;

// f(begin, end) over [0, n) in one piece per thread, or in one piece when n < min_elements. Long
// ranges are cut at multiples of 64 elements, so every piece starts on a cache line.
template <class F>
void parallel_ranges(std::int64_t n, F&& f, std::int64_t min_elements = kParallelMinElements) {
  const int threads = num_threads();
  if (n < min_elements || threads <= 1) {
    if (n > 0) f(std::int64_t(0), n);
    return;
  }
  const std::int64_t pieces =
      std::min<std::int64_t>(threads, n / std::max<std::int64_t>(1, min_elements / 2));
  const std::int64_t align = n / pieces >= 4096 ? 64 : 1;
  parallel_for(
      pieces,
      [&](std::int64_t t) {
        const std::int64_t b = n * t / pieces / align * align;
        const std::int64_t e = t + 1 == pieces ? n : n * (t + 1) / pieces / align * align;
        if (b < e) f(b, e);
      },
      static_cast<int>(pieces));
}

}  // namespace tg::kernels
