#include "tapegrad/random.h"

#include <cmath>
#include <limits>
#include <string>

#include "splitmix64.h"
#include "tapegrad/errors.h"

namespace tg {

namespace {

// Draw k of the stream `key` (SplitMix64 at position k, computed directly).
std::uint64_t draw(std::uint64_t key, std::uint64_t k) {
  return detail::splitmix64_mix(key + (k + 1) * detail::kSplitMixGamma);
}

double unit_open_right(std::uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}  // [0, 1)
double unit_open_left(std::uint64_t bits) {
  return static_cast<double>((bits >> 11) + 1) * 0x1.0p-53;
}  // (0, 1]

// Standard normal number k of the stream `key`: Box-Muller on the uniform pair k / 2, its cosine
// branch for even k and its sine branch for odd k.
double standard_normal(std::uint64_t key, std::uint64_t k) {
  const std::uint64_t pair = k / 2;
  const double radius = std::sqrt(-2.0 * std::log(unit_open_left(draw(key, 2 * pair))));
  const double angle = 6.283185307179586 * unit_open_right(draw(key, 2 * pair + 1));
  return radius * (k % 2 == 0 ? std::cos(angle) : std::sin(angle));
}

void check_float(DType dtype, const char* what) {
  if (dtype != DType::Float32 && dtype != DType::Float64)
    throw TypeError(std::string(what) + ": dtype must be float32 or float64, got " +
                    dtype_name(dtype));
}

void check_finite(double v, const char* name, const char* what) {
  if (!std::isfinite(v))
    throw ValueError(std::string(what) + ": " + name + " must be finite, got " + std::to_string(v));
}

// A tensor of `dtype` and `shape` whose element k is value(k), rounded to the dtype.
template <class F>
Tensor fill(DType dtype, const Shape& shape, F value) {
  Tensor out = Tensor::empty(dtype, shape);
  const std::int64_t n = out.size();
  if (dtype == DType::Float32) {
    float* p = out.mutable_data<float>();
    for (std::int64_t k = 0; k < n; ++k)
      p[k] = static_cast<float>(value(static_cast<std::uint64_t>(k)));
  } else {
    double* p = out.mutable_data<double>();
    for (std::int64_t k = 0; k < n; ++k) p[k] = value(static_cast<std::uint64_t>(k));
  }
  return out;
}

}  // namespace

Tensor random_uniform(DType dtype, const Shape& shape, double minval, double maxval,
                      std::uint64_t key) {
  check_float(dtype, "random_uniform");
  check_finite(minval, "minval", "random_uniform");
  check_finite(maxval, "maxval", "random_uniform");
  if (!(minval < maxval))
    throw ValueError("random_uniform: need minval < maxval, got minval=" + std::to_string(minval) +
                     " and maxval=" + std::to_string(maxval));
  // The largest value of the dtype below maxval: rounding a draw close to maxval must not reach it.
  const double below_max =
      dtype == DType::Float32
          ? static_cast<double>(std::nextafter(static_cast<float>(maxval), -INFINITY))
          : std::nextafter(maxval, -INFINITY);
  const double top = below_max < minval ? minval : below_max;
  const double width = maxval - minval;
  return fill(dtype, shape, [&](std::uint64_t k) {
    const double v = minval + width * unit_open_right(draw(key, k));
    return v > top ? top : v;
  });
}

Tensor random_normal(DType dtype, const Shape& shape, double mean, double stddev,
                     std::uint64_t key) {
  check_float(dtype, "random_normal");
  check_finite(mean, "mean", "random_normal");
  check_finite(stddev, "stddev", "random_normal");
  if (stddev < 0)
    throw ValueError("random_normal: stddev must be >= 0, got " + std::to_string(stddev));
  return fill(dtype, shape,
              [&](std::uint64_t k) { return mean + stddev * standard_normal(key, k); });
}

Tensor random_truncated_normal(DType dtype, const Shape& shape, double mean, double stddev,
                               std::uint64_t key) {
  check_float(dtype, "random_truncated_normal");
  check_finite(mean, "mean", "random_truncated_normal");
  check_finite(stddev, "stddev", "random_truncated_normal");
  if (stddev < 0)
    throw ValueError("random_truncated_normal: stddev must be >= 0, got " + std::to_string(stddev));
  return fill(dtype, shape, [&](std::uint64_t k) {
    // Attempt a uses its own stream; about 4.6% of draws need a second attempt.
    double z = standard_normal(key, k);
    for (std::uint64_t attempt = 1; std::fabs(z) > 2.0; ++attempt)
      z = standard_normal(detail::splitmix64_mix(key ^ (attempt * 0xd1b54a32d192ed03ULL)), k);
    return mean + stddev * z;
  });
}

std::vector<std::int64_t> random_permutation(std::int64_t n, std::uint64_t key) {
  if (n < 0) throw ValueError("random_permutation: n must be >= 0, got " + std::to_string(n));
  std::vector<std::int64_t> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = i;
  detail::SplitMix64 rng{key};
  for (std::int64_t i = n - 1; i > 0; --i)
    std::swap(out[static_cast<std::size_t>(i)], out[rng.below(static_cast<std::uint64_t>(i) + 1)]);
  return out;
}

}  // namespace tg

namespace tg {
std::uint64_t RandomStream::next_key() {
  return detail::splitmix64_mix(
      key ^ detail::splitmix64_mix(calls.fetch_add(1) + detail::kSplitMixGamma));
}
}  // namespace tg
