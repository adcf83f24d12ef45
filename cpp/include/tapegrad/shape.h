// Shapes are plain vectors of extents; row-major, contiguous layout everywhere.
//
// Note [Shape limits]
// Every tensor's shape has extents >= 0, and the product of its non-zero extents times its item
// size is at most kMaxTensorBytes (2**62 bytes, far beyond any address space; docs/limits.md).
// Tensor::empty, view_as and from_external check it (check_shape) before anything is allocated,
// and ops that compute a shape check it before they record. Zero extents are skipped, as NumPy
// does, so an empty tensor's strides fit too. Hence element counts, row-major strides and byte
// offsets of any tensor fit in int64 with room to spare (a stride times an extent, or twice a
// count, still fits), and the kernels multiply them without overflow checks.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tg {

using Shape = std::vector<std::int64_t>;

inline constexpr std::int64_t kMaxTensorBytes = std::int64_t{1} << 62;

// *out = a * b; true when the product does not fit in int64 (*out is then unspecified).
inline bool mul_overflows(std::int64_t a, std::int64_t b, std::int64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}
// *out = a + b; true when the sum does not fit in int64.
inline bool add_overflows(std::int64_t a, std::int64_t b, std::int64_t* out) {
  return __builtin_add_overflow(a, b, out);
}

// The number of elements. Throws ValueError for a negative extent or a count that overflows
// int64; shapes of tensors (Note [Shape limits]) never do.
std::int64_t numel(const Shape& s);

// Throws ValueError, starting with `what` and naming the shape, unless a tensor of this shape
// with items of `itemsize` bytes is within Note [Shape limits]. Returns its element count.
std::int64_t check_shape(const Shape& s, std::size_t itemsize, const char* what);

// "(2, 3)", "(4,)" or "()": Python's spelling, so messages read like NumPy's.
std::string shape_str(const Shape& s);

// NumPy broadcasting of two shapes; throws ValueError naming both shapes and the op.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// Normalizes a possibly negative axis against rank; throws ValueError naming the op.
int normalize_axis(std::int64_t axis, int rank, const char* op);

}  // namespace tg
