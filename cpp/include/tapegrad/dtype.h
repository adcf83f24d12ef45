// Element types a tensor can hold. Only floating types: integers and bools become float32 at the
// boundary (to_tensor in cpp/bindings/convert.cpp), so no integer tensor ever reaches the tape.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tg {

enum class DType : std::uint8_t { Float32, Float64 };

inline std::size_t itemsize(DType d) { return d == DType::Float32 ? 4 : 8; }
inline const char* dtype_name(DType d) { return d == DType::Float32 ? "float32" : "float64"; }

// Binary ops promote float32 with float64 to float64, as NumPy does.
inline DType promote(DType a, DType b) {
  return (a == DType::Float64 || b == DType::Float64) ? DType::Float64 : DType::Float32;
}

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };

// Calls f(T{}) with T the C++ type of d: one dispatch point for every kernel.
template <class F> decltype(auto) dispatch_dtype(DType d, F&& f) {
  if (d == DType::Float32) return f(float{});
  return f(double{});
}

}  // namespace tg
