// Errors the core raises. The bindings map them to Python's ValueError, TypeError and IndexError,
// so bad input always becomes a clear Python exception naming the shapes or dtypes involved.
#pragma once
#include <stdexcept>
#include <string>

namespace tg {

struct ValueError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct IndexError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace tg
