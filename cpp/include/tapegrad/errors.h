// Errors the core raises. The bindings map them to Python's ValueError, TypeError and IndexError,
// so bad input always becomes a clear Python exception naming the shapes or dtypes involved.
#pragma once
#include <new>
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
// An allocation the machine cannot satisfy (Python's MemoryError), naming what was asked for.
// A std::bad_alloc, so code that handles allocation failure in general catches it too.
struct OutOfMemory : std::bad_alloc {
  explicit OutOfMemory(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

}  // namespace tg
