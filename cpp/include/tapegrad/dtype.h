// Element types a tensor can hold: two floating types, which tapes differentiate, and three
// integer-like types (labels, indices, masks), which they never do. Bool is one byte per element,
// as in NumPy.
#pragma once
#include <cstddef>
#include <cstdint>

#include "tapegrad/errors.h"

namespace tg {

enum class DType : std::uint8_t { Float32, Float64, Int32, Int64, Bool };

inline std::size_t itemsize(DType d) {
  switch (d) {
    case DType::Float32:
    case DType::Int32: return 4;
    case DType::Float64:
    case DType::Int64: return 8;
    case DType::Bool: return 1;
  }
  return 0;
}
inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "?";
}
inline bool is_floating(DType d) { return d == DType::Float32 || d == DType::Float64; }

// NumPy's promotion for two arrays: bool < int32 < int64 < float; float32 with float32 or bool
// stays float32, float32 with any integer and float64 with anything is float64.
inline DType promote(DType a, DType b) {
  if (a == b) return a;
  if (a == DType::Bool) return b;
  if (b == DType::Bool) return a;
  if (a == DType::Float64 || b == DType::Float64) return DType::Float64;
  if (a == DType::Float32 || b == DType::Float32) return DType::Float64;  // float32 with an int
  return DType::Int64;                                                    // int32 with int64
}

template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::Float32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::Float64;
};
template <>
struct dtype_of<std::int32_t> {
  static constexpr DType value = DType::Int32;
};
template <>
struct dtype_of<std::int64_t> {
  static constexpr DType value = DType::Int64;
};
template <>
struct dtype_of<bool> {
  static constexpr DType value = DType::Bool;
};

// Calls f(T{}) with T the C++ type of a floating d: the dispatch point of every numeric kernel.
// Ops check their inputs' dtypes first (naming the op); reaching here with an integer dtype is
// still an error, never a reinterpretation of the bytes.
template <class F>
decltype(auto) dispatch_dtype(DType d, F&& f) {
  if (d == DType::Float32) return f(float{});
  if (d != DType::Float64)
    throw TypeError(std::string("expected a float32 or float64 tensor, got ") + dtype_name(d));
  return f(double{});
}

// Calls f(T{}) for any dtype: data movement, casts, comparisons and integer arithmetic.
template <class F>
decltype(auto) dispatch_any_dtype(DType d, F&& f) {
  switch (d) {
    case DType::Float32: return f(float{});
    case DType::Int32: return f(std::int32_t{});
    case DType::Int64: return f(std::int64_t{});
    case DType::Bool: return f(bool{});
    default: return f(double{});
  }
}

}  // namespace tg
