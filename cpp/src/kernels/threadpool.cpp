// The persistent kernel thread pool; see threadpool.h for what it promises.
#include "threadpool.h"

#include <pthread.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace tg::kernels {
namespace {

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// How long an idle worker spins for the next job before sleeping. Ops a few hundred microseconds
// apart (a training step with Python between its kernels) then skip the wake-up, which costs the
// caller time and, after a longer idle spell, starts the worker late (its vCPU has halted).
// bench_threads measured a shorter spin losing the 2-thread speed-up and 1 ms keeping it
// (docs/performance.md). An idle process stops burning the core one spin after its last threaded
// op (OpenBLAS spins far longer).
constexpr auto kWorkerSpin = std::chrono::milliseconds(1);

thread_local bool tls_in_team = false;  // set while this thread runs a team member

// Test hook (fail_thread_starts_after): thread starts left before one fails; -1 = never.
std::atomic<int> g_thread_starts_before_failure{-1};

std::thread start_thread(std::function<void()> body) {
  int left = g_thread_starts_before_failure.load(std::memory_order_relaxed);
  while (left >= 0 && !g_thread_starts_before_failure.compare_exchange_weak(left, left - 1)) {
  }
  if (left == 0) {
    g_thread_starts_before_failure.store(-1, std::memory_order_relaxed);
    throw std::system_error(EAGAIN, std::generic_category(), "thread start failed (test hook)");
  }
  return std::thread(std::move(body));
}

struct Pool {
  std::mutex mu;
  std::condition_variable wake_cv;   // workers sleep here between jobs
  std::condition_variable done_cv;   // the caller sleeps here until the team is done
  std::vector<std::thread> workers;  // joined only when a start fails (start_workers)
  int retire_from = INT_MAX;         // workers with this index or above exit at their next wake-up

  // The current job, written and read under mu together with generation.
  TeamFn job_fn = nullptr;
  void* job_ctx = nullptr;
  int team_size = 1;
  bool helpers_only = false;  // run_helpers: workers join only while the job is open
  std::atomic<std::uint64_t> generation{0};
  std::atomic<int> pending{0};      // run_team: members (other than the caller) still running
  std::atomic<bool> in_use{false};  // one team at a time; other callers run inline
  // run_helpers: (job generation, low 32 bits) << 32 | kJobClosed | helpers running fn. A worker
  // joins by a CAS that also checks the generation and the closed bit, so a slow worker can never
  // join a job that is over, or a newer job than the one it read.
  static constexpr std::uint64_t kJobClosed = std::uint64_t(1) << 31;
  static constexpr std::uint64_t kHelperCount = kJobClosed - 1;
  std::atomic<std::uint64_t> helper_state{0};

  bool try_join(std::uint64_t gen) {
    std::uint64_t s = helper_state.load(std::memory_order_acquire);
    for (;;) {
      if ((s >> 32) != (gen & 0xffffffffu) || (s & kJobClosed)) return false;
      if (helper_state.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) return true;
    }
  }

  void worker_loop(int worker_index) {
    tls_in_team = true;  // a worker calling run_team (nested) runs inline
    std::uint64_t seen = 0;
    for (;;) {
      // Spin, then sleep, until a new job is posted.
      const auto spin_until = std::chrono::steady_clock::now() + kWorkerSpin;
      for (int i = 0; generation.load(std::memory_order_acquire) == seen; ++i) {
        cpu_relax();
        if ((i & 255) == 255 && std::chrono::steady_clock::now() > spin_until) {
          std::unique_lock<std::mutex> lock(mu);
          wake_cv.wait(lock, [&] { return generation.load(std::memory_order_acquire) != seen; });
          break;
        }
      }
      // Snapshot the job under the lock: a worker left out of one team may be slow enough to
      // see the next job's fields, and must then also take the next job's generation.
      TeamFn fn;
      void* ctx;
      int size;
      bool helper;
      int retire_from_now;
      {
        std::lock_guard<std::mutex> lock(mu);
        seen = generation.load(std::memory_order_relaxed);
        fn = job_fn;
        ctx = job_ctx;
        size = team_size;
        helper = helpers_only;
        retire_from_now = retire_from;
      }
      if (worker_index >= retire_from_now) return;
      const int tid = worker_index + 1;  // tid 0 is the caller
      if (helper) {
        if (tid < size && try_join(seen)) {
          fn(ctx, tid, size);
          helper_state.fetch_sub(1, std::memory_order_acq_rel);
        }
      } else if (tid < size) {
        fn(ctx, tid, size);
        if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          std::lock_guard<std::mutex> lock(mu);  // pairs with the caller's predicate check
          done_cv.notify_one();
        }
      }
    }
  }

  // Starts workers until there are n. The caller holds in_use (no job runs meanwhile) and `lock`
  // on mu, and posts its job before unlocking, so a new worker's first look sees that job. When
  // the system refuses a thread (EAGAIN near the process or cgroup limit), the workers this call
  // did start are stopped and joined, and it returns false: the pool is as it was, and usable.
  bool start_workers(int n, std::unique_lock<std::mutex>& lock) {
    const std::size_t before = workers.size();
    try {
      // Reserved first: a reallocation failing after a start would destroy a running thread.
      workers.reserve(static_cast<std::size_t>(n));
      while (static_cast<int>(workers.size()) < n) {
        const int index = static_cast<int>(workers.size());
        workers.push_back(start_thread([this, index] { worker_loop(index); }));
      }
      return true;
    } catch (const std::exception&) {  // std::system_error, or bad_alloc growing the vector
    }
    // Wake every worker with an empty job: the older ones run nothing, the new ones exit.
    retire_from = static_cast<int>(before);
    job_fn = nullptr;
    team_size = 0;
    helpers_only = false;
    generation.fetch_add(1, std::memory_order_release);
    lock.unlock();
    wake_cv.notify_all();
    for (std::size_t i = before; i < workers.size(); ++i) workers[i].join();
    lock.lock();
    workers.resize(before);
    retire_from = INT_MAX;
    return false;
  }
};

Pool* g_pool = nullptr;  // leaked on purpose: see Note [Pool lifetime]
std::mutex g_pool_create_mu;

// Note [Pool lifetime]: the pool is never destroyed. Joining at exit would race with static
// destructors, and in a forked child the workers do not exist, so destroying their std::thread
// objects would call std::terminate. A child just drops the pointer and builds a new pool lazily.
void forget_pool_in_child() { g_pool = nullptr; }

Pool& pool() {
  std::lock_guard<std::mutex> lock(g_pool_create_mu);
  if (g_pool == nullptr) {
    static bool atfork_registered = false;  // registrations survive fork: register once
    if (!atfork_registered) {
      pthread_atfork(nullptr, nullptr, forget_pool_in_child);
      atfork_registered = true;
    }
    g_pool = new Pool();
  }
  return *g_pool;
}

int default_num_threads() {
  if (const char* env = std::getenv("TAPEGRAD_NUM_THREADS")) {
    char* end = nullptr;
    const long long n = std::strtoll(env, &end, 10);  // atoi's overflow is undefined
    if (end != env && n > 0) return n < kMaxThreads ? static_cast<int>(n) : kMaxThreads;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw < static_cast<unsigned>(kMaxThreads) ? static_cast<int>(hw) : kMaxThreads;
}

std::atomic<int> g_num_threads{0};  // 0: not yet read from the environment

}  // namespace

int num_threads() {
  int n = g_num_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    n = default_num_threads();
    g_num_threads.store(n, std::memory_order_relaxed);
  }
  return n;
}

void set_num_threads(int n) {
  g_num_threads.store(n <= 0            ? default_num_threads()
                      : n < kMaxThreads ? n
                                        : kMaxThreads,
                      std::memory_order_relaxed);
}

void fail_thread_starts_after(int n) {
  g_thread_starts_before_failure.store(n, std::memory_order_relaxed);
}

int pool_workers() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  return static_cast<int>(p.workers.size());
}

namespace {

// Takes the pool for one job and posts it to the workers; nullptr (the job then runs inline on the
// caller) when max_threads <= 1, inside a team, or while another thread's job holds the pool.
Pool* post_job(int max_threads, TeamFn fn, void* ctx, bool helpers_only) {
  if (max_threads <= 1 || tls_in_team) return nullptr;
  Pool& p = pool();
  bool expected = false;
  if (!p.in_use.compare_exchange_strong(expected, true, std::memory_order_acquire)) return nullptr;
  {
    std::unique_lock<std::mutex> lock(p.mu);
    if (!p.start_workers(max_threads - 1, lock)) {  // the job then runs inline: a team of one
      p.in_use.store(false, std::memory_order_release);
      return nullptr;
    }
    p.job_fn = fn;
    p.job_ctx = ctx;
    p.team_size = max_threads;
    p.helpers_only = helpers_only;
    p.pending.store(helpers_only ? 0 : max_threads - 1, std::memory_order_relaxed);
    const std::uint64_t gen = p.generation.load(std::memory_order_relaxed) + 1;
    p.helper_state.store((gen & 0xffffffffu) << 32, std::memory_order_relaxed);
    p.generation.store(gen, std::memory_order_release);
  }
  p.wake_cv.notify_all();
  return &p;
}

void run_as_member(TeamFn fn, void* ctx, int team_size) {
  tls_in_team = true;
  fn(ctx, 0, team_size);
  tls_in_team = false;
}

}  // namespace

void run_helpers(int max_threads, TeamFn fn, void* ctx) {
  Pool* p = post_job(max_threads, fn, ctx, /*helpers_only=*/true);
  if (p == nullptr) {
    fn(ctx, 0, 1);
    return;
  }
  run_as_member(fn, ctx, max_threads);
  // Close the job: from now on no worker joins, so only the helpers already running are waited
  // for (they are awake and finishing their last task; a preempted one gets yields).
  p->helper_state.fetch_or(Pool::kJobClosed, std::memory_order_acq_rel);
  for (int i = 0; p->helper_state.load(std::memory_order_acquire) & Pool::kHelperCount; ++i) {
    if (i < 4096)
      cpu_relax();
    else
      std::this_thread::yield();
  }
  p->in_use.store(false, std::memory_order_release);
}

void run_team(int max_threads, TeamFn fn, void* ctx) {
  Pool* pp = post_job(max_threads, fn, ctx, /*helpers_only=*/false);
  if (pp == nullptr) {
    fn(ctx, 0, 1);  // a team of one on this thread (see post_job)
    return;
  }
  Pool& p = *pp;
  run_as_member(fn, ctx, max_threads);

  // Spin briefly (the workers usually finish within a few microseconds of us), then sleep.
  for (int i = 0; i < 4096 && p.pending.load(std::memory_order_acquire) != 0; ++i) cpu_relax();
  if (p.pending.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lock(p.mu);
    p.done_cv.wait(lock, [&] { return p.pending.load(std::memory_order_acquire) == 0; });
  }
  p.in_use.store(false, std::memory_order_release);
}

void TeamBarrier::arrive_and_wait() {
  if (team_size_ <= 1) return;
  const int phase = phase_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) == team_size_ - 1) {
    arrived_.store(0, std::memory_order_relaxed);
    phase_.fetch_add(1, std::memory_order_release);  // releases everyone's writes to the team
    return;
  }
  for (int i = 0; phase_.load(std::memory_order_acquire) == phase; ++i) {
    if (i < 4096)
      cpu_relax();
    else
      std::this_thread::yield();
  }
}

}  // namespace tg::kernels
