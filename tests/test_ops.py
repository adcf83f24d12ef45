"""Every op, driven by op_table: forward vs NumPy (float64 and float32), first- and second-order
gradients vs float64 central differences (gradcheck.py), a coverage test against
``tapegrad._core.ops``, and the special points (relu'(0), |x|'(0), sqrt'(0), pow at 0, ties,
saturation) as explicit tests."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gradcheck import Tolerance, check_grads, rng_for
from op_table import ALL_ROWS, OP_ROWS, OpRow, numpy_dtype

import tapegrad as tg

# ---- table-driven tests -------------------------------------------------------------------------


def _params(phase: str, rows=ALL_ROWS, keep=lambda row: True):
    out = []
    for row in rows:
        if not keep(row):
            continue
        for case in row.cases:
            reason = case.xfail.get(phase)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(row, case, id=f"{row.name}-{case.id}", marks=marks))
    return out


def _inputs(row: OpRow, case, key: str) -> list:
    domain = case.domain or row.domain
    return [np.asarray(x, dtype=np.float64) for x in domain(rng_for(key), case.shapes)]


def _reference(row: OpRow, xs, kwargs) -> np.ndarray:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # e.g. NumPy's "Mean of empty slice"
        return np.asarray(row.ref(*xs, **kwargs), dtype=np.float64)


def _expected_dtype(row: OpRow, case, in_dtype):
    if row.out_dtype == "from-kwargs":
        return tg.float64 if numpy_dtype(case.kwargs["dtype"]) == np.float64 else tg.float32
    return in_dtype


def _run(row, case, xs, dtype):
    consts = [tg.constant(np.asarray(x, dtype=dtype)) for x in xs]
    return row.fn(*consts, **case.kwargs)


@pytest.mark.parametrize(("row", "case"), _params("forward"))
def test_forward_float64(row, case):
    xs = _inputs(row, case, f"{row.name}-{case.id}")
    out = _run(row, case, xs, np.float64)
    assert isinstance(out, tg.Tensor), f"result is a {type(out).__name__}, not a Tensor"
    want = _reference(row, xs, case.kwargs)
    assert tuple(out.shape) == want.shape
    assert out.dtype == _expected_dtype(row, case, tg.float64)
    rtol, atol = row.fwd_tol
    np.testing.assert_allclose(
        np.asarray(out.numpy(), np.float64), want, rtol=rtol, atol=atol, equal_nan=True
    )


@pytest.mark.parametrize(("row", "case"), _params("float32", keep=lambda r: r.float32))
def test_forward_float32(row, case):
    key = f"{row.name}-{case.id}"
    xs32 = [x.astype(np.float32) for x in _inputs(row, case, key)]
    out = _run(row, case, xs32, np.float32)
    assert isinstance(out, tg.Tensor)
    want = _reference(row, [x.astype(np.float64) for x in xs32], case.kwargs)
    assert tuple(out.shape) == want.shape
    assert out.dtype == _expected_dtype(row, case, tg.float32)
    rtol, atol = row.f32_tol
    np.testing.assert_allclose(
        np.asarray(out.numpy(), np.float64), want, rtol=rtol, atol=atol, equal_nan=True
    )
    if row.no_grad:
        return
    # Gradients of float32 inputs are float32, of the inputs' shapes, and close to float64's.
    srcs = [tg.constant(x) for x in xs32]
    src64 = [tg.constant(x.astype(np.float64)) for x in xs32]
    grads = []
    for s in (srcs, src64):
        with tg.GradientTape() as tape:
            for t in s:
                tape.watch(t)
            y = tg.reduce_sum(row.fn(*s, **case.kwargs))
        grads.append(tape.gradient(y, s))
    for x, g32, g64 in zip(xs32, *grads):
        assert g32 is not None and g32.dtype == tg.float32 and tuple(g32.shape) == x.shape
        np.testing.assert_allclose(g32.numpy(), g64.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("row", "case"), _params("order1"))
def test_gradient_order1(row, case):
    key = f"{row.name}-{case.id}"
    xs = _inputs(row, case, key)
    f = lambda *ts: row.fn(*ts, **case.kwargs)  # noqa: E731
    if row.no_grad:
        srcs = [tg.constant(x) for x in xs]
        with tg.GradientTape() as tape:
            for s in srcs:
                tape.watch(s)
            y = tg.reduce_sum(f(*srcs))
        assert tape.gradient(y, srcs) == [None] * len(srcs)
        return
    check_grads(f, xs, order=1, seed=key, first=Tolerance(*row.first))


@pytest.mark.parametrize(("row", "case"), _params("order2", keep=lambda r: r.max_order >= 2))
def test_gradient_order2(row, case):
    key = f"{row.name}-{case.id}"
    xs = _inputs(row, case, key)
    f = lambda *ts: row.fn(*ts, **case.kwargs)  # noqa: E731
    check_grads(
        f,
        xs,
        order=2,
        seed=key,
        first=Tolerance(*row.first),
        second=Tolerance(*row.second),
        none_is_zero=row.none_is_zero,
    )


def _op_names() -> set:
    return {n for n in dir(tg._core.ops) if not n.startswith("_")}


def test_coverage_every_op_has_a_row():
    covered = {row.op for row in OP_ROWS}
    missing = sorted(_op_names() - covered)
    assert not missing, f"ops in tapegrad._core.ops without an op_table row: {missing}"


def test_coverage_every_row_names_an_existing_op():
    stale = sorted({row.op for row in OP_ROWS} - _op_names())
    assert not stale, f"op_table rows for ops that no longer exist in tapegrad._core.ops: {stale}"
    assert all(row.op is None for row in ALL_ROWS if row not in OP_ROWS)


def test_coverage_rows_are_well_formed():
    ids = [f"{row.name}-{case.id}" for row in ALL_ROWS for case in row.cases]
    assert len(ids) == len(set(ids)), "duplicate test ids"
    for row in ALL_ROWS:
        assert row.cases, f"row {row.name} has no cases"
        assert row.max_order in (1, 2)
    elementwise = {"add", "subtract", "multiply", "divide", "maximum", "minimum", "pow"}
    for row in OP_ROWS:
        # broadcast samples in every binary row: its VJP must undo the broadcasting
        if row.op in elementwise:
            shapes = {c.shapes for c in row.cases}
            for need in [
                ((3, 1), (1, 4)),
                ((2, 3), (3,)),
                ((), (2, 2)),
                ((), ()),
                ((0,), (0,)),
                ((1,), (1,)),
            ]:
                assert need in shapes, f"{row.name} lacks the case {need}"


# ---- special points --------------------------------------------------------------------------


def grads(f, *xs, dtype=np.float64, upstream=None):
    """Tape gradients of sum(f(*xs) * upstream) as NumPy arrays (None kept)."""
    srcs = [tg.constant(np.asarray(x, dtype=dtype)) for x in xs]
    with tg.GradientTape() as tape:
        for s in srcs:
            tape.watch(s)
        y = f(*srcs)
        if upstream is not None:
            y = y * tg.constant(np.asarray(upstream, dtype=dtype))
        target = tg.reduce_sum(y)
    return [None if g is None else np.array(g.numpy()) for g in tape.gradient(target, srcs)]


def second_grads(f, *xs, dtype=np.float64):
    """d/dx of sum(d sum(f)/dx) through nested tapes (None kept)."""
    srcs = [tg.constant(np.asarray(x, dtype=dtype)) for x in xs]
    with tg.GradientTape() as outer:
        for s in srcs:
            outer.watch(s)
        with tg.GradientTape() as inner:
            for s in srcs:
                inner.watch(s)
            y = tg.reduce_sum(f(*srcs))
        g = inner.gradient(y, srcs[0])
        target = tg.reduce_sum(g)
    return [None if h is None else np.array(h.numpy()) for h in outer.gradient(target, srcs)]


DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_grad_at_zero_is_zero(dtype):
    (g,) = grads(tg.relu, [-1.0, 0.0, 2.0], dtype=dtype)
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_abs_grad_at_zero_is_zero(dtype):
    (g,) = grads(tg.abs, [-1.0, 0.0, 2.0], dtype=dtype)
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sqrt_grad_at_zero_is_plus_inf(dtype):
    (g,) = grads(tg.sqrt, [0.0, 4.0], dtype=dtype)
    assert np.isposinf(g[0]), g
    np.testing.assert_allclose(g[1], 0.25)


POW_FORMS = {
    "x**p": lambda x, p: x**p,  # pow_scalar via __pow__
    "tg.pow(x,p)": lambda x, p: tg.pow(x, p),  # pow_scalar via the binding
    "tg.pow(x,tensor)": lambda x, p: tg.pow(x, tg.constant(np.full(x.shape, p, np.float64))),
    "x**tensor0d": lambda x, p: x ** tg.constant(np.array(p)),  # tensor exponent, broadcast
}


@pytest.mark.parametrize("form", list(POW_FORMS))
@pytest.mark.parametrize(
    ("p", "expected"),
    [
        pytest.param(2.0, [0.0, 3.0, -4.0], id="x^2"),
        pytest.param(1.0, [1.0, 1.0, 1.0], id="x^1"),
        pytest.param(0.0, [0.0, 0.0, 0.0], id="x^0"),
    ],
)
def test_pow_grad_special_points(form, p, expected):
    """d(x^2)/dx = 0, d(x^1)/dx = 1, d(x^0)/dx = 0 at x = 0 (not NaN: x^0 is constant)."""
    f = POW_FORMS[form]
    (g,) = grads(lambda x: f(x, p), [0.0, 1.5, -2.0])
    np.testing.assert_array_equal(g, expected)


@pytest.mark.parametrize("form", list(POW_FORMS))
@pytest.mark.parametrize(
    ("p", "expected"),
    [
        pytest.param(2.0, [2.0, 2.0, 2.0], id="x^2"),
        pytest.param(1.0, [0.0, 0.0, 0.0], id="x^1"),
        pytest.param(0.0, [0.0, 0.0, 0.0], id="x^0"),
    ],
)
def test_pow_second_derivative_special_points(form, p, expected):
    """d2(x^p)/dx2 at 0 (and 1.5, -2): x^0 and x^1 have zero curvature, never NaN."""
    f = POW_FORMS[form]
    h = second_grads(lambda x: f(x, p), [0.0, 1.5, -2.0])[0]
    h = np.zeros(3) if h is None and p in (0.0, 1.0) else h  # identically 0: None allowed
    np.testing.assert_array_equal(h, expected)


@pytest.mark.parametrize("y", [2.0, 0.5, 1.0, 3.0])
def test_pow_grad_wrt_exponent_at_zero_base_is_zero(y):
    """d(x^y)/dy at x = 0 is 0, not NaN (TF's "false singularity" guard)."""
    _, gy = grads(tg.pow, [0.0, 0.0], [y, y])
    np.testing.assert_array_equal(gy, [0.0, 0.0])
    _, gy = grads(lambda a, b: a**b, [0.0, 2.0], y)  # broadcast exponent
    np.testing.assert_allclose(gy, np.log(2.0) * 2.0**y)


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_ties_pass_gradient_once(op):
    f = getattr(tg, op)
    a, b = np.array([1.0, 2.0, 3.0, -1.0]), np.array([1.0, 5.0, 3.0, -1.0])
    u = np.array([0.7, -1.3, 2.1, 0.4])
    ga, gb = grads(f, a, b, upstream=u)
    np.testing.assert_array_equal(ga + gb, u)
    assert all({x, y} in ({0.0, v}, {v}) for x, y, v in zip(ga, gb, u) if v), (ga, gb)
    # the same tensor on both sides: d max(x, x)/dx = 1
    (g,) = grads(lambda x: f(x, x), a, upstream=u)
    np.testing.assert_array_equal(g, u)
    # broadcast tie: a scalar equal to some elements
    ga, gb = grads(f, a, 3.0, upstream=u)
    np.testing.assert_allclose(ga.sum() + gb, u.sum())
    assert gb.shape == ()


@pytest.mark.parametrize(
    ("x", "kwargs", "expected"),
    [
        pytest.param([1.0, 3.0, 3.0], {}, [0.0, 0.5, 0.5], id="[1,3,3]"),
        pytest.param([2.0, 2.0, 2.0, 2.0], {}, [0.25] * 4, id="all-equal"),
        pytest.param(
            [[3.0, 3.0, 1.0], [0.0, 2.0, 1.0]],
            {"axis": 1},
            [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]],
            id="axis1",
        ),
        pytest.param(
            [[3.0, 3.0], [3.0, 1.0]],
            {"axis": 0, "keepdims": True},
            [[0.5, 1.0], [0.5, 0.0]],
            id="axis0-keepdims",
        ),
        pytest.param(
            [[3.0, 3.0], [3.0, 1.0]],
            {"axis": None},
            [[1 / 3, 1 / 3], [1 / 3, 0.0]],
            id="axis-None-2d",
        ),
    ],
)
def test_reduce_max_ties_split_evenly(x, kwargs, expected):
    (g,) = grads(lambda t: tg.reduce_max(t, **kwargs), x)
    np.testing.assert_allclose(g, expected, rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["sigmoid", "tanh"])
def test_saturation_is_finite(op, dtype):
    x = np.array([-100.0, 100.0, -1000.0, 1000.0])
    f = getattr(tg, op)
    y = f(tg.constant(x.astype(dtype))).numpy()
    assert np.all(np.isfinite(y)), y
    ref = 1.0 / (1.0 + np.exp(-np.clip(x, -700, 700))) if op == "sigmoid" else np.tanh(x)
    np.testing.assert_allclose(y, ref, atol=1e-6)
    (g,) = grads(f, x, dtype=dtype)
    assert np.all(np.isfinite(g)) and np.all(g >= 0), g
    np.testing.assert_allclose(g, 0.0, atol=1e-30)


def test_gather_repeated_indices_accumulate():
    (g,) = grads(lambda x: tg.gather(x, [0, 2, 2]), [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(g, [1.0, 0.0, 2.0, 0.0])
    (g,) = grads(lambda x: x[[0, 2, 2]], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(g, [1.0, 0.0, 2.0, 0.0])
    (g,) = grads(lambda x: tg.gather(x, [[1, 1], [1, 0]], axis=1), np.ones((2, 3)))
    np.testing.assert_array_equal(g, [[1.0, 3.0, 0.0], [1.0, 3.0, 0.0]])
    (g,) = grads(lambda x: x[:, [2, 2, 2]], np.ones((2, 3)))
    np.testing.assert_array_equal(g, [[0.0, 0.0, 3.0], [0.0, 0.0, 3.0]])


def test_gradients_are_dense_tensors():
    x = tg.constant(np.arange(4.0))
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = tg.reduce_sum(tg.gather(x, [1, 1]))
    (g,) = tape.gradient(y, [x])
    assert isinstance(g, tg.Tensor) and g.shape == (4,)


def test_where_routes_gradients():
    cond = np.array([True, False, True])
    u = np.array([0.5, -2.0, 3.0])
    ga, gb = grads(lambda a, b: tg.where(cond, a, b), [1.0, 2.0, 3.0], [4.0, 5.0, 6.0], upstream=u)
    np.testing.assert_array_equal(ga, [0.5, 0.0, 3.0])
    np.testing.assert_array_equal(gb, [0.0, -2.0, 0.0])
    ga, gb = grads(lambda a, b: tg.where(cond, a, b), 7.0, [4.0, 5.0, 6.0], upstream=u)
    assert ga.shape == () and ga == 3.5
    np.testing.assert_array_equal(gb, [0.0, -2.0, 0.0])


BROADCAST_SHAPES = [
    ((3, 1), (1, 4)),
    ((2, 3), (3,)),
    ((3,), (2, 3)),
    ((), (2, 2)),
    ((2, 2), ()),
    ((2, 1, 3), (4, 1)),
    ((1,), (2, 2)),
]
BROADCAST_OPS = {
    "add": tg.add,
    "subtract": tg.subtract,
    "multiply": tg.multiply,
    "divide": tg.divide,
    "maximum": tg.maximum,
    "minimum": tg.minimum,
    "pow": tg.pow,
    "relu_grad": tg._core.ops.relu_grad,
    "where": lambda a, b: tg.where(a.numpy() > 1.2, a, b),
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a**b,
}


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("op", list(BROADCAST_OPS))
def test_broadcast_gradients_have_input_shapes(op, shapes):
    rng = rng_for(f"bcast-{op}-{shapes}")
    a, b = (rng.uniform(0.5, 2.0, s) for s in shapes)
    ga, gb = grads(BROADCAST_OPS[op], a, b, upstream=None)
    assert ga is not None and ga.shape == shapes[0]
    assert gb is not None and gb.shape == shapes[1]


def _unbroadcast(g, shape):
    while g.ndim > len(shape):
        g = g.sum(0)
    return g.sum(tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1), keepdims=True)


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "ta", "tb"),
    [
        ((3, 4), (4, 5), False, False),
        ((4, 3), (4, 5), True, False),
        ((3, 4), (5, 4), False, True),
        ((4, 3), (5, 4), True, True),
        ((2, 3, 4), (4, 5), False, False),
        ((4, 5), (2, 5, 3), False, False),
        ((2, 1, 3, 4), (5, 4, 6), False, False),
        ((2, 1, 4, 3), (5, 6, 4), True, True),
    ],
)
def test_matmul_gradients_formula(a_shape, b_shape, ta, tb):
    """d sum(W * op(A) op(B)) = (W op(B)^T, op(A)^T W), un-transposed and un-broadcast."""
    rng = rng_for(f"matmul-{a_shape}-{b_shape}-{ta}-{tb}")
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    T = lambda m: np.swapaxes(m, -1, -2)  # noqa: E731
    oa, ob = (T(a) if ta else a), (T(b) if tb else b)
    w = rng.standard_normal(np.matmul(oa, ob).shape)
    ga, gb = grads(lambda x, y: tg.matmul(x, y, transpose_a=ta, transpose_b=tb), a, b, upstream=w)
    da, db = np.matmul(w, T(ob)), np.matmul(T(oa), w)
    da, db = (T(da) if ta else da), (T(db) if tb else db)
    np.testing.assert_allclose(ga, _unbroadcast(da, a_shape), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gb, _unbroadcast(db, b_shape), rtol=1e-12, atol=1e-12)
    if not (ta or tb):
        ga2, gb2 = grads(lambda x, y: x @ y, a, b, upstream=w)
        np.testing.assert_array_equal(ga2, ga)
        np.testing.assert_array_equal(gb2, gb)


BINARY_PROMOTION = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "pow"]


@pytest.mark.parametrize("op", BINARY_PROMOTION)
def test_binary_promotes_float32_with_float64(op):
    a = np.array([0.5, 1.25, 2.0])
    b = np.array([1.5, 0.75, 3.0])
    f = getattr(tg, op)
    for x, y in [(a.astype(np.float32), b), (a, b.astype(np.float32))]:
        out = f(tg.constant(x), tg.constant(y))
        assert out.dtype == tg.float64
        np_op = getattr(np, "power" if op == "pow" else op)
        ref = np_op(x.astype(np.float64), y.astype(np.float64))
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)


def test_reduce_max_of_empty_axis_raises():
    with pytest.raises(ValueError):
        tg.reduce_max(tg.constant(np.zeros((0, 3))), axis=0)
