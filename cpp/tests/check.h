// The C++ tests' tiny harness: check() counts and reports, finish() prints the tally and gives
// main's exit code (non-zero when any check failed, so ctest fails).
#pragma once
#include <cstdio>
#include <string>

namespace tg_test {

inline int g_passed = 0, g_failed = 0;

inline void check(bool ok, const std::string& what) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    std::printf("FAIL: %s\n", what.c_str());
  }
}

inline int finish() {
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}

}  // namespace tg_test
