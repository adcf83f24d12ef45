// A flat open-addressing hash map from tensor/variable ids (never 0) to small values. The tape
// does a few lookups per recorded op and per swept node; std::unordered_map allocated a node for
// each insert, which cost more than the scalar ops themselves.
#pragma once
#include <cstdint>
#include <vector>

namespace tg::detail {

template <class V>
class IdMap {
 public:
  explicit IdMap(std::size_t expected = 8) { rehash(capacity_for(expected)); }

  std::size_t size() const { return size_; }
  bool contains(std::uint64_t key) const { return find(key) != nullptr; }

  const V* find(std::uint64_t key) const {
    for (std::size_t i = hash(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.value;
      if (s.key == 0) return nullptr;
    }
  }
  V* find(std::uint64_t key) { return const_cast<V*>(static_cast<const IdMap*>(this)->find(key)); }

  // Inserts key with value unless present; returns the stored value and whether it was inserted.
  std::pair<V*, bool> insert(std::uint64_t key, const V& value) {
    if ((size_ + 1) * 4 > slots_.size() * 3) rehash(slots_.size() * 2);
    for (std::size_t i = hash(key);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.key == key) return {&s.value, false};
      if (s.key == 0) {
        s.key = key;
        s.value = value;
        ++size_;
        return {&s.value, true};
      }
    }
  }

  void clear() {
    for (Slot& s : slots_) s = Slot{};
    size_ = 0;
  }

  // Empty, sized for `expected` keys: reuses the slots unless they are far too many (a map once
  // grown for a huge graph must not make every later small sweep clear megabytes).
  void reset(std::size_t expected) {
    const std::size_t want = capacity_for(expected);
    if (slots_.size() < want || slots_.size() > 4 * want) {
      slots_.assign(want, Slot{});
      mask_ = want - 1;
      size_ = 0;
    } else {
      clear();
    }
  }

  template <class F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.key) f(s.key, s.value);
  }

 private:
  struct Slot {
    std::uint64_t key = 0;
    V value{};
  };
  static std::size_t capacity_for(std::size_t n) {
    std::size_t c = 16;
    while (c * 3 < n * 4) c *= 2;
    return c;
  }
  std::size_t hash(std::uint64_t key) const {
    return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> 20) & mask_;
  }
  void rehash(std::size_t capacity) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    size_ = 0;
    for (const Slot& s : old)
      if (s.key) insert(s.key, s.value);
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace tg::detail
