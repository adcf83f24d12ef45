// Shapes are plain vectors of extents; row-major, contiguous layout everywhere.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tg {

using Shape = std::vector<std::int64_t>;

inline std::int64_t numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// "(2, 3)", "(4,)" or "()": Python's spelling, so messages read like NumPy's.
std::string shape_str(const Shape& s);

// NumPy broadcasting of two shapes; throws ValueError naming both shapes and the op.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Normalizes a possibly negative axis against rank; throws ValueError naming the op.
int normalize_axis(std::int64_t axis, int rank, const char* op);

}  // namespace tg
