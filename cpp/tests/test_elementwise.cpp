// The elementwise ISA tables (simd/ew_table.h) called directly, for every ISA this CPU runs:
// each loop against a double reference on sizes that hit every vector tail and on every stride
// pattern broadcasting produces; the lane sums bit-identical across ISAs (their promise); and the
// ranged strided walk (what threads split broadcasting loops with) equal to the whole walk.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <utility>
#include <random>
#include <vector>

#include "simd/ew_table.h"
#include "strided_loop.h"
#include "tapegrad/gemm.h"

namespace tk = tg::kernels;
using i64 = std::int64_t;

namespace {

int passed = 0, failed = 0;

void expect(bool ok, const char* what, const char* isa, i64 n) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::fprintf(stderr, "FAILED %s [%s, n=%lld]\n", what, isa, (long long)n);
  }
}

bool near(double got, double want, double tol) {
  if (std::isnan(want)) return std::isnan(got);
  return std::fabs(got - want) <= tol * (1.0 + std::fabs(want));
}

const i64 kSizes[] = {0, 1, 7, 17, 64, 129, 1000, 5001};  // 5001: streamed chunks and a tail

template <class T>
std::vector<T> values(i64 n, unsigned seed, double lo = -2.0, double hi = 2.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<T>(u(rng));
  return v;
}

template <class T>
void check_table(const char* isa, const tk::EwKernels<T>& k, double tol, bool stream) {
  for (i64 n : kSizes) {
    const auto x = values<T>(n, 1), y = values<T>(n, 2), pos = values<T>(n, 3, 0.25, 2.0);
    // One element of slack: with stream, out starts off a 64-byte line (the unaligned head).
    std::vector<T> out_storage(static_cast<std::size_t>(n) + 1);
    T* const out = out_storage.data() + (stream ? 1 : 0);
    // unary
    k.unary(tk::UnaryOp::Relu, x.data(), out, n, stream);
    bool ok = true;
    for (i64 i = 0; i < n; ++i) ok &= out[i] == (x[i] < 0 ? T(0) : x[i]);
    expect(ok, "relu", isa, n);
    k.unary(tk::UnaryOp::Log, pos.data(), out, n, stream);
    ok = true;
    for (i64 i = 0; i < n; ++i) ok &= near(out[i], std::log(double(pos[i])), tol);
    expect(ok, "log", isa, n);
    k.unary(tk::UnaryOp::Sigmoid, x.data(), out, n, stream);
    ok = true;
    for (i64 i = 0; i < n; ++i) ok &= near(out[i], 1.0 / (1.0 + std::exp(-double(x[i]))), tol);
    expect(ok, "sigmoid", isa, n);
    // binary, every stride pattern
    const i64 strides[][2] = {{1, 1}, {0, 1}, {1, 0}, {0, 0}};
    for (const auto& s : strides) {
      k.binary(tk::BinaryOp::Subtract, x.data(), s[0], y.data(), s[1], out, n, stream);
      ok = true;
      for (i64 i = 0; i < n; ++i) ok &= out[i] == x[i * s[0]] - y[i * s[1]];
      expect(ok, "subtract strided", isa, n);
      k.binary(tk::BinaryOp::ReluGrad, y.data(), s[0], x.data(), s[1], out, n, stream);
      ok = true;
      for (i64 i = 0; i < n; ++i) ok &= out[i] == (x[i * s[1]] > 0 ? y[i * s[0]] : T(0));
      expect(ok, "relu_grad strided", isa, n);
    }
    // sums against double
    double s = 0, sq = 0, mx = -INFINITY;
    for (i64 i = 0; i < n; ++i) {
      s += x[i];
      sq += (double(y[i]) - x[i]) * (double(y[i]) - x[i]);
      mx = std::max(mx, double(x[i]));
    }
    expect(near(k.sum(x.data(), 1, n), s, tol * (n + 1)), "sum", isa, n);
    expect(near(k.sq_diff_sum(x.data(), 1, y.data(), 1, n), sq, tol * (n + 1)), "sq_diff_sum", isa,
           n);
    expect(k.max(x.data(), 1, n, T(-INFINITY)) == T(mx), "max", isa, n);
    // scaled_diff: one sample's row (g broadcast) and elementwise g
    const T g = T(0.75);
    k.scaled_diff(&g, 0, x.data(), 1, y.data(), 1, T(0.5), out, n, stream);
    ok = true;
    for (i64 i = 0; i < n; ++i) ok &= near(out[i], 0.375 * (double(y[i]) - x[i]), tol);
    expect(ok, "scaled_diff", isa, n);
  }
  // The row kernels equal the per-row calls bit for bit (rows of 1, 7 and 129; M*D crosses a
  // streamed chunk).
  for (i64 D : {i64(1), i64(7), i64(129)}) {
    const i64 M = 5001 / D + 1;
    const auto t = values<T>(M * D, 4), p = values<T>(M * D, 5), g = values<T>(M, 6);
    std::vector<T> loss(M), out(M * D + 1), ref(M * D);
    k.sum_rows(t.data(), M, D, loss.data());
    bool ok = true;
    for (i64 r = 0; r < M; ++r) ok &= loss[r] == T(0) + k.sum(t.data() + r * D, 1, D);
    expect(ok, "sum_rows == sum per row", isa, M * D);
    k.sq_diff_rows(t.data(), p.data(), M, D, T(1) / T(D), loss.data());
    ok = true;
    for (i64 r = 0; r < M; ++r)
      ok &= loss[r] == k.sq_diff_sum(t.data() + r * D, 1, p.data() + r * D, 1, D) * (T(1) / T(D));
    expect(ok, "sq_diff_rows == sq_diff_sum per row", isa, M * D);
    for (i64 r = 0; r < M; ++r)
      k.scaled_diff(g.data() + r, 0, t.data() + r * D, 1, p.data() + r * D, 1, T(0.5),
                    ref.data() + r * D, D, false);
    k.scaled_diff_rows(g.data(), t.data(), p.data(), M, D, T(0.5), out.data() + (stream ? 1 : 0),
                       stream);
    ok = true;
    for (i64 i = 0; i < M * D; ++i) ok &= out[i + (stream ? 1 : 0)] == ref[i];
    expect(ok, "scaled_diff_rows == scaled_diff per row", isa, M * D);
  }
}

// The ranged walk over [b, e) for every cut equals the whole walk (here: the offsets it visits).
void check_ranged_walk() {
  const tg::Shape os = {3, 4, 5};
  const auto plan =
      tk::make_plan<2>(os, {tk::broadcast_strides({4, 1}, os), tk::broadcast_strides(os, os)});
  std::vector<i64> whole;
  tk::for_each_run(plan, [&](const std::array<i64, 2>& off, i64 n, const std::array<i64, 2>& st) {
    for (i64 i = 0; i < n; ++i) whole.push_back(off[0] + i * st[0]);
  });
  bool ok = whole.size() == 60;
  for (i64 cut1 = 0; cut1 <= 60; cut1 += 7)
    for (i64 cut2 = cut1; cut2 <= 60; cut2 += 11) {
      std::vector<i64> parts;
      for (auto [b, e] : {std::pair<i64, i64>{0, cut1}, {cut1, cut2}, {cut2, 60}})
        tk::for_each_run_range(
            plan, b, e, [&](const std::array<i64, 2>& off, i64 n, const std::array<i64, 2>& st) {
              for (i64 i = 0; i < n; ++i) parts.push_back(off[0] + i * st[0]);
            });
      ok &= parts == whole;
    }
  expect(ok, "for_each_run_range == for_each_run", "-", 60);
}

}  // namespace

int main() {
  std::vector<const tk::EwTable*> tables = {&tk::ew_scalar::kTable};
#if defined(__x86_64__) || defined(_M_X64)
  if (tk::isa_supported("avx2")) tables.push_back(&tk::ew_avx2::kTable);
  if (tk::isa_supported("avx512")) tables.push_back(&tk::ew_avx512::kTable);
#endif
  for (const tk::EwTable* t : tables) {
    std::printf("table %s\n", t->isa);
    for (bool stream : {false, true}) {
      check_table<float>(t->isa, t->f32, 2e-6, stream);
      check_table<double>(t->isa, t->f64, 1e-13, stream);
    }
  }
  // The lane sums promise the same bits on every ISA.
  for (i64 n : {i64(1), i64(17), i64(129), i64(1000), i64(100003)}) {
    const auto x = values<float>(n, 7), y = values<float>(n, 8);
    const auto xd = values<double>(n, 7);
    for (const tk::EwTable* t : tables) {
      expect(t->f32.sum(x.data(), 1, n) == tables[0]->f32.sum(x.data(), 1, n), "sum bits", t->isa,
             n);
      expect(t->f64.sum(xd.data(), 1, n) == tables[0]->f64.sum(xd.data(), 1, n), "sum bits f64",
             t->isa, n);
      expect(t->f32.sq_diff_sum(x.data(), 1, y.data(), 1, n) ==
                 tables[0]->f32.sq_diff_sum(x.data(), 1, y.data(), 1, n),
             "sq_diff_sum bits", t->isa, n);
    }
  }
  check_ranged_walk();
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
