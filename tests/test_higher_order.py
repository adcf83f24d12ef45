"""Higher-order derivatives (TensorFlow's rules): nested tapes to any order, analytic
higher derivatives, None versus zeros, jacobian / batch_jacobian against float64 central
differences, the function transforms of tapegrad.functional, and checks that the op table's
second-order test is real for every row."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_grads
from op_table import ALL_ROWS

import tapegrad as tg

F64 = np.float64


def c64(x) -> tg.Tensor:
    return tg.constant(np.asarray(x, dtype=F64))


def nested_derivatives(f, x0, order: int) -> list:
    """[f'(x0), f''(x0), ..., f^(order)(x0)] by `order` nested non-persistent tapes (elementwise f,
    so the gradient of sum(f) is the derivative at every element)."""
    x = c64(x0)
    tapes = [tg.GradientTape() for _ in range(order)]
    for t in tapes:  # outermost first
        t.__enter__()
        t.watch(x)
    y = tg.reduce_sum(f(x))
    out = []
    for t in reversed(tapes):  # innermost first: its gradient is recorded by all tapes outside
        t.__exit__(None, None, None)
        y = t.gradient(y, x)
        out.append(None if y is None else np.array(y.numpy()))
        if y is None:
            break
        y = tg.reduce_sum(y)
    return out


# ---- nested tapes to any order -------------------------------------------------------------------


def test_fourth_derivative_of_x5_is_120x():
    x0 = np.array([-1.5, 0.5, 1.0, 2.0])
    d1, d2, d3, d4 = nested_derivatives(lambda x: x**5, x0, 4)
    np.testing.assert_allclose(d1, 5 * x0**4, rtol=1e-12)
    np.testing.assert_allclose(d2, 20 * x0**3, rtol=1e-12)
    np.testing.assert_allclose(d3, 60 * x0**2, rtol=1e-12)
    np.testing.assert_allclose(d4, 120 * x0, rtol=1e-12)


def test_fifth_and_sixth_derivatives_of_x5():
    x0 = np.array([0.5, 2.0])
    ds = nested_derivatives(lambda x: x**5, x0, 6)
    np.testing.assert_allclose(ds[4], np.full(2, 120.0))
    # the sixth derivative exists (pow_scalar(x, 0) * 0 ...) and is exactly zero, or None
    assert ds[5] is None or np.all(ds[5] == 0.0)


def test_fourth_derivative_with_float32_scalar_variable():
    x = tg.Variable(2.0)
    with tg.GradientTape() as t4:
        with tg.GradientTape() as t3:
            with tg.GradientTape() as t2:
                with tg.GradientTape() as t1:
                    y = x**5
                d1 = t1.gradient(y, x)
            d2 = t2.gradient(d1, x)
        d3 = t3.gradient(d2, x)
    d4 = t4.gradient(d3, x)
    assert [float(d) for d in (d1, d2, d3, d4)] == [80.0, 160.0, 240.0, 240.0]
    assert d4.dtype == tg.float32


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# name, f, [f', f'', f'''] as NumPy functions, points
ANALYTIC = [
    (
        "x**3",
        lambda x: x**3,
        [lambda x: 3 * x**2, lambda x: 6 * x, lambda x: 6 + 0 * x],
        [-2.0, -0.3, 0.7, 1.9],
    ),
    ("exp", tg.exp, [np.exp, np.exp, np.exp], [-1.0, 0.0, 1.5]),
    (
        "tanh",
        tg.tanh,
        [
            lambda x: 1 - np.tanh(x) ** 2,
            lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2),
            lambda x: (1 - np.tanh(x) ** 2) * (6 * np.tanh(x) ** 2 - 2),
        ],
        [-1.2, 0.1, 0.8],
    ),
    (
        "sigmoid",
        tg.sigmoid,
        [
            lambda x: _sigmoid(x) * (1 - _sigmoid(x)),
            lambda x: _sigmoid(x) * (1 - _sigmoid(x)) * (1 - 2 * _sigmoid(x)),
            lambda x: _sigmoid(x) * (1 - _sigmoid(x)) * (1 - 6 * _sigmoid(x) * (1 - _sigmoid(x))),
        ],
        [-2.0, 0.3, 1.1],
    ),
    (
        "log",
        tg.log,
        [lambda x: 1 / x, lambda x: -1 / x**2, lambda x: 2 / x**3],
        [0.3, 1.0, 2.5],
    ),
    (
        "sqrt",
        tg.sqrt,
        [
            lambda x: 0.5 * x**-0.5,
            lambda x: -0.25 * x**-1.5,
            lambda x: 0.375 * x**-2.5,
        ],
        [0.4, 1.0, 3.0],
    ),
    (
        "exp(tanh(x))",
        lambda x: tg.exp(tg.tanh(x)),
        [
            lambda x: np.exp(np.tanh(x)) * (1 - np.tanh(x) ** 2),
            lambda x: (
                np.exp(np.tanh(x)) * (1 - np.tanh(x) ** 2) * (1 - np.tanh(x) ** 2 - 2 * np.tanh(x))
            ),
            None,
        ],
        [-0.7, 0.2, 1.3],
    ),
    (
        "x*exp(-x**2)",
        lambda x: x * tg.exp(-(x**2)),
        [
            lambda x: (1 - 2 * x**2) * np.exp(-(x**2)),
            lambda x: (4 * x**3 - 6 * x) * np.exp(-(x**2)),
            lambda x: (-8 * x**4 + 24 * x**2 - 6) * np.exp(-(x**2)),
        ],
        [-1.0, 0.4, 1.7],
    ),
    (
        "1/x",
        lambda x: 1.0 / x,
        [lambda x: -(x**-2), lambda x: 2 * x**-3, lambda x: -6 * x**-4],
        [-1.5, 0.5, 2.0],
    ),
    (
        "2**x",
        lambda x: 2.0**x,
        [
            lambda x: np.log(2) * 2**x,
            lambda x: np.log(2) ** 2 * 2**x,
            lambda x: np.log(2) ** 3 * 2**x,
        ],
        [-1.0, 0.5, 2.0],
    ),
]


@pytest.mark.parametrize(
    ("f", "derivs", "points"), [pytest.param(*a[1:], id=a[0]) for a in ANALYTIC]
)
def test_analytic_first_second_third_derivatives_float64(f, derivs, points):
    x0 = np.array(points)
    got = nested_derivatives(f, x0, 3)
    for k, (g, d) in enumerate(zip(got, derivs), start=1):
        if d is None:
            continue
        assert g is not None, f"derivative {k} is None"
        np.testing.assert_allclose(g, d(x0), rtol=1e-10, atol=1e-12, err_msg=f"order {k}")


def _second_partials(f, x0, y0):
    """All four second partials of f(x, y) (scalars) by nested tapes: [[fxx, fxy], [fyx, fyy]]."""
    x, y = c64(x0), c64(y0)
    with tg.GradientTape(persistent=True) as outer:
        outer.watch([x, y])
        with tg.GradientTape() as inner:
            inner.watch([x, y])
            z = f(x, y)
        gx, gy = inner.gradient(z, [x, y])
    return [[outer.gradient(g, s) for s in (x, y)] for g in (gx, gy)]


def test_mixed_partials_of_a_product_of_two_variables():
    # f = x**2 * y**3: fxx = 2 y**3, fxy = fyx = 6 x y**2, fyy = 6 x**2 y
    x0, y0 = 1.5, -0.7
    (fxx, fxy), (fyx, fyy) = _second_partials(lambda x, y: x**2 * y**3, x0, y0)
    np.testing.assert_allclose(float(fxx), 2 * y0**3, rtol=1e-12)
    np.testing.assert_allclose(float(fxy), 6 * x0 * y0**2, rtol=1e-12)
    np.testing.assert_allclose(float(fyx), 6 * x0 * y0**2, rtol=1e-12)
    np.testing.assert_allclose(float(fyy), 6 * x0**2 * y0, rtol=1e-12)


def test_mixed_partials_of_a_smooth_composition():
    # f = exp(x y) + sin-like tanh(x) * y: fxy = exp(xy)(1 + xy) + (1 - tanh(x)**2)
    x0, y0 = 0.4, 1.3
    (fxx, fxy), (fyx, fyy) = _second_partials(lambda x, y: tg.exp(x * y) + tg.tanh(x) * y, x0, y0)
    t = np.tanh(x0)
    np.testing.assert_allclose(float(fxx), y0**2 * np.exp(x0 * y0) - 2 * t * (1 - t**2) * y0)
    np.testing.assert_allclose(float(fxy), np.exp(x0 * y0) * (1 + x0 * y0) + (1 - t**2))
    np.testing.assert_allclose(float(fyx), float(fxy), rtol=1e-14)
    np.testing.assert_allclose(float(fyy), x0**2 * np.exp(x0 * y0))


def test_persistent_tape_gradient_inside_its_own_block_gives_higher_derivatives():
    x = tg.Variable(3.0)
    with tg.GradientTape(persistent=True) as tape:
        y = x * x * x
        dy = tape.gradient(y, x)  # recorded on this same tape
        d2y = tape.gradient(dy, x)
        d3y = tape.gradient(d2y, x)
    assert [float(dy), float(d2y), float(d3y)] == [27.0, 18.0, 6.0]
    assert float(tape.gradient(d2y, x)) == 6.0  # still usable after the block


def test_persistent_tape_jacobian_inside_its_own_block_is_recorded():
    x = c64([1.0, 2.0])
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x**3
        j = tape.jacobian(y, x)  # diag(3 x**2), recorded on this tape
        s = tg.reduce_sum(j)
    np.testing.assert_allclose(tape.gradient(s, x).numpy(), 6 * np.array([1.0, 2.0]))


# ---- None versus zeros --------------------------------------------------------------------------


def test_seed_cell_5_2_3_exact_output(capsys):
    x1 = tg.Variable(2.0)
    x2 = tg.Variable(3.0)
    with tg.GradientTape(persistent=True) as outer_tape:
        with tg.GradientTape(persistent=True) as inner_tape:
            z = x1**2 + x2 + 1
        inner_grads = inner_tape.gradient(z, [x1, x2])
    outer_grads = [outer_tape.gradient(inner_grad, [x1, x2]) for inner_grad in inner_grads]
    values = [[None if g is None else float(g) for g in row] for row in outer_grads]
    assert values == [[2.0, None], [None, None]]
    print(outer_grads)
    assert capsys.readouterr().out == (
        "[[<tg.Tensor: shape=(), dtype=float32, numpy=2.0>, None], [None, None]]\n"
    )


def test_nonexistent_second_derivatives_none_and_zeros_when_asked():
    x = c64([1.0, 2.0])
    y = c64(3.0)
    for unconnected, check in [
        ("none", lambda g, like: g is None),
        (
            "zero",
            lambda g, like: (
                g is not None
                and tuple(g.shape) == tuple(like.shape)
                and g.dtype == like.dtype
                and np.all(g.numpy() == 0)
            ),
        ),
    ]:
        with tg.GradientTape(persistent=True) as outer:
            outer.watch([x, y])
            with tg.GradientTape() as inner:
                inner.watch([x, y])
                z = tg.reduce_sum(x * 2.0) + y  # linear: the gradient depends on nothing
            gx, gy = inner.gradient(z, [x, y])
        for g in (gx, gy):
            for s in (x, y):
                got = outer.gradient(g, s, unconnected_gradients=unconnected)
                assert check(got, s), (unconnected, got)


def test_x2y_second_derivative_in_y_is_none_mixed_is_2x():
    (fxx, fxy), (fyx, fyy) = _second_partials(lambda x, y: x * x * y, 1.5, 2.0)
    assert float(fxx) == 4.0 and float(fxy) == 3.0 and float(fyx) == 3.0
    assert fyy is None


# ---- piecewise-linear ops: second derivative 0 almost everywhere ---------------------------------


PIECEWISE = [
    ("relu", lambda x, y: tg.relu(x) + tg.relu(y)),
    ("abs", lambda x, y: tg.abs(x) * 2.0 + tg.abs(y)),
    ("maximum", tg.maximum),
    ("minimum", tg.minimum),
    ("where", lambda x, y: tg.where(c64([1.0, 0.0, 1.0]), x, y)),
    ("reduce_max", lambda x, y: tg.reduce_max(tg.concat([x, y], 0))),
]


@pytest.mark.parametrize(("name", "f"), PIECEWISE, ids=[p[0] for p in PIECEWISE])
def test_piecewise_linear_second_derivatives_zero_or_none(name, f):
    x, y = c64([0.7, -1.2, 1.9]), c64([-0.4, 0.9, 0.3])
    with tg.GradientTape(persistent=True) as outer:
        outer.watch([x, y])
        with tg.GradientTape() as inner:
            inner.watch([x, y])
            z = tg.reduce_sum(f(x, y))
        gx, gy = inner.gradient(z, [x, y])
        assert gx is not None and gy is not None
        first = tg.reduce_sum(gx * c64([1.0, 2.0, 3.0])) + tg.reduce_sum(gy * c64([4.0, 5.0, 6.0]))
    for h in outer.gradient(first, [x, y]):
        assert h is None or np.all(h.numpy() == 0.0), (name, h)


@pytest.mark.parametrize(
    ("name", "f", "d2"),
    [
        ("relu(x)**2", lambda x: tg.relu(x) ** 2, lambda x: 2.0 * (x > 0)),
        ("abs(x)*x", lambda x: tg.abs(x) * x, lambda x: 2.0 * np.sign(x)),
        ("maximum(x,0.5)**2", lambda x: tg.maximum(x, 0.5) ** 2, lambda x: 2.0 * (x > 0.5)),
        ("minimum(x,0.5)**3", lambda x: tg.minimum(x, 0.5) ** 3, lambda x: 6.0 * x * (x < 0.5)),
        (
            "where(x>0,x**3,x**2)",
            lambda x: tg.where(x.numpy() > 0, x**3, x**2),
            lambda x: np.where(x > 0, 6 * x, 2.0),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_piecewise_ops_pass_curvature_through_their_gradient_path(name, f, d2):
    # The mask/selection is constant a.e., but the gradient flowing through it must stay
    # differentiable (relu_grad's VJP with respect to its upstream gradient, where's routing).
    x0 = np.array([-1.3, -0.2, 0.3, 0.9, 1.7])
    _, got = nested_derivatives(f, x0, 2)
    np.testing.assert_allclose(got, d2(x0), rtol=1e-12, atol=0)


# ---- the op table's second-order check is real ---------------------------------------------------


def test_every_differentiable_op_table_row_runs_the_second_order_check():
    skipped = [row.name for row in ALL_ROWS if row.max_order < 2 and not row.no_grad]
    assert not skipped, f"rows that skip the order-2 check: {skipped}"
    xfailed = [
        f"{row.name}-{case.id}" for row in ALL_ROWS for case in row.cases if "order2" in case.xfail
    ]
    assert not xfailed, f"cases whose order-2 check is expected to fail: {xfailed}"
    assert {row.name for row in ALL_ROWS if row.max_order < 2} == {"stop_gradient"}


def test_second_order_check_catches_a_vjp_without_a_gradient_of_its_own():
    # f = x**2 in value, and its first derivative 2 x is right, but it is built from
    # stop_gradient(x): the classic backward kernel with no gradient of its own. The order-2
    # check must fail whether or not a None is accepted as zeros.
    def broken(x):
        s = tg.stop_gradient(x)
        return (x - s) * (2.0 * s) + s * s

    xs = [np.array([0.5, -1.0, 2.0])]
    check_grads(broken, xs, order=1, seed="broken")  # the first derivative is right
    for none_is_zero in (False, True):
        with pytest.raises(AssertionError, match="second-order gradient"):
            check_grads(broken, xs, order=2, seed="broken", none_is_zero=none_is_zero)


def test_second_order_check_catches_a_wrong_nonzero_second_derivative():
    # value x**3 and first derivative 3 x**2 right, but the tape's second derivative is x, not 6 x
    def half_curvature(x):
        s = tg.stop_gradient(x)
        return x * x * s / 2.0 + s**3 / 2.0 + (x - s) * s * s * 2.0

    xs = [np.array([0.5, 1.5])]
    check_grads(half_curvature, xs, order=1, seed="half")
    with pytest.raises(AssertionError, match="second-order gradient mismatch"):
        check_grads(half_curvature, xs, order=2, seed="half")


# ---- jacobian ------------------------------------------------------------------------------------


def numeric_jacobian(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f / d x of shape f(x).shape + x.shape by float64 central differences."""
    y = np.asarray(f(x), dtype=F64)
    jac = np.zeros(y.shape + x.shape)
    for k in range(x.size):
        d = np.zeros(x.size)
        d[k] = eps
        d = d.reshape(x.shape)
        col = (np.asarray(f(x + d), F64) - np.asarray(f(x - d), F64)) / (2 * eps)
        jac[(Ellipsis, *np.unravel_index(k, x.shape))] = col
    return jac


def _tg_fn(fn):
    return lambda a: fn(c64(a)).numpy()


JAC_CASES = [
    ("0d->0d", lambda x: x**3 + tg.exp(x), ()),
    ("0d->vector", lambda x: x * c64([1.0, 2.0, 3.0]) ** 2, ()),
    ("vector->0d", lambda x: tg.reduce_sum(tg.tanh(x) * x), (4,)),
    ("vector->vector", lambda x: tg.sigmoid(x) * x[::-1], (3,)),
    ("matrix->matrix", lambda x: tg.matmul(x, tg.transpose(x)) + tg.exp(x[:, :1]), (2, 3)),
    ("matrix->3d", lambda x: tg.reshape(tg.tanh(x), (3, 2, 1)) * c64([1.0, -2.0]), (2, 3)),
    ("3d->vector", lambda x: tg.reduce_sum(x * x, axis=(0, 2)), (2, 3, 2)),
    ("broadcast", lambda x: x[:, None] * x[None, :], (3,)),
]


@pytest.mark.parametrize(("f", "shape"), [pytest.param(*c[1:], id=c[0]) for c in JAC_CASES])
def test_jacobian_matches_central_differences(f, shape):
    x0 = np.random.default_rng(0).uniform(-1.5, 1.5, size=shape)
    x = c64(x0)
    with tg.GradientTape() as tape:  # non-persistent: one jacobian call is allowed (8.1)
        tape.watch(x)
        y = f(x)
    jac = tape.jacobian(y, x)
    want = numeric_jacobian(_tg_fn(f), x0)
    assert tuple(jac.shape) == tuple(y.shape) + shape
    assert jac.dtype == tg.float64
    np.testing.assert_allclose(jac.numpy(), want, rtol=1e-6, atol=1e-8)


def test_jacobian_nested_sources_keep_their_structure():
    a0, b0 = np.array([0.5, -1.0]), np.array(1.5)
    a, b, v = c64(a0), c64(b0), tg.Variable(np.array([2.0, 3.0, 4.0]))
    with tg.GradientTape(persistent=True) as tape:
        tape.watch([a, b])
        y = tg.reduce_sum(a) * v * b + v**2
    out = tape.jacobian(y, {"a": a, "rest": (b, [v, a])})
    assert set(out) == {"a", "rest"} and isinstance(out["rest"], tuple)
    assert isinstance(out["rest"][1], list)
    ja, (jb, (jv, ja2)) = out["a"], out["rest"]
    v0 = np.array([2.0, 3.0, 4.0])
    np.testing.assert_allclose(ja.numpy(), np.outer(v0 * b0, np.ones(2)))
    np.testing.assert_allclose(ja2.numpy(), ja.numpy())
    np.testing.assert_allclose(jb.numpy(), a0.sum() * v0)
    np.testing.assert_allclose(jv.numpy(), np.diag(a0.sum() * b0 + 2 * v0))
    assert tuple(jb.shape) == (3,)  # 8.2: a scalar source gives the target's shape


def test_jacobian_unconnected_none_or_zeros_and_identity_for_the_source_itself():
    x, w = c64([1.0, 2.0]), c64([[1.0, 2.0, 3.0]])
    with tg.GradientTape(persistent=True) as tape:
        tape.watch([x, w])
        y = x * 3.0
    assert tape.jacobian(y, w) is None
    z = tape.jacobian(y, w, unconnected_gradients="zero")
    assert tuple(z.shape) == (2, 1, 3) and z.dtype == tg.float64 and np.all(z.numpy() == 0)
    np.testing.assert_array_equal(tape.jacobian(x, x).numpy(), np.eye(2))
    np.testing.assert_array_equal(tape.jacobian(y, [x, w])[0].numpy(), 3 * np.eye(2))
    # partly connected rows: y2[1] does not depend on x[1] nor x[0]: a zero row, not None
    with tg.GradientTape() as tape:
        tape.watch(x)
        y2 = tg.stack([x[0] ** 2, tg.stop_gradient(x[1])], 0)
    np.testing.assert_array_equal(tape.jacobian(y2, x).numpy(), [[2.0, 0.0], [0.0, 0.0]])


def test_jacobian_of_an_empty_target_has_the_right_empty_shape():
    x = c64([1.0, 2.0])
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x[:0] * 2.0
    j = tape.jacobian(y, x)
    assert j is not None and tuple(j.shape) == (0, 2)
    assert tape.jacobian(y, c64(1.0)) is None


def test_jacobian_is_differentiable_by_an_outer_tape():
    x0 = np.array([0.3, -0.8, 1.2])
    x = c64(x0)
    with tg.GradientTape() as outer:
        outer.watch(x)
        with tg.GradientTape() as inner:
            inner.watch(x)
            y = tg.tanh(x) * tg.reduce_sum(x)
        jac = inner.jacobian(y, x)  # J[i, j] = (1 - tanh(x_i)**2) (d_ij S) + tanh(x_i)
        target = tg.reduce_sum(jac * c64(np.arange(9.0).reshape(3, 3)))
    got = outer.gradient(target, x).numpy()
    u = np.arange(9.0).reshape(3, 3)

    def phi(a):
        with tg.GradientTape() as t:
            xa = c64(a)
            t.watch(xa)
            ya = tg.tanh(xa) * tg.reduce_sum(xa)
        return float(np.sum(t.jacobian(ya, xa).numpy() * u))

    want = numeric_jacobian(lambda a: np.array(phi(a)), x0)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_jacobian_float32_source_gives_float32():
    x = tg.constant([1.0, 2.0])
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    j = tape.jacobian(y, x)
    assert j.dtype == tg.float32
    np.testing.assert_array_equal(j.numpy(), np.diag([2.0, 4.0]).astype(np.float32))


# ---- batch_jacobian ------------------------------------------------------------------------------


def test_batch_jacobian_seed_example():
    x = tg.constant([[1.0, 2.0], [3.0, 4.0]])
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    bj = tape.batch_jacobian(y, x)
    np.testing.assert_array_equal(bj.numpy(), [[[2, 0], [0, 4]], [[6, 0], [0, 8]]])


BATCH_CASES = [
    ("dense-tanh", lambda x, w: tg.tanh(tg.matmul(x, w)), (4, 3), (3, 2)),
    ("rank3-source", lambda x, w: tg.reduce_sum(x * x, axis=2) * 2.0, (2, 3, 2), None),
    ("rank3-target", lambda x, w: x[:, :, None] * x[:, None, :], (3, 2), None),
    ("batch-of-one", lambda x, w: tg.exp(x) * tg.reduce_sum(x, 1, keepdims=True), (1, 3), None),
]


@pytest.mark.parametrize(
    ("f", "xshape", "wshape"), [pytest.param(*c[1:], id=c[0]) for c in BATCH_CASES]
)
def test_batch_jacobian_matches_per_example_central_differences(f, xshape, wshape):
    rng = np.random.default_rng(1)
    x0 = rng.uniform(-1.0, 1.0, size=xshape)
    w = c64(rng.standard_normal(wshape)) if wshape else None
    x = c64(x0)
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = f(x, w)
    bj = tape.batch_jacobian(y, x)
    assert tuple(bj.shape) == tuple(y.shape) + xshape[1:]
    for b in range(xshape[0]):
        # the Jacobian of example b alone (batch rows do not interact)
        def fb(xb, b=b):
            full = x0.copy()
            full[b] = xb
            return f(c64(full), w).numpy()[b]

        np.testing.assert_allclose(bj.numpy()[b], numeric_jacobian(fb, x0[b]), rtol=1e-6, atol=1e-8)


def test_batch_jacobian_unconnected_and_variable_source():
    v = tg.Variable(np.ones((2, 3)))
    other = c64(np.ones((2, 2)))
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(other)
        y = v * 2.0
    bj = tape.batch_jacobian(y, v)
    assert tuple(bj.shape) == (2, 3, 3)
    np.testing.assert_array_equal(bj.numpy(), np.broadcast_to(2 * np.eye(3), (2, 3, 3)))
    assert tape.batch_jacobian(y, other) is None
    z = tape.batch_jacobian(y, other, unconnected_gradients="zero")
    assert tuple(z.shape) == (2, 3, 2) and np.all(z.numpy() == 0)


# ---- errors --------------------------------------------------------------------------------------


def test_batch_jacobian_mismatched_batch_and_low_rank_raise_value_error():
    x = c64(np.ones((3, 2)))
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = tg.reshape(x, (2, 3)) * 1.0
        v = tg.reduce_sum(x, 1)
        y_ok = tg.reshape(y, (3, 2))
    with pytest.raises(ValueError, match=r"first dimension of target shape \(2, 3\).*\(3, 2\)"):
        tape.batch_jacobian(y, x)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        tape.batch_jacobian(v, x)
    # the failed calls left the tape usable
    assert tuple(tape.batch_jacobian(y_ok, x).shape) == (3, 2, 2)


def test_jacobian_non_tensor_target_or_source_is_type_error():
    x = c64([1.0, 2.0])
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * 2.0
    for bad in (np.ones(2), [y], 3.0, None):
        with pytest.raises(TypeError, match="jacobian: the target must be a Tensor or Variable"):
            tape.jacobian(bad, x)
        with pytest.raises(TypeError, match="batch_jacobian: the target"):
            tape.batch_jacobian(bad, x)
    with pytest.raises(TypeError, match=r"source must be a Tensor or Variable.*ndarray"):
        tape.jacobian(y, [x, np.ones(2)])
    with pytest.raises(ValueError, match="Unknown value for unconnected_gradients: 'nonsense'"):
        tape.jacobian(y, x, unconnected_gradients="nonsense")
    np.testing.assert_array_equal(tape.jacobian(y, x).numpy(), 2 * np.eye(2))


def test_non_persistent_jacobian_once_and_pfor_false_needs_persistent():
    x = c64([1.0, 2.0])
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    tape.jacobian(y, x)
    with pytest.raises(RuntimeError, match="can only be called once on non-persistent tapes"):
        tape.jacobian(y, x)
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    with pytest.raises(RuntimeError, match=r"persistent=True.*experimental_use_pfor"):
        tape.jacobian(y, x, experimental_use_pfor=False)
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
    j = tape.jacobian(y, x, experimental_use_pfor=False, parallel_iterations=4)
    np.testing.assert_array_equal(j.numpy(), np.diag([2.0, 4.0]))


# ---- hessian, hvp, grad, value_and_grad ----------------------------------------------------------


def rosen(x):
    return tg.reduce_sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosen_hessian(x):
    n = x.size
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        h[i + 1, i + 1] += 200
        h[i, i + 1] += -400 * x[i]
        h[i + 1, i] += -400 * x[i]
    return h


def test_hessian_analytic_symmetric_and_equal_to_differences_of_the_gradient():
    x0 = np.array([0.5, -0.3, 1.2, 0.8])
    h = tg.hessian(rosen, x0)
    assert isinstance(h, tg.Tensor) and tuple(h.shape) == (4, 4) and h.dtype == tg.float64
    h = h.numpy()
    np.testing.assert_allclose(h, h.T, rtol=1e-14)
    np.testing.assert_allclose(h, rosen_hessian(x0), rtol=1e-12)
    grad_fn = tg.grad(rosen)
    fd = numeric_jacobian(lambda a: grad_fn(c64(a)).numpy(), x0)
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-6)


def test_hessian_of_matrix_input_and_scalar_input_and_constant_function():
    a0 = np.array([[1.0, 2.0], [0.5, -1.0]])
    h = tg.hessian(lambda a: tg.reduce_sum(tg.matmul(a, a)), a0)  # sum(A @ A): bilinear
    assert tuple(h.shape) == (2, 2, 2, 2)
    fd = numeric_jacobian(
        lambda a: tg.grad(lambda t: tg.reduce_sum(tg.matmul(t, t)))(a).numpy(), a0
    )
    np.testing.assert_allclose(h.numpy(), fd, atol=1e-8)
    assert float(tg.hessian(lambda x: x**4, 2.0)) == 48.0
    z = tg.hessian(lambda x: tg.reduce_sum(x * 3.0), np.zeros(3))  # linear: zeros, not None
    assert tuple(z.shape) == (3, 3) and np.all(z.numpy() == 0)


def test_hvp_equals_hessian_times_v_without_forming_it():
    rng = np.random.default_rng(3)
    x0, v0 = rng.uniform(-1, 1, 6), rng.standard_normal(6)
    hv = tg.hvp(rosen, x0, v0)
    assert tuple(hv.shape) == (6,) and hv.dtype == tg.float64
    np.testing.assert_allclose(hv.numpy(), tg.hessian(rosen, x0).numpy() @ v0, rtol=1e-12)


def test_hvp_over_a_list_of_weights_matches_hessian_blocks():
    rng = np.random.default_rng(4)
    w0, b0 = rng.standard_normal((3, 2)), rng.standard_normal(2)
    xb = c64(rng.standard_normal((5, 3)))
    yb = c64(rng.standard_normal((5, 2)))

    def loss(params):
        w, b = params
        return tg.reduce_mean((tg.tanh(tg.matmul(xb, w) + b) - yb) ** 2)

    vw, vb = rng.standard_normal((3, 2)), rng.standard_normal(2)
    hw, hb = tg.hvp(loss, [c64(w0), tg.Variable(b0)], [vw, vb])

    def flat_loss(theta):
        return loss([tg.reshape(theta[:6], (3, 2)), theta[6:]])

    theta0 = np.concatenate([w0.ravel(), b0])
    want = tg.hessian(flat_loss, theta0).numpy() @ np.concatenate([vw.ravel(), vb])
    np.testing.assert_allclose(hw.numpy().ravel(), want[:6], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hb.numpy(), want[6:], rtol=1e-10, atol=1e-12)


def test_hvp_errors():
    with pytest.raises(ValueError, match=r"v\[0\] has shape \(2,\) but x\[0\] has shape \(3,\)"):
        tg.hvp(rosen, np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="must be a list or tuple of 2 tensors"):
        tg.hvp(lambda p: tg.reduce_sum(p[0] * p[1]), [np.ones(2), np.ones(2)], np.ones(2))
    with pytest.raises(TypeError, match=r"scalar-output functions; the output had shape \(3,\)"):
        tg.hvp(lambda x: x * x, np.ones(3), np.ones(3))
    with pytest.warns(UserWarning, match=r"hvp: x\[0\] must be floating"):
        hv = tg.hvp(lambda p: tg.reduce_sum(p * p), np.array([1, 2]), np.array([1, 1]))
    assert hv.numpy().tolist() == [0, 0]
    with pytest.raises(TypeError, match="hvp: x must be a tensor, a variable or a list or tuple"):
        tg.hvp(lambda p: tg.reduce_sum(p["w"] ** 2), {"w": np.ones(2)}, {"w": np.ones(2)})
    with pytest.raises(TypeError, match="scalar-output"):
        tg.hessian(lambda x: x * x, np.ones(3))


def test_grad_nests_to_fourth_order_and_accepts_numbers_arrays_tensors():
    d4 = tg.grad(tg.grad(tg.grad(tg.grad(lambda x: x**5))))
    for x in (2.0, np.float64(2.0), np.array(2.0), tg.constant(2.0), tg.Variable(2.0)):
        got = d4(x)
        assert isinstance(got, tg.Tensor) and float(got) == 240.0
    assert d4(np.array(2.0)).dtype == tg.float64 and d4(2.0).dtype == tg.float32
    g = tg.grad(lambda x: tg.reduce_sum(tg.exp(x)))(np.array([0.0, 1.0]))
    np.testing.assert_allclose(g.numpy(), np.exp([0.0, 1.0]))


def test_grad_argnums_tuple_structures_and_unconnected_zeros():
    f = lambda x, y, z: x * y**2  # noqa: E731
    gx, gz = tg.grad(f, argnums=(0, 2))(3.0, 2.0, 5.0)
    assert float(gx) == 4.0 and float(gz) == 0.0
    assert float(tg.grad(f, argnums=-2)(3.0, 2.0, 5.0)) == 12.0
    params = {"w": np.array([1.0, 2.0]), "b": (np.array(0.5),)}
    g = tg.grad(lambda p, x: tg.reduce_sum(p["w"] * x) + p["b"][0])(params, c64([3.0, 4.0]))
    assert set(g) == {"w", "b"} and isinstance(g["b"], tuple)
    np.testing.assert_array_equal(g["w"].numpy(), [3.0, 4.0])
    assert float(g["b"][0]) == 1.0


def test_value_and_grad_with_aux_and_errors():
    def f(x):
        y = tg.reduce_sum(x**2)
        return y, {"norm": y}

    (value, aux), g = tg.value_and_grad(f, has_aux=True)(np.array([1.0, 2.0]))
    assert float(value) == 5.0 and float(aux["norm"]) == 5.0
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    g2, aux2 = tg.grad(f, has_aux=True)(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g2.numpy(), [2.0, 4.0])
    assert float(aux2["norm"]) == 5.0
    with pytest.raises(TypeError, match="pair"):
        tg.value_and_grad(lambda x: x * x, has_aux=True)(1.0)
    with pytest.raises(ValueError, match="argnums 3"):
        tg.grad(lambda x: x, argnums=3)(1.0)
    with pytest.raises(TypeError, match="argnums"):
        tg.grad(lambda x: x, argnums="0")(1.0)
    with pytest.raises(TypeError, match="must return a scalar Tensor"):
        tg.grad(lambda x: "no")(1.0)
    with pytest.raises(TypeError, match=r"output had shape \(2,\)"):
        tg.grad(lambda x: x * 2.0)(np.ones(2))


# ---- the GradientTape type (a CPython type, as Tensor) ------------------------------------------


def test_gradient_tape_constructor_arguments_subclassing_and_errors():
    import weakref

    assert tg.GradientTape(persistent=True).persistent
    assert tg.GradientTape(True, False).persistent
    assert not tg.GradientTape().persistent
    x = tg.Variable(3.0)
    with tg.GradientTape(watch_accessed_variables=False) as tape:
        y = x * x
    assert tape.gradient(y, x) is None and tape.watched_variables() == ()

    class Recorder(tg.GradientTape):
        def __init__(self, flag):
            super().__init__(persistent=flag)
            self.flag = flag

    rec = Recorder(True)
    with rec as entered:
        y = x * x
    assert entered is rec and rec.flag and rec.persistent
    assert float(rec.gradient(y, x)) == float(rec.gradient(y, x)) == 6.0
    assert weakref.ref(rec)() is rec

    class Forgetful(tg.GradientTape):
        def __init__(self):
            pass

    with pytest.raises(RuntimeError, match=r"__init__ was not called"):
        Forgetful().gradient(y, x)
    with pytest.raises(TypeError, match="unexpected keyword argument 'persistant'"):
        tg.GradientTape(persistant=True)
    with pytest.raises(TypeError, match="at most 2 arguments"):
        tg.GradientTape(True, True, True)
    with pytest.raises(TypeError, match="multiple values for argument 'persistent'"):
        tg.GradientTape(True, persistent=True)
    with pytest.raises(TypeError, match="missing required argument 'sources'"):
        rec.gradient(y)
    with pytest.raises(TypeError, match="unexpected keyword argument 'source'"):
        rec.gradient(y, source=x)
    assert float(rec.gradient(target=y, sources=x, unconnected_gradients="zero")) == 6.0
