// Tensor storage: a caching allocator. Freed buffers go to per-size-class free lists and are handed
// out again, so a training step (or a benchmark loop) that frees and re-allocates a 40 MB output
// every call touches memory that is already mapped, instead of page-faulting 10k fresh pages each
// time (what NumPy and PyTorch pay for a fresh large output; TensorFlow's BFC allocator avoids it).
//
// - Every buffer is 64-byte aligned (one cache line, one AVX-512 vector).
// - Buffers of at least kHugePageBytes are 2 MB aligned and advised MADV_HUGEPAGE: transparent huge
//   pages cut the faults of a first touch 512-fold and the TLB misses of a streaming kernel.
// - The cache is bounded (default 256 MB; env TAPEGRAD_CACHE_MB, or set_cache_limit): a buffer
//   freed when the cache is full goes back to the system at once, so RSS never holds more than
//   the live tensors plus the bound.
// - Thread-safe (one mutex, held for a few list operations) and fork-safe (the lock is taken
//   around fork, so a child never inherits it locked).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace tg::alloc {

constexpr std::size_t kAlign = 64;
constexpr std::size_t kHugePageBytes = std::size_t(2) << 20;

// A buffer of at least nbytes (64-byte aligned), returned to the cache when the last owner goes.
std::shared_ptr<void> allocate(std::size_t nbytes);

// The size class a request of nbytes is served from (what allocate really reserves).
std::size_t size_class(std::size_t nbytes);

struct Stats {
  std::size_t cached_bytes;  // bytes held in the free lists
  std::size_t cached_blocks;
  std::size_t cache_limit;  // the bound on cached_bytes
  std::uint64_t hits;       // allocations served from the cache
  std::uint64_t misses;     // allocations that went to the system
};
Stats stats();

// Sets the bound on cached bytes (evicting down to it at once); returns the previous bound.
std::size_t set_cache_limit(std::size_t bytes);
// Returns every cached buffer to the system (like torch.cuda.empty_cache).
void release_cached();

}  // namespace tg::alloc
