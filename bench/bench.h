// A small benchmark harness (std::chrono only, no dependencies), after llm.c's dev/ harnesses:
// every kernel is checked against its naive reference BEFORE it is timed, then run for warm-up
// rounds and timed as the median of several samples, each long enough to swamp the clock's
// resolution.
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace tg::bench {

struct Timing {
  double median_s;  // seconds per call
  double min_s;
  int calls_per_sample;
};

// Times f(): warm-up, then `samples` samples of calls_per_sample calls each, sized so one sample
// takes at least min_sample_s. Returns seconds per call (median and best over samples).
template <class F>
Timing time_it(F&& f, int samples = 7, double min_sample_s = 0.02, int warmup_calls = 2) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < warmup_calls; ++i) f();
  // Calibrate: double the calls per sample until one sample is long enough.
  int calls = 1;
  for (;;) {
    const auto t0 = clock::now();
    for (int i = 0; i < calls; ++i) f();
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    if (s >= min_sample_s || calls >= (1 << 24)) break;
    calls *= 2;
  }
  std::vector<double> per_call;
  for (int r = 0; r < samples; ++r) {
    const auto t0 = clock::now();
    for (int i = 0; i < calls; ++i) f();
    per_call.push_back(std::chrono::duration<double>(clock::now() - t0).count() / calls);
  }
  std::sort(per_call.begin(), per_call.end());
  return Timing{per_call[per_call.size() / 2], per_call.front(), calls};
}

// got[i] vs ref[i] (double) within rel_tol * scale[i] (e.g. sum |a||b| for a dot product).
template <class T>
bool check_close(const T* got, const double* ref, const double* scale, std::int64_t n,
                 double rel_tol, const char* what) {
  for (std::int64_t i = 0; i < n; ++i) {
    const double err = std::fabs(double(got[i]) - ref[i]);
    if (!(err <= rel_tol * scale[i] + 1e-30)) {
      std::fprintf(stderr, "CHECK FAILED %s at %lld: got %.9g want %.9g\n", what, (long long)i,
                   double(got[i]), ref[i]);
      return false;
    }
  }
  return true;
}

// Keeps the compiler from dropping a computation whose result is otherwise unused.
template <class T>
void do_not_optimize(const T& value) {
  asm volatile("" : : "g"(&value) : "memory");
}

}  // namespace tg::bench
