// ForwardAccumulator (tapegrad/autograd/forward.h) without Python: tangents through ops and
// variables, nesting with a tape (forward over reverse gives H v), and an op without a rule.
// A tiny assert harness, no dependencies; the last line reads "N passed, M failed".
#include "check.h"
#include "tensors.h"
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/autograd/forward.h"
#include "tapegrad/autograd/tape.h"
#include "tapegrad/errors.h"
#include "tapegrad/ops.h"

namespace {

using tg_test::check;
using namespace tg;

using tg_test::vec;
bool near(const Tensor& t, std::vector<double> want) {
  if (!t.defined() || t.size() != static_cast<std::int64_t>(want.size())) return false;
  for (std::size_t i = 0; i < want.size(); ++i)
    if (std::fabs(t.data<double>()[i] - want[i]) > 1e-12 * (1 + std::fabs(want[i]))) return false;
  return true;
}

void test_tangents_through_ops_and_variables() {
  const Tensor x = vec({1.0, 2.0});
  Variable w = std::make_shared<VariableImpl>(vec({3.0, -1.0}), "w", true);
  ForwardAccumulator acc;
  acc.watch(x, vec({1.0, 0.5}));
  acc.watch(w, vec({0.0, 2.0}));
  acc.enter();
  const Tensor y = multiply(exp(x), read_variable(w));  // dy = e^x w dx + e^x dw
  acc.exit();
  const double e1 = std::exp(1.0), e2 = std::exp(2.0);
  check(near(acc.tangent_of(y), {e1 * 3.0 * 1.0, e2 * -1.0 * 0.5 + e2 * 2.0}),
        "product rule through a variable");
  check(!acc.tangent_of(vec({1.0})).defined(), "an unrelated tensor has no tangent");
}

void test_forward_over_reverse_is_a_hessian_vector_product() {
  // f = sum(x^3): H = diag(6x), so H v = 6 x v.
  const Tensor x = vec({1.0, -2.0});
  ForwardAccumulator acc;
  acc.watch(x, vec({1.0, 3.0}));
  acc.enter();
  Tape tape(false, true);
  tape.enter();
  tape.watch(x);
  const Tensor y = reduce_sum(pow_scalar(x, 3.0));
  tape.exit();
  const Tensor g = tape.gradient({{y, nullptr}}, {{x, nullptr}}, {}, false)[0];
  acc.exit();
  check(near(g, {3.0, 12.0}), "the gradient 3x^2");
  check(near(acc.tangent_of(g), {6.0 * 1.0 * 1.0, 6.0 * -2.0 * 3.0}),
        "the gradient's tangent is H v");
}

void test_rules_are_not_fed_back_and_exit_is_clean() {
  const Tensor x = vec({0.5});
  {
    ForwardAccumulator outer, inner;
    outer.watch(x, vec({1.0}));
    inner.watch(x, vec({1.0}));
    outer.enter();
    inner.enter();
    const Tensor y = multiply(x, x);  // inner: 2x; outer sees inner's rule ops too
    inner.exit();
    const Tensor dy = inner.tangent_of(y);
    outer.exit();
    check(near(dy, {1.0}), "inner tangent 2 x v");
    check(near(outer.tangent_of(dy), {2.0}), "outer differentiates the inner tangent: 2 v v");
  }
  check(detail::recorders().accumulators.empty(), "no accumulator left active");
}

// Lazy mode (tg.hvp's forward pass): the same H v as eager mode, a tangent is computed only when
// read (the loss's own never is, if nothing asks), and a deep chain resolves without recursion.
void test_lazy_mode_computes_only_what_is_read() {
  const Tensor x = vec({1.0, -2.0});
  const Tensor v = vec({1.0, 3.0});
  ForwardAccumulator acc;
  acc.watch(x, v);
  acc.set_lazy(true);
  acc.enter();
  Tape tape(false, true);
  tape.enter();
  tape.watch(x);
  const Tensor cube = pow_scalar(x, 3.0);
  const Tensor y = reduce_sum(cube);
  tape.exit();
  acc.set_lazy(false);
  // Deferred: reading cube's tangent now computes it (and nothing else).
  const std::uint64_t before = next_tensor_id();
  const Tensor dcube = acc.tangent_of(cube);
  const std::uint64_t computed = next_tensor_id() - before - 1;
  check(near(dcube, {3.0 * 1.0 * 1.0, 3.0 * 4.0 * 3.0}), "a deferred tangent, read: 3 x^2 v");
  check(computed > 0, "reading a deferred tangent runs its rule");
  const std::uint64_t again = next_tensor_id();
  check(near(acc.tangent_of(cube), {3.0, 36.0}), "read twice, the same tangent");
  check(next_tensor_id() - again == 1, "a computed tangent is not computed again");
  const Tensor g = tape.gradient({{y, nullptr}}, {{x, nullptr}}, {}, false)[0];
  acc.exit();
  check(near(acc.tangent_of(g), {6.0, -36.0}), "lazy forward pass, eager gradient: H v = 6 x v");
  check(near(acc.tangent_of(y), {3.0 + 36.0}), "the loss's tangent, read last");

  // A chain far deeper than any call stack would hold as recursion.
  const Tensor z = vec({0.5});
  ForwardAccumulator deep;
  deep.watch(z, vec({1.0}));
  deep.set_lazy(true);
  deep.enter();
  Tape chain_tape(false, true);
  chain_tape.enter();
  chain_tape.watch(z);
  Tensor h = z;
  const Tensor one = vec({1.0});
  for (int i = 0; i < 200000; ++i) h = add(h, one);
  chain_tape.exit();
  deep.exit();
  check(near(deep.tangent_of(h), {1.0}), "200,000 deferred adds resolve iteratively");
}

}  // namespace

int main() {
  test_tangents_through_ops_and_variables();
  test_forward_over_reverse_is_a_hessian_vector_product();
  test_rules_are_not_fed_back_and_exit_is_clean();
  test_lazy_mode_computes_only_what_is_read();
  return tg_test::finish();
}
