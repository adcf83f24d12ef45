"""Forward mode: every op's JVP rule (op_table) against float64 central differences and against
its VJP by the dot-product test, forward and reverse mode nested in both orders, and the
transforms built on the accumulator (tg.jvp, jacfwd, jacrev, hvp)."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import rng_for
from op_table import ALL_ROWS, numpy_dtype

import tapegrad as tg
from tapegrad.autodiff import ForwardAccumulator


def _rows():
    out = []
    for row in ALL_ROWS:
        for case in row.cases:
            if case.name.startswith("large"):
                continue  # the small cases cover the same rules in a fraction of the time
            out.append(pytest.param(row, case, id=f"{row.name}-{case.id}"))
    return out


def _float64_output(row, case) -> bool:
    return row.out_dtype != "from-kwargs" or numpy_dtype(case.kwargs["dtype"]) == np.float64


def _setup(row, case):
    rng = rng_for(f"jvp-{row.name}-{case.id}")
    domain = case.domain or row.domain
    xs = [
        np.asarray(x, dtype=np.float64)
        for x in domain(rng_for(f"{row.name}-{case.id}"), case.shapes)
    ]
    vs = [rng.standard_normal(x.shape) for x in xs]
    return rng, xs, vs


def _jvp(row, case, xs, vs):
    consts = [tg.constant(x) for x in xs]
    with ForwardAccumulator(consts, [tg.constant(v) for v in vs]) as acc:
        y = row.fn(*consts, **case.kwargs)
    return y, acc.jvp(y, unconnected_gradients="zero")


@pytest.mark.parametrize(("row", "case"), _rows())
def test_jvp_matches_central_differences(row, case):
    _, xs, vs = _setup(row, case)
    y, jv = _jvp(row, case, xs, vs)
    assert tuple(jv.shape) == tuple(y.shape) and jv.dtype == y.dtype
    if row.no_grad:
        np.testing.assert_array_equal(jv.numpy(), np.zeros(y.shape))
        return
    if not _float64_output(row, case):
        pytest.skip(
            "float32 output: central differences are not meaningful; the dot test covers it"
        )
    eps, rtol, atol = row.first

    def at(step):
        shifted = [tg.constant(x + step * v) for x, v in zip(xs, vs)]
        return np.asarray(row.fn(*shifted, **case.kwargs).numpy(), dtype=np.float64)

    numeric = (at(eps) - at(-eps)) / (2 * eps)
    np.testing.assert_allclose(jv.numpy(), numeric, rtol=rtol, atol=atol)


@pytest.mark.parametrize(("row", "case"), _rows())
def test_jvp_agrees_with_the_vjp_by_the_dot_product_test(row, case):
    """<J v, u> == <v, J^T u> for random v and u: the forward and reverse rules are the same
    linear map."""
    rng, xs, vs = _setup(row, case)
    y, jv = _jvp(row, case, xs, vs)
    if not np.isfinite(y.numpy()).all():  # a mean over nothing is NaN: no linearization there
        pytest.skip("the output is not finite")
    u = rng.standard_normal(tuple(y.shape))
    consts = [tg.constant(x) for x in xs]
    with tg.GradientTape() as tape:
        tape.watch(consts)
        y2 = row.fn(*consts, **case.kwargs)
    grads = tape.gradient(
        y2,
        consts,
        output_gradients=tg.constant(u.astype(numpy_dtype(y2.dtype))),
        unconnected_gradients="zero",
    )
    lhs = float(np.sum(jv.numpy().astype(np.float64) * u))
    rhs = float(sum(np.sum(v * g.numpy()) for v, g in zip(vs, grads)))
    tol = 1e-10 if _float64_output(row, case) else 1e-5
    assert lhs == pytest.approx(rhs, rel=tol, abs=tol)


@pytest.mark.parametrize(
    ("row", "case"),
    [p for p in _rows() if p.values[0].max_order >= 2 and _float64_output(*p.values)],
)
def test_reverse_over_forward_equals_double_backward(row, case):
    """A tape around an accumulator differentiates the JVP: d/dx <J(x) v, u> computed that way
    equals d/dx <v, J(x)^T u> by two reverse sweeps (both are u^T H v, contracted)."""
    rng, xs, vs = _setup(row, case)
    u = None
    consts = [tg.constant(x) for x in xs]
    with tg.GradientTape() as outer:
        outer.watch(consts)
        with ForwardAccumulator(consts, [tg.constant(v) for v in vs]) as acc:
            y = row.fn(*consts, **case.kwargs)
        u = tg.constant(rng.standard_normal(tuple(y.shape)))
        jv_u = tg.reduce_sum(acc.jvp(y, unconnected_gradients="zero") * u)
    by_forward = outer.gradient(jv_u, consts, unconnected_gradients="zero")

    consts = [tg.constant(x) for x in xs]
    with tg.GradientTape() as outer:
        outer.watch(consts)
        with tg.GradientTape() as inner:
            inner.watch(consts)
            y = row.fn(*consts, **case.kwargs)
        gs = inner.gradient(y, consts, output_gradients=u, unconnected_gradients="zero")
        v_gs = tg.reduce_sum(tg.stack([tg.reduce_sum(g * tg.constant(v)) for g, v in zip(gs, vs)]))
    by_backward = outer.gradient(v_gs, consts, unconnected_gradients="zero")
    for a, b in zip(by_forward, by_backward):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-9)


# ---- nesting, variables, structures ------------------------------------------------------------


def f_scalar(x):
    return tg.reduce_sum(tg.tanh(x) * x**3 + tg.exp(x) * x)


def hessian_np(x):
    x = np.asarray(x, dtype=np.float64)
    t = np.tanh(x)
    d2 = -2 * t * (1 - t**2) * x**3 + 2 * (1 - t**2) * 3 * x**2 + t * 6 * x + np.exp(x) * (x + 2)
    return np.diag(d2)


def test_forward_over_reverse_gives_hessian_vector_products():
    x0, v0 = np.array([0.3, -1.2, 0.8]), np.array([1.0, 2.0, -0.5])
    x, v = tg.constant(x0), tg.constant(v0)
    with ForwardAccumulator(x, v) as acc:
        with tg.GradientTape() as tape:
            tape.watch(x)
            y = f_scalar(x)
        g = tape.gradient(y, x)
    np.testing.assert_allclose(acc.jvp(g).numpy(), hessian_np(x0) @ v0, rtol=1e-12)
    np.testing.assert_allclose(tg.hvp(f_scalar, x0, v0).numpy(), hessian_np(x0) @ v0, rtol=1e-12)
    np.testing.assert_allclose(tg.hessian(f_scalar, x0).numpy(), hessian_np(x0), rtol=1e-12)


def test_hvp_is_differentiable_by_an_outer_tape():
    # f = sum(x^4): H v = 12 x^2 v, and d/dx sum(H v) = 24 x v (third derivatives).
    x0, v0 = np.array([0.5, -1.5, 2.0]), np.array([1.0, -2.0, 0.25])
    x, v = tg.constant(x0), tg.constant(v0)
    with tg.GradientTape() as outer:
        outer.watch(x)
        hv = tg.hvp(lambda p: tg.reduce_sum(p**4), x, v)
        total = tg.reduce_sum(hv)
    np.testing.assert_allclose(hv.numpy(), 12 * x0**2 * v0, rtol=1e-12)
    np.testing.assert_allclose(outer.gradient(total, x).numpy(), 24 * x0 * v0, rtol=1e-12)


def test_hvp_reads_only_the_tangents_the_gradient_needs():
    # The forward pass defers its tangents (forward.h, lazy mode): the loss's own tangent is never
    # computed, so the loss's tail may even hold ops whose tangents would not be finite.
    x0, v0 = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    hv = tg.hvp(lambda p: tg.reduce_sum(p**3) * 2.0 + 1.0, tg.constant(x0), tg.constant(v0))
    np.testing.assert_allclose(hv.numpy(), 12 * x0 * v0, rtol=1e-12)

    # a deep chain between the source and the loss resolves without recursion
    def chain(p):
        for _ in range(3000):
            p = p * 1.0
        return tg.reduce_sum(p * p)

    np.testing.assert_allclose(tg.hvp(chain, tg.constant(x0), tg.constant(v0)).numpy(), 2 * v0)


def test_hvp_leaves_nothing_recording_when_the_function_raises():
    x = tg.Variable([1.0, 2.0])

    def broken(p):
        _ = p * p
        raise RuntimeError("inside the function")

    with pytest.raises(RuntimeError, match="inside the function"):
        tg.hvp(broken, x, [1.0, 1.0])
    y = x * 3.0  # no accumulator or tape left active: nothing carries a tangent or records
    with tg.GradientTape() as tape:
        z = tg.reduce_sum(x * x)
    np.testing.assert_allclose(tape.gradient(z, x).numpy(), [2.0, 4.0])
    np.testing.assert_allclose(tg.hvp(lambda p: tg.reduce_sum(p * p), x, [1.0, 1.0]), [2.0, 2.0])
    assert y.numpy().tolist() == [3.0, 6.0]


def test_nested_accumulators_give_second_directional_derivatives():
    x0 = np.array([0.4, -0.7])
    x = tg.constant(x0)
    v = tg.constant(np.array([1.0, 3.0]))
    with ForwardAccumulator(x, v) as outer:
        with ForwardAccumulator(x, v) as inner:
            y = f_scalar(x)
        first = inner.jvp(y)
    second = outer.jvp(first)
    vv = v.numpy()
    assert float(second) == pytest.approx(vv @ hessian_np(x0) @ vv, rel=1e-12)


def test_variables_as_primals_and_structures():
    w = tg.Variable(np.array([1.0, 2.0]))
    b = tg.Variable(3.0)
    with ForwardAccumulator([w, b], [np.array([0.5, -1.0]), 2.0]) as acc:
        y = {"dot": tg.reduce_sum(w * w) + b, "plain": tg.constant(1.0)}
    tangents = acc.jvp(y)
    assert float(tangents["dot"]) == pytest.approx(2 * (1.0 * 0.5 + 2.0 * -1.0) + 2.0)
    assert tangents["plain"] is None
    assert float(acc.jvp(y, unconnected_gradients="zero")["plain"]) == 0.0
    np.testing.assert_array_equal(acc.jvp(w).numpy(), [0.5, -1.0])


def test_accumulator_errors():
    x = tg.constant([1.0, 2.0])
    with pytest.raises(
        ValueError, match=r"tangent of a tensor has shape \(3,\) but the primal has shape \(2,\)"
    ):
        ForwardAccumulator(x, tg.constant([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="2 primals but 1 tangents"):
        ForwardAccumulator([x, x], [x])
    with pytest.raises(TypeError, match="primals must be tensors or variables"):
        ForwardAccumulator([1.0], [1.0])


def test_jvp_jacfwd_jacrev():
    a = tg.constant(np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]]))

    def f(x):
        return tg.tanh(tg.matmul(a, tg.reshape(x, (2, 1))))[:, 0] * 2.0

    x0 = np.array([0.2, -0.4])
    y, y_dot = tg.jvp(f, [x0], [np.array([1.0, 0.0])])
    jf = tg.jacfwd(f)(tg.constant(x0)).numpy()
    jr = tg.jacrev(f)(tg.constant(x0)).numpy()
    assert jf.shape == jr.shape == (3, 2)
    np.testing.assert_allclose(jf, jr, rtol=1e-12)
    np.testing.assert_allclose(y_dot.numpy(), jf[:, 0], rtol=1e-12)
    np.testing.assert_allclose(y.numpy(), 2 * np.tanh(a.numpy() @ x0))
    assert tg.jacfwd(lambda x: x * 2.0)(tg.constant(np.zeros((0,)))).shape == (0, 0)


def test_forward_mode_through_custom_gradient_and_tg_function():
    @tg.custom_gradient
    def square(x):
        return x * x, lambda g: g * 2.0 * x

    @tg.function
    def directional(x, v):
        with ForwardAccumulator(x, v) as acc:
            y = tg.reduce_sum(square(x) * tg.exp(x))
        return acc.jvp(y)

    for x0 in ([0.5, 1.0], [-2.0, 0.25]):
        x0 = np.array(x0)
        v0 = np.array([1.0, -1.0])
        got = float(directional(tg.constant(x0), tg.constant(v0)))
        want = float(np.sum((2 * x0 + x0**2) * np.exp(x0) * v0))
        assert got == pytest.approx(want, rel=1e-12)
    assert directional.trace_count == 1


def test_coverage_every_op_has_its_jvp_tested():
    """Every op in tapegrad._core.ops is some op_table row's, and every row runs the JVP tests
    above, which raise "has no JVP rule" for an op without one."""
    ops = {n for n in dir(tg._core.ops) if not n.startswith("_")}
    tested = {row.op for row in ALL_ROWS if row.op}
    assert ops <= tested, f"ops whose JVP no row tests: {sorted(ops - tested)}"


def test_a_matmul_with_both_tangents_takes_one_matmul_tangent_op():
    """matmul's JVP da @ b + a @ db is one op (the second GEMM accumulates into the first's
    output); a tape around the accumulator records it and differentiates it."""
    rng = rng_for("matmul-tangent-jvp")
    a, b, da, db = (tg.constant(rng.standard_normal(s)) for s in ((3, 4), (4, 2), (3, 4), (4, 2)))
    with tg.GradientTape(persistent=True) as outer:
        outer.watch([a, b, da, db])
        with ForwardAccumulator([a, b], [da, db]) as acc:
            z = a @ b
        t = acc.jvp(z)
        total = tg.reduce_sum(t)
    ops_seen = [n["op"] for n in outer._graph()["nodes"]]
    assert ops_seen.count("matmul_tangent") == 1 and "add" not in ops_seen
    an, bn, dan, dbn = (v.numpy() for v in (a, b, da, db))
    np.testing.assert_allclose(t.numpy(), dan @ bn + an @ dbn, rtol=1e-12)
    ones = np.ones((3, 2))
    ga, gb, gda, gdb = outer.gradient(total, [a, b, da, db])
    np.testing.assert_allclose(ga.numpy(), ones @ dbn.T, rtol=1e-12)
    np.testing.assert_allclose(gb.numpy(), dan.T @ ones, rtol=1e-12)
    np.testing.assert_allclose(gda.numpy(), ones @ bn.T, rtol=1e-12)
    np.testing.assert_allclose(gdb.numpy(), an.T @ ones, rtol=1e-12)


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "dtypes"),
    [
        ((2, 3, 4), (4, 2), ("float64", "float64")),  # batched: two matmuls and an add
        ((3, 4), (4, 2), ("float32", "float64")),  # mixed dtypes promote as matmul does
    ],
)
def test_matmul_tangents_outside_the_fused_op_are_the_product_rule(a_shape, b_shape, dtypes):
    rng = rng_for(f"matmul-tangent-fallback-{a_shape}-{dtypes}")
    an, dan = (rng.standard_normal(a_shape).astype(dtypes[0]) for _ in range(2))
    bn, dbn = (rng.standard_normal(b_shape).astype(dtypes[1]) for _ in range(2))
    a, b, da, db = (tg.constant(v) for v in (an, bn, dan, dbn))
    with ForwardAccumulator([a, b], [da, db]) as acc:
        z = a @ b
    t = acc.jvp(z)
    assert t.dtype == z.dtype and t.shape == z.shape
    want = np.matmul(dan.astype(np.float64), bn) + np.matmul(an.astype(np.float64), dbn)
    np.testing.assert_allclose(t.numpy(), want, rtol=1e-5, atol=1e-6)


def test_matmul_tangent_names_the_shapes_and_dtypes_it_refuses():
    m = tg.constant(np.ones((3, 4)))
    n = tg.constant(np.ones((4, 2)))
    with pytest.raises(
        ValueError, match=r"matmul_tangent: the shapes do not fit \(3, 4\) @ \(4, 2\)"
    ):
        tg._core.ops.matmul_tangent(m, n, m, m)
    with pytest.raises(ValueError, match="rank 2"):
        tg._core.ops.matmul_tangent(tg.constant(np.ones((2, 3, 4))), n, m, n)
    with pytest.raises(TypeError, match="float64, float64, float64 and int32"):
        tg._core.ops.matmul_tangent(m, n, m, tg.constant(np.ones((4, 2), np.int32)))
