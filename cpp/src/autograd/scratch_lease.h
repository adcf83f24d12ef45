// ScratchLease<S>: a thread's reusable working buffers (a sweep's maps, a replay's slots), so a
// small call allocates only its tensors. A pool, not one set: a gradient may run inside a VJP, a
// program inside an effect. S::release() drops what must not outlive the call (tensors) and keeps
// the capacity.
#pragma once
#include <memory>
#include <vector>

namespace tg::detail {

template <class S>
class ScratchLease {
 public:
  ScratchLease() {
    auto& pool = free_list();
    if (pool.empty()) {
      scratch_ = std::make_unique<S>();
    } else {
      scratch_ = std::move(pool.back());
      pool.pop_back();
    }
  }
  ~ScratchLease() {
    scratch_->release();
    auto& pool = free_list();
    if (pool.size() < 8) pool.push_back(std::move(scratch_));
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  S& operator*() { return *scratch_; }
  S* operator->() { return scratch_.get(); }

 private:
  static std::vector<std::unique_ptr<S>>& free_list() {
    thread_local std::vector<std::unique_ptr<S>> pool;
    return pool;
  }
  std::unique_ptr<S> scratch_;
};

}  // namespace tg::detail
