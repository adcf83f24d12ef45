// A small persistent thread pool for kernels (GEMM, very large elementwise ops). No OpenMP: libgomp
// hangs in a forked child and fights NumPy's OpenBLAS pool for the 2 cores; no thread per call: a
// wake-up already costs as much as a small kernel (docs/performance.md), so callers use the pool
// only above a work threshold.
//
// The calling thread always works too (it is thread 0 of the team). run_team's members all run;
// run_helpers's workers join only while the caller still works (for dynamically shared work), so
// a sleeping worker never delays it. Workers spin briefly after a job, then sleep on a condition
// variable. After fork() the child forgets the parent's pool (its
// threads do not exist there) and builds a new one on first use.
//
// Thread count: set_num_threads(n) (declared in tapegrad/gemm.h), else env TAPEGRAD_NUM_THREADS,
// else std::thread::hardware_concurrency().
#pragma once
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "tapegrad/gemm.h"  // num_threads, set_num_threads

namespace tg::kernels {

using TeamFn = void (*)(void* ctx, int thread_id, int team_size);

// Runs fn(ctx, tid, team_size) once for every tid in [0, team_size), all CONCURRENTLY (so fn may
// synchronize the team with a TeamBarrier): tid 0 on the calling thread, the others on workers.
// team_size is exactly max(1, max_threads), or 1 (fn runs inline) when called from inside a team,
// while another thread is using the pool, or when the system refuses to start a worker. Returns
// when every member has returned.
void run_team(int max_threads, TeamFn fn, void* ctx);

// The TeamFn for a callable f(int tid, int team_size) passed as ctx, and that ctx.
template <class F>
void call_member(void* ctx, int tid, int team_size) {
  (*static_cast<std::remove_reference_t<F>*>(ctx))(tid, team_size);
}
template <class F>
void* member_ctx(F& f) {
  return const_cast<void*>(static_cast<const void*>(&f));
}

template <class F>  // f(int tid, int team_size)
void run_team(int max_threads, F&& f) {
  run_team(max_threads, &call_member<F>, member_ctx(f));
}

// Like run_team, but the workers are helpers, not required members: tid 0 runs fn on the calling
// thread, and each worker runs fn only if it reaches the job before the caller's own fn has
// returned (a worker still asleep or busy then skips it). So fn must share its work out dynamically
// (from a counter) and never wait for another member to arrive; in return a late or sleeping
// worker (a futex wake-up is slow next to a small kernel) never delays the caller, which waits
// only for helpers that are already running. team_size is the most members that may run.
void run_helpers(int max_threads, TeamFn fn, void* ctx);

template <class F>  // f(int tid, int team_size)
void run_helpers(int max_threads, F&& f) {
  run_helpers(max_threads, &call_member<F>, member_ctx(f));
}

// Runs fn(task) for every task in [0, n_tasks) on up to max_threads threads (tasks are taken in
// increasing order from a shared counter, so each task must be independent of the others). The
// workers are helpers (run_helpers): when none is awake in time, the caller runs every task.
template <class F>  // f(std::int64_t task)
void parallel_for(std::int64_t n_tasks, F&& f, int max_threads = num_threads()) {
  if (n_tasks <= 0) return;
  if (n_tasks == 1 || max_threads <= 1) {
    for (std::int64_t t = 0; t < n_tasks; ++t) f(t);
    return;
  }
  std::atomic<std::int64_t> next{0};
  const int team = n_tasks < max_threads ? static_cast<int>(n_tasks) : max_threads;
  run_helpers(team, [&](int, int) {
    for (std::int64_t t = next.fetch_add(1); t < n_tasks; t = next.fetch_add(1)) f(t);
  });
}

// Tests: the n+1-th thread start from now on fails as the system's EAGAIN would (n < 0: none
// does), once. And the number of workers the pool holds.
void fail_thread_starts_after(int n);
int pool_workers();

// A spinning barrier for the members of one run_team call (sense by phase counter). Members spin
// with a pause, then yield, so an oversubscribed machine still makes progress.
class TeamBarrier {
 public:
  explicit TeamBarrier(int team_size) : team_size_(team_size) {}
  void arrive_and_wait();

 private:
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<int> phase_{0};
  int team_size_;
};

}  // namespace tg::kernels
