// Note [Shape limits] (tapegrad/shape.h) and the thread pool's limits: the checked shape helpers
// on shapes whose counts, strides or byte sizes overflow int64 (each a ValueError or IndexError
// before anything is allocated), and a thread start that fails part-way (an injected EAGAIN):
// the threads it started are joined, the job runs on the caller, and the pool works afterwards.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "tapegrad/errors.h"
#include "tapegrad/ops.h"
#include "tensors.h"
#include "threadpool.h"

namespace tk = tg::kernels;
using tg::Shape;
using tg_test::check;
using i64 = std::int64_t;

namespace {

constexpr i64 k2_30 = i64{1} << 30, k2_31 = i64{1} << 31, k2_32 = i64{1} << 32,
              k2_62 = i64{1} << 62;

// True when f() throws E whose message contains `needle`.
template <class E, class F>
bool throws(F&& f, const std::string& needle = "") {
  try {
    f();
  } catch (const E& e) {
    return std::string(e.what()).find(needle) != std::string::npos;
  } catch (...) {
    return false;
  }
  return false;
}

void test_checked_helpers() {
  i64 out = 0;
  check(!tg::mul_overflows(k2_31, k2_31, &out) && out == k2_62,
        "mul_overflows: 2**31 * 2**31 fits");
  check(tg::mul_overflows(k2_32, k2_32, &out), "mul_overflows: 2**32 * 2**32 overflows");
  check(tg::mul_overflows(-k2_32, k2_32, &out), "mul_overflows: -2**32 * 2**32 overflows");
  check(tg::add_overflows(INT64_MAX, 1, &out), "add_overflows: INT64_MAX + 1 overflows");
  check(tg::numel({2, 3, 4}) == 24 && tg::numel({}) == 1 && tg::numel({5, 0}) == 0, "numel");
  check(throws<tg::ValueError>([] { tg::numel({k2_32 + 1, k2_32 - 1}); }, "64-bit"),
        "numel: (2**32+1, 2**32-1) wraps to -1 -> ValueError");
  check(throws<tg::ValueError>([] { tg::numel({3, -1}); }, "negative"), "numel: negative extent");

  check(tg::check_shape({k2_30, k2_30}, 4, "t") == k2_30 * k2_30, "check_shape: 2**62 bytes fit");
  check(throws<tg::ValueError>([] { tg::check_shape({k2_30, k2_30 + 1}, 4, "t"); },
                               "(1073741824, 1073741825)"),
        "check_shape: past 2**62 bytes, naming the shape");
  check(throws<tg::ValueError>([] { tg::check_shape({k2_30, k2_30}, 8, "t"); }, "too large"),
        "check_shape: the item size counts");
  check(throws<tg::ValueError>([] { tg::check_shape({k2_62, 4, 3}, 4, "broadcast_to"); },
                               "broadcast_to:"),
        "check_shape: names the op");
  // Zero extents are skipped (as NumPy does): an empty tensor's strides must fit as well.
  check(tg::check_shape({0, k2_30, k2_30}, 4, "t") == 0, "check_shape: empty, non-zero part fits");
  check(throws<tg::ValueError>([] { tg::check_shape({0, k2_32, k2_32}, 4, "t"); }),
        "check_shape: empty, non-zero part 2**64 elements");
  check(throws<tg::ValueError>([] { tg::check_shape({2, -3}, 4, "t"); }, "negative"),
        "check_shape: negative extent");
}

void test_tensors_and_ops() {
  using tg::DType;
  check(throws<tg::ValueError>([] { tg::Tensor::empty(DType::Float32, {k2_62, 4, 3}); },
                               "(4611686018427387904, 4, 3)"),
        "Tensor::empty refuses (2**62, 4, 3) before allocating");
  const tg::Tensor one = tg_test::vec({1.0, 2.0, 3.0});
  check(throws<tg::ValueError>([&] { tg::broadcast_to(one, {k2_62, 4, 3}); }, "broadcast_to"),
        "broadcast_to (2**62, 4, 3)");
  const tg::Tensor s = tg::Tensor::scalar(DType::Float64, 1.0);
  check(throws<tg::ValueError>([&] { tg::broadcast_to(s, {k2_32 + 1, k2_32 - 1}); }),
        "broadcast_to (2**32+1, 2**32-1): the count would wrap to -1");
  const tg::Tensor empty = tg::Tensor::empty(DType::Float32, {0});
  check(throws<tg::ValueError>([&] { tg::reshape(empty, {k2_32, k2_32}); }, "reshape"),
        "reshape (0,) -> (2**32, 2**32): the count would wrap to 0");
  check(throws<tg::ValueError>([&] { tg::reshape(empty, {k2_32, k2_32, -1}); }, "reshape"),
        "reshape (0,) -> (2**32, 2**32, -1)");
  check(tg::reshape(empty, {0, k2_30, k2_30}).shape() == Shape({0, k2_30, k2_30}),
        "reshape (0,) -> (0, 2**30, 2**30) (2**62 bytes if it held data) is allowed");
  check(throws<tg::ValueError>([&] { tg::reshape(one, {INT64_MAX, INT64_MAX}); }, "reshape"),
        "reshape to (INT64_MAX, INT64_MAX)");
  const tg::Tensor big_empty = tg::reshape(empty, {0, k2_30, k2_30});
  check(throws<tg::ValueError>([&] { tg::concat({big_empty, big_empty}, 1); }, "concat"),
        "concat of two (0, 2**30, 2**30) along axis 1 passes the limit");
  check(throws<tg::ValueError>([&] { tg::stack({big_empty, big_empty}, 0); }, "stack"),
        "stack of two (0, 2**30, 2**30)");
  const tg::Tensor huge_axis =
      tg::reshape(empty, {i64{1} << 60, 0});  // 2**62 bytes if it held data
  std::vector<tg::Tensor> many(8, huge_axis);
  check(throws<tg::ValueError>([&] { tg::concat(many, 0); }, "concat"),
        "concat: extents add past the limit");

  // A slice visiting an axis once may carry any step; visiting it twice, the step must fit.
  const tg::Tensor x = tg_test::vec({10, 11, 12, 13});
  const tg::Tensor picked = tg::strided_slice(x, {2}, {INT64_MAX}, {1});
  check(tg_test::values(picked) == std::vector<double>{12},
        "strided_slice: count 1, step INT64_MAX");
  check(tg_test::values(tg::strided_slice(x, {INT64_MAX}, {INT64_MIN}, {0})).empty(),
        "strided_slice: count 0, any begin and step");
  check(throws<tg::IndexError>([&] { tg::strided_slice(x, {1}, {INT64_MAX}, {2}); }),
        "strided_slice: count 2 with step INT64_MAX overflows -> IndexError");
  check(throws<tg::IndexError>([&] { tg::strided_slice(x, {3}, {INT64_MIN}, {3}); }),
        "strided_slice: negative step overflowing");
  check(tg_test::values(tg::slice_grad(tg_test::vec({5}), {4}, {1}, {INT64_MIN})) ==
            std::vector<double>({0, 5, 0, 0}),
        "slice_grad: count 1, step INT64_MIN");
  check(throws<tg::ValueError>(
            [&] { tg::slice_grad(tg_test::vec({5}), {k2_62, 4}, {0, 0}, {1, 1}); }),
        "slice_grad: a target shape past the limit");
}

// What each member of a team saw: its team_size, by thread id.
struct TeamLog {
  std::vector<int> sizes = std::vector<int>(16, -1);
};

int team_size_of(int max_threads) {
  TeamLog log;
  tk::run_team(max_threads,
               [&](int tid, int size) { log.sizes[static_cast<std::size_t>(tid)] = size; });
  return log.sizes[0];
}

void test_failed_thread_start() {
  const int before = tk::pool_workers();
  tk::fail_thread_starts_after(1);  // the team of 4 needs 3 workers; the second start fails
  check(team_size_of(4) == 1, "a failed start runs the team on the caller alone");
  check(tk::pool_workers() == before, "the worker started before the failure was joined");
  check(team_size_of(4) == 4, "the next team of 4 gets its workers");
  const int after = tk::pool_workers();
  check(after == (before > 3 ? before : 3), "3 workers serve a team of 4");
  tk::fail_thread_starts_after(2);
  check(team_size_of(8) == 1, "growing to 8 fails after 2 starts: the caller runs alone");
  check(tk::pool_workers() == after, "the 2 new workers were joined, the old ones kept");
  check(team_size_of(4) == 4, "the old workers still serve teams");

  // A GEMM big enough to use the pool gives the 1-thread result when its thread start fails.
  const i64 n = 256;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<double> A(n * n), B(n * n), C1(n * n), C2(n * n);
  for (auto& v : A) v = u(rng);
  for (auto& v : B) v = u(rng);
  tk::set_num_threads(1);
  tk::gemm<double>(false, false, n, n, n, 1.0, A.data(), n, B.data(), n, 0.0, C1.data(), n);
  tk::set_num_threads(16);
  tk::fail_thread_starts_after(0);
  tk::gemm<double>(false, false, n, n, n, 1.0, A.data(), n, B.data(), n, 0.0, C2.data(), n);
  tk::fail_thread_starts_after(-1);
  tk::set_num_threads(0);
  check(std::memcmp(C1.data(), C2.data(), sizeof(double) * n * n) == 0,
        "GEMM with a failed thread start equals the 1-thread result");
  check(tk::pool_workers() == after, "the GEMM's failed start left the pool as it was");

  tk::set_num_threads(1 << 30);
  check(tk::num_threads() == tk::kMaxThreads, "the C++ set_num_threads caps at kMaxThreads");
  tk::set_num_threads(0);
}

}  // namespace

int main() {
  test_checked_helpers();
  test_tensors_and_ops();
  test_failed_thread_start();
  return tg_test::finish();
}
