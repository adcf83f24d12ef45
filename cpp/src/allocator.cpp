// The caching allocator behind tensor storage; see tapegrad/allocator.h for what it promises.
#include "tapegrad/allocator.h"

#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace tg::alloc {
namespace {

// Size classes: four per power of two (1, 1.25, 1.5, 1.75 x 2^e), so a request wastes at most
// 25% of address space (untouched pages of the tail cost no RSS). Requests below 256 B share
// classes in steps of 64 B.
constexpr int kSubBits = 2;

int class_index(std::size_t nbytes, std::size_t* class_bytes) {
  if (nbytes <= 256) {
    const std::size_t c = (std::max<std::size_t>(nbytes, 1) + kAlign - 1) / kAlign;  // 1..4
    *class_bytes = c * kAlign;
    return static_cast<int>(c) - 1;
  }
  const int e = 63 - __builtin_clzll(nbytes - 1);                       // 2^e < nbytes <= 2^(e+1)
  const std::size_t step = std::size_t(1) << (e - kSubBits);            // quarter of 2^e
  const std::size_t sub = (nbytes - 1 - (std::size_t(1) << e)) / step;  // 0..3
  *class_bytes = (std::size_t(1) << e) + (sub + 1) * step;
  return 4 + (e - 8) * (1 << kSubBits) + static_cast<int>(sub);
}

constexpr int kNumClasses = 4 + (64 - 8) * (1 << kSubBits);

void* system_alloc(std::size_t class_bytes) {
  const bool huge = class_bytes >= kHugePageBytes;
  void* p = nullptr;
  if (posix_memalign(&p, huge ? kHugePageBytes : kAlign, class_bytes) != 0) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  // Advice only: the kernel may ignore it (THP "never"); the buffer works either way.
  if (huge) madvise(p, class_bytes / kHugePageBytes * kHugePageBytes, MADV_HUGEPAGE);
#endif
  return p;
}

struct Cache {
  std::mutex mu;
  std::vector<void*> free_lists[kNumClasses];
  std::size_t cached_bytes = 0, cached_blocks = 0;
  std::size_t limit;
  std::uint64_t hits = 0, misses = 0;

  Cache() {
    std::size_t mb = 256;
    if (const char* env = std::getenv("TAPEGRAD_CACHE_MB")) {
      char* end = nullptr;
      const long long v = std::strtoll(env, &end, 10);
      if (end != env && v >= 0) mb = static_cast<std::size_t>(v);
    }
    limit = mb << 20;
  }

  // Frees cached buffers, largest classes first, until cached_bytes <= target. Called with mu held.
  void evict_to(std::size_t target) {
    for (int c = kNumClasses; c-- > 0 && cached_bytes > target;) {
      auto& list = free_lists[c];
      while (!list.empty() && cached_bytes > target) {
        std::size_t bytes;
        class_index_bytes(c, &bytes);
        std::free(list.back());
        list.pop_back();
        cached_bytes -= bytes;
        --cached_blocks;
      }
    }
  }

  static void class_index_bytes(int c, std::size_t* bytes) {
    if (c < 4) {
      *bytes = static_cast<std::size_t>(c + 1) * kAlign;
      return;
    }
    const int e = (c - 4) / (1 << kSubBits) + 8, sub = (c - 4) % (1 << kSubBits);
    *bytes = (std::size_t(1) << e) +
             static_cast<std::size_t>(sub + 1) * (std::size_t(1) << (e - kSubBits));
  }
};

// Leaked on purpose: tensors may be freed by static destructors after any Cache destructor ran.
Cache& cache() {
  static Cache* c = [] {
    auto* made = new Cache();
    pthread_atfork([] { cache().mu.lock(); }, [] { cache().mu.unlock(); },
                   [] { cache().mu.unlock(); });
    return made;
  }();
  return *c;
}

void give_back(void* p, int c, std::size_t class_bytes) {
  Cache& k = cache();
  {
    std::lock_guard<std::mutex> lock(k.mu);
    if (k.cached_bytes + class_bytes <= k.limit) {
      k.free_lists[c].push_back(p);
      k.cached_bytes += class_bytes;
      ++k.cached_blocks;
      return;
    }
  }
  std::free(p);  // the cache is full: back to the system, outside the lock
}

}  // namespace

std::size_t size_class(std::size_t nbytes) {
  std::size_t bytes;
  class_index(nbytes, &bytes);
  return bytes;
}

std::shared_ptr<void> allocate(std::size_t nbytes) {
  std::size_t class_bytes;
  const int c = class_index(nbytes, &class_bytes);
  Cache& k = cache();
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(k.mu);
    auto& list = k.free_lists[c];
    if (!list.empty()) {
      p = list.back();  // the most recently freed: likeliest still in cache and TLB
      list.pop_back();
      k.cached_bytes -= class_bytes;
      --k.cached_blocks;
      ++k.hits;
    } else {
      ++k.misses;
    }
  }
  if (p == nullptr) p = system_alloc(class_bytes);
  return std::shared_ptr<void>(p, [c, class_bytes](void* q) { give_back(q, c, class_bytes); });
}

Stats stats() {
  Cache& k = cache();
  std::lock_guard<std::mutex> lock(k.mu);
  return {k.cached_bytes, k.cached_blocks, k.limit, k.hits, k.misses};
}

std::size_t set_cache_limit(std::size_t bytes) {
  Cache& k = cache();
  std::lock_guard<std::mutex> lock(k.mu);
  const std::size_t old = k.limit;
  k.limit = bytes;
  k.evict_to(bytes);
  return old;
}

void release_cached() {
  Cache& k = cache();
  std::lock_guard<std::mutex> lock(k.mu);
  k.evict_to(0);
}

}  // namespace tg::alloc
