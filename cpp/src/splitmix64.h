// SplitMix64 (Steele, Lea and Flood), shared by the batch sampler (sampling.cpp) and the random
// number generators (random.cpp): a 64-bit state, one add and three xor-shift-multiplies per
// draw; every seed gives a full-period, well-mixed stream. It is counter based: draw k of the
// stream seeded with s is mix(s + (k + 1) * kGamma), so any position can be computed directly.
// Plain integer arithmetic in a file compiled for the baseline ISA: the same numbers everywhere.
#pragma once
#include <cstdint>

namespace tg::detail {

inline constexpr std::uint64_t kSplitMixGamma = 0x9e3779b97f4a7c15ULL;

inline std::uint64_t splitmix64_mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct SplitMix64 {
  std::uint64_t state;
  std::uint64_t next() { return splitmix64_mix(state += kSplitMixGamma); }
  // Uniform in [0, n) without modulo bias (Lemire's multiply-shift with rejection).
  std::uint64_t below(std::uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(next()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }
};

}  // namespace tg::detail
