// Shuffling and random numbers (tapegrad/sampling.h, tapegrad/random.h): the shuffle buffer's
// output is a permutation with TensorFlow's sliding-window bound, a full buffer and
// random_permutation give every position to every id, and the generators are counter based
// (a longer draw extends a shorter one) and stay in range.
// A tiny assert harness, no dependencies; the last line reads "N passed, M failed".
#include "check.h"
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "tapegrad/errors.h"
#include "tapegrad/random.h"
#include "tapegrad/sampling.h"

namespace {

using tg_test::check;

std::vector<std::int64_t> iota(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

bool is_permutation_of_iota(std::vector<std::int64_t> v) {
  std::sort(v.begin(), v.end());
  return v == iota(static_cast<std::int64_t>(v.size()));
}

void test_shuffle_buffer_sliding_window() {
  const std::int64_t n = 1000, k = 16;
  tg::ShuffleBuffer buffer(k, 42);
  std::vector<std::int64_t> in = iota(n), out;
  buffer.push(in.data(), 300, out);  // in two pieces, as a stream arrives
  buffer.push(in.data() + 300, n - 300, out);
  check(static_cast<std::int64_t>(out.size()) == n - k && buffer.size() == k,
        "one out per id beyond the capacity");
  buffer.drain(out);
  check(buffer.size() == 0 && is_permutation_of_iota(out),
        "shuffle buffer output is a permutation");
  bool window = true;
  for (std::int64_t i = 0; i < n; ++i) window = window && out[static_cast<std::size_t>(i)] < i + k;
  check(window, "output i is one of the first i + capacity inputs");
  check(out != in, "the order changed");
}

void test_full_buffer_and_permutation_are_uniform() {
  const int n = 8, trials = 16000;
  std::vector<int> first_buffer(n, 0), first_perm(n, 0);
  for (int t = 0; t < trials; ++t) {
    tg::ShuffleBuffer buffer(n, static_cast<std::uint64_t>(t));
    std::vector<std::int64_t> in = iota(n), out;
    buffer.push(in.data(), n, out);
    buffer.drain(out);
    ++first_buffer[static_cast<std::size_t>(out[0])];
    ++first_perm[static_cast<std::size_t>(
        tg::random_permutation(n, static_cast<std::uint64_t>(t))[0])];
  }
  for (int i = 0; i < n; ++i) {
    check(std::abs(first_buffer[static_cast<std::size_t>(i)] - trials / n) < 250,
          "full buffer: id " + std::to_string(i) + " first about 1/n of the time");
    check(std::abs(first_perm[static_cast<std::size_t>(i)] - trials / n) < 250,
          "permutation: id " + std::to_string(i) + " first about 1/n of the time");
  }
  check(is_permutation_of_iota(tg::random_permutation(100, 7)),
        "random_permutation is a permutation");
}

void test_generators_are_counter_based_and_in_range() {
  const tg::Tensor a = tg::random_normal(tg::DType::Float64, {10}, 0.0, 1.0, 5);
  const tg::Tensor b = tg::random_normal(tg::DType::Float64, {25}, 0.0, 1.0, 5);
  check(std::equal(a.data<double>(), a.data<double>() + 10, b.data<double>()),
        "a longer draw extends a shorter one");
  const tg::Tensor u = tg::random_uniform(tg::DType::Float32, {10000}, -1.0, 2.0, 9);
  const float* p = u.data<float>();
  check(*std::min_element(p, p + 10000) >= -1.0f && *std::max_element(p, p + 10000) < 2.0f,
        "uniform stays in [minval, maxval)");
  const tg::Tensor t = tg::random_truncated_normal(tg::DType::Float64, {10000}, 3.0, 0.5, 1);
  const double* q = t.data<double>();
  bool within = true;
  for (int i = 0; i < 10000; ++i) within = within && std::fabs(q[i] - 3.0) <= 1.0;
  check(within, "truncated normal within two standard deviations");
  bool threw = false;
  try {
    tg::random_uniform(tg::DType::Float32, {2}, 1.0, 0.0, 1);
  } catch (const tg::ValueError&) {
    threw = true;
  }
  check(threw, "minval >= maxval is a ValueError");
}

}  // namespace

int main() {
  test_shuffle_buffer_sliding_window();
  test_full_buffer_and_permutation_are_uniform();
  test_generators_are_counter_based_and_in_range();
  return tg_test::finish();
}
