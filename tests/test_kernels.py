"""The elementwise, reduction and fused-loss kernels (issue 4): every kernel against a NumPy
float64 reference on sizes 0, 1, 7, 17, 64, 129, 1000 (the vector tails of every ISA) and on
broadcast and strided layouts; bit-identical results for any thread count, also above the
threading threshold; the fused ops (relu's backward, mean_squared_error and its backward) against
their unfused compositions at first and second order; and the whole file once more under every
ISA the CPU runs (TAPEGRAD_ISA, in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
import zlib

import numpy as np
import pytest

import tapegrad as tg

ops = tg._core.ops
SIZES = (0, 1, 7, 17, 64, 129, 1000)
LARGE = 300_001  # above the threading threshold (2^17 elements), odd: a ragged tail
F32 = {"rtol": 2e-6, "atol": 1e-6}
F64 = {"rtol": 1e-12, "atol": 1e-13}

UNARY = {
    "negative": np.negative,
    "square": np.square,
    "sqrt": np.sqrt,
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0.0),
    "abs": np.abs,
}
POSITIVE_ONLY = {"sqrt", "log"}
BINARY = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.divide,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "pow": np.power,
    "relu_grad": lambda g, x: g * (x > 0),
}
# (a, b) shapes whose broadcast makes every run pattern: contiguous, scalar, strided, outer
BROADCASTS = (
    ((3, 1), (1, 4)),
    ((2, 3, 4), (3, 1)),
    ((5, 1, 7), (1, 6, 1)),
    ((), (17,)),
    ((129,), ()),
    ((4, 1, 33), (4, 9, 33)),
    ((20000, 10), (10,)),  # a bias add: short rows, split over threads by rows
    ((3, 2000), (3, 1)),  # long rows with a per-row scalar
)


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))  # the same in every process


def _values(shape, name="", seed=0):
    x = _rng(name, seed, shape).uniform(-2.0, 2.0, size=shape)
    if name in POSITIVE_ONLY or name == "pow":
        x = np.abs(x) + 0.25
    return x


def _close(got, ref, dtype, scale=None):
    """got vs ref; a sum that cancels is compared relative to scale (the sum of magnitudes)."""
    tol = dict(F32 if dtype == np.float32 else F64)
    if scale is not None:
        tol["atol"] = tol["rtol"] * np.max(scale)
    np.testing.assert_allclose(np.asarray(got, np.float64), ref, **tol)


def _ref64(fn, *xs):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(fn(*[np.asarray(x, np.float64) for x in xs]), np.float64)


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


# ---- against NumPy ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_kernels_by_size(name, n, dtype):
    x = _values((n,), name).astype(dtype)
    _close(getattr(ops, name)(x).numpy(), _ref64(UNARY[name], x), dtype)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_kernels_by_size(name, n, dtype):
    a = _values((n,), name, 1).astype(dtype)
    b = _values((n,), name, 2).astype(dtype)
    _close(getattr(ops, name)(a, b).numpy(), _ref64(BINARY[name], a, b), dtype)


@pytest.mark.parametrize("shapes", BROADCASTS, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_kernels_broadcast(name, shapes, dtype):
    a = _values(shapes[0], name, 1).astype(dtype)
    b = _values(shapes[1], name, 2).astype(dtype)
    _close(getattr(ops, name)(a, b).numpy(), _ref64(BINARY[name], a, b), dtype)
    _close(getattr(ops, name)(b, a).numpy(), _ref64(BINARY[name], b, a), dtype)


@pytest.mark.parametrize("name", ["add", "multiply", "relu_grad", "maximum"])
def test_binary_kernels_non_contiguous_inputs(name, dtype):
    base = _values((40, 66), name).astype(dtype)
    a, b = base[:, ::2], base.T[::2, :40].T  # a strided view and a transposed one, both (40, 33)
    assert not a.flags.c_contiguous and not b.flags.c_contiguous
    _close(getattr(ops, name)(a, b).numpy(), _ref64(BINARY[name], a, b), dtype)


def test_unary_kernel_transposed_input(dtype):
    x = np.asfortranarray(_values((33, 17), "relu").astype(dtype))
    _close(ops.relu(x).numpy(), _ref64(UNARY["relu"], x), dtype)


REDUCTIONS = (
    ((1000,), None),
    ((129, 17), None),
    ((129, 17), 1),  # rows
    ((129, 17), 0),  # columns
    ((7, 64, 3), (1, 2)),
    ((7, 64, 3), (0, 1)),
    ((7, 64, 3), (0, 2)),  # neither rows nor columns: the strided walk
    ((7, 64, 3), 1),
    ((17, 1, 7), (0, 1)),
    ((0, 5), 0),
    ((5, 0), 1),
)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("op", ["reduce_sum", "reduce_max"])
def test_reductions_by_size(op, n, dtype):
    x = _values((n,), op).astype(dtype)
    if op == "reduce_max" and n == 0:
        with pytest.raises(ValueError, match="zero-size"):
            ops.reduce_max(x)
        return
    ref = _ref64(np.sum if op == "reduce_sum" else np.max, x)
    _close(getattr(ops, op)(x).numpy(), ref, dtype, scale=np.sum(np.abs(x), dtype=np.float64))


@pytest.mark.parametrize("shape,axis", REDUCTIONS, ids=str)
@pytest.mark.parametrize("op", ["reduce_sum", "reduce_max", "reduce_mean"])
def test_reductions_by_layout(op, shape, axis, dtype):
    x = _values(shape, op).astype(dtype)
    if op != "reduce_sum" and x.size == 0:
        return  # max/mean of nothing: covered in test_ops.py
    npf = {"reduce_sum": np.sum, "reduce_max": np.max, "reduce_mean": np.mean}[op]
    scale = npf(np.abs(x.astype(np.float64)), axis=axis) if x.size else None
    got = getattr(ops, op)(x, axis=axis).numpy()
    _close(got, _ref64(lambda v: npf(v, axis=axis), x), dtype, scale=scale)


def test_reduce_max_propagates_nan_on_every_path():
    x = np.ones((9, 5, 3))
    x[4, 2, 1] = np.nan
    for axis in (None, 0, 2, (0, 2), 1):
        got = ops.reduce_max(x, axis=axis).numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(np.max(x, axis=axis)))


def _mse_ref(t, p):
    d = np.square(np.asarray(p, np.float64) - np.asarray(t, np.float64))
    return d if d.ndim == 0 else np.mean(d, axis=-1)


@pytest.mark.parametrize("n", SIZES[1:])
def test_mean_squared_error_by_size(n, dtype):
    t, p = _values((3, n), "t").astype(dtype), _values((3, n), "p").astype(dtype)
    _close(ops.mean_squared_error(t, p).numpy(), _mse_ref(t, p), dtype)
    _close(ops.mean_squared_error(t[0], p[0]).numpy(), _mse_ref(t[0], p[0]), dtype)
    g = _values((3,), "g").astype(dtype)
    ref = g[:, None].astype(np.float64) * 2.0 * (p.astype(np.float64) - t) / n
    _close(ops.mean_squared_error_grad(g, t, p).numpy(), ref, dtype)


@pytest.mark.parametrize(
    "ts,ps", [((4, 1), (4, 9)), ((9,), (4, 9)), ((2, 1, 5), (3, 1)), ((), (6,)), ((6, 1), (6, 1))]
)
def test_mean_squared_error_broadcast_and_strided(ts, ps, dtype):
    t, p = _values(ts, "t").astype(dtype), _values(ps, "p").astype(dtype)
    _close(ops.mean_squared_error(t, p).numpy(), _mse_ref(t, p), dtype)
    pt = np.asfortranarray(_values((7, 5), "p").astype(dtype))  # a transposed-layout input
    _close(ops.mean_squared_error(pt.T.copy().T, pt[::-1]).numpy(), _mse_ref(pt, pt[::-1]), dtype)


# ---- thread-count invariance --------------------------------------------------------------------


@pytest.fixture
def threads():
    before = tg.num_threads()
    yield tg.set_num_threads
    tg.set_num_threads(before)


def _under_threads(set_threads, fn, counts=(1, 2, 3)):
    out = []
    for n in counts:
        set_threads(n)
        out.append(np.asarray(fn().numpy()).copy())
    return out


INVARIANT = {
    "relu": lambda x, y: ops.relu(x),
    "exp": lambda x, y: ops.exp(x),
    "add": lambda x, y: ops.add(x, y),
    "relu_grad": lambda x, y: ops.relu_grad(y, x),
    "add_broadcast": lambda x, y: ops.add(x.reshape(-1, 1), y[:7]),
    "bias_add": lambda x, y: ops.add(x[:300000].reshape(-1, 10), y[:10]),
    "maximum_broadcast": lambda x, y: ops.maximum(x[:300000].reshape(-1, 10), y[:10]),
    "reduce_sum": lambda x, y: ops.reduce_sum(x),
    "reduce_sum_rows": lambda x, y: ops.reduce_sum(x[: 1000 * 300].reshape(3, -1), axis=1),
    "reduce_sum_many_rows": lambda x, y: ops.reduce_sum(x[: 1000 * 300].reshape(1000, -1), axis=1),
    "reduce_sum_cols": lambda x, y: ops.reduce_sum(x[: 1000 * 300].reshape(1000, -1), axis=0),
    "reduce_mean": lambda x, y: ops.reduce_mean(x),
    "reduce_max": lambda x, y: ops.reduce_max(x),
    "mse_full": lambda x, y: ops.mean_squared_error(x, y),
    "mse_rows": lambda x, y: ops.mean_squared_error(
        x[:300000].reshape(1000, -1), y[:300000].reshape(1000, -1)
    ),
    "mse_grad": lambda x, y: ops.mean_squared_error_grad(2.0, x, y),
    "mse_grad_rows": lambda x, y: ops.mean_squared_error_grad(
        np.arange(1000.0, dtype=x.dtype), x[:300000].reshape(1000, -1), y[:300000].reshape(1000, -1)
    ),
}


@pytest.mark.parametrize("name", sorted(INVARIANT))
def test_results_bit_identical_for_any_thread_count(name, dtype, threads):
    x = _values((LARGE,), "x").astype(dtype)
    y = _values((LARGE,), "y").astype(dtype)
    results = _under_threads(threads, lambda: INVARIANT[name](x, y))
    for r in results[1:]:
        np.testing.assert_array_equal(
            np.atleast_1d(r).view(np.uint8), np.atleast_1d(results[0]).view(np.uint8)
        )


def test_threaded_results_match_numpy(threads):
    threads(2)
    x = _values((LARGE,), "x")
    y = _values((LARGE,), "y")
    _close(ops.relu(x).numpy(), np.maximum(x, 0), np.float64)
    _close(ops.reduce_sum(x).numpy(), np.sum(x), np.float64, scale=np.sum(np.abs(x)))
    _close(ops.mean_squared_error(x, y).numpy(), np.mean((y - x) ** 2), np.float64)
    _close(ops.add(x.reshape(-1, 1), y[:7]).numpy(), x.reshape(-1, 1) + y[:7], np.float64)


def test_outputs_above_the_streaming_threshold_match_numpy(dtype, threads):
    # outputs of 16 MB and more are written with non-temporal stores (simd/ew_table.h)
    n = (16 << 20) // np.dtype(dtype).itemsize + 77
    x = _values((n,), "x").astype(dtype)
    y = _values((n,), "y").astype(dtype)
    for t in (1, 2):
        threads(t)
        np.testing.assert_array_equal(ops.relu(x).numpy(), np.maximum(x, 0))
        np.testing.assert_array_equal(ops.relu_grad(y, x).numpy(), np.where(x > 0, y, 0))
        np.testing.assert_array_equal(ops.add(x, y).numpy(), x + y)
        d = ops.mean_squared_error_grad(1.0, x, y).numpy()
        ref = 2.0 * (y.astype(np.float64) - x) / n
        _close(d, ref, dtype)


# ---- fused ops against their unfused compositions -----------------------------------------------


def _grads(f, *xs, order):
    """f's gradient (order 1) or the gradient of sum(gradient * w) (order 2) w.r.t. every x."""
    vs = [tg.Variable(x) for x in xs]
    with tg.GradientTape(persistent=True) as outer:
        with tg.GradientTape() as inner:
            y = f(*vs)
        g = inner.gradient(y, vs)
        if order == 1:
            return [gi.numpy() for gi in g]
        w = [np.linspace(-1, 1, gi.numpy().size).reshape(gi.shape) for gi in g]
        s = (
            tg.add_n([tg.reduce_sum(gi * wi) for gi, wi in zip(g, w)])
            if hasattr(tg, "add_n")
            else sum(tg.reduce_sum(gi * wi) for gi, wi in zip(g, w))
        )
    out = outer.gradient(s, vs, unconnected_gradients="zero")
    return [o.numpy() for o in out]


def _loss_weights(shape):
    return np.cos(np.arange(int(np.prod(shape))).reshape(shape))


MSE_SHAPES = [((4, 3), (4, 3)), ((3,), (4, 3)), ((4, 1), (4, 3)), ((5,), (5,)), ((2, 3, 4), (4,))]


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("ts,ps", MSE_SHAPES, ids=str)
def test_mse_matches_its_unfused_composition(ts, ps, order):
    t, p = _values(ts, "t"), _values(ps, "p")
    w = _loss_weights(np.broadcast_shapes(ts, ps)[:-1])

    def fused(t, p):
        return tg.reduce_sum(ops.mean_squared_error(t, p) * w)

    def unfused(t, p):
        return tg.reduce_sum(tg.reduce_mean(tg.square(p - t), axis=-1) * w)

    np.testing.assert_allclose(fused(t, p).numpy(), unfused(t, p).numpy(), rtol=1e-12)
    for a, b in zip(_grads(fused, t, p, order=order), _grads(unfused, t, p, order=order)):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("order", [1, 2])
def test_mse_grad_matches_its_unfused_composition(order):
    g, t, p = _values((4,), "g"), _values((4, 3), "t"), _values((4, 3), "p")
    w = _loss_weights((4, 3))

    def fused(g, t, p):
        return tg.reduce_sum(ops.mean_squared_error_grad(g, t, p) * w)

    def unfused(g, t, p):
        return tg.reduce_sum(tg.reshape(g, (4, 1)) * (2.0 / 3.0) * (p - t) * w)

    for a, b in zip(_grads(fused, g, t, p, order=order), _grads(unfused, g, t, p, order=order)):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("order", [1, 2])
def test_relu_backward_matches_its_unfused_composition(order):
    x = _values((5, 7), "relu")
    x[np.abs(x) < 0.1] = 0.5  # away from the kink
    w = _loss_weights((5, 7))

    def fused(x):
        return tg.reduce_sum(tg.square(ops.relu(x)) * w)

    def unfused(x):
        return tg.reduce_sum(tg.square(tg.maximum(x, 0.0)) * w)

    for a, b in zip(_grads(fused, x, order=order), _grads(unfused, x, order=order)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_relu_backward_is_one_fused_op():
    x = tg.Variable(_values((6,), "relu"))
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = ops.relu(x)
        before = outer.num_nodes
        inner.gradient(y, x)
    assert outer.num_nodes - before == 1  # the backward recorded one relu_grad: a single pass


def test_mse_backward_is_one_fused_op():
    t, p = tg.constant(_values((4, 3), "t")), tg.Variable(_values((4, 3), "p"))
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = ops.mean_squared_error(t, p)
        before = outer.num_nodes
        inner.gradient(y, p)
    assert outer.num_nodes - before == 1  # one mean_squared_error_grad


def test_mse_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(5,\)"):
        ops.mean_squared_error(np.ones((4, 3)), np.ones(5))
    with pytest.raises(ValueError, match=r"\(5,\).*\(4,\)"):
        ops.mean_squared_error_grad(np.ones(5), np.ones((4, 3)), np.ones((4, 3)))


# ---- every ISA ----------------------------------------------------------------------------------


def test_config_reports_isa_and_threads():
    cfg = tg.config()
    assert cfg["isa"] in ("scalar", "avx2", "avx512")
    assert cfg["num_threads"] >= 1


@pytest.mark.skipif(os.environ.get("TAPEGRAD_TEST_FORCED_ISA") is not None, reason="in the child")
@pytest.mark.parametrize(
    "isa,threads_env", [("scalar", "1"), ("scalar", "2"), ("avx2", "2"), ("avx512", "2")]
)
def test_whole_file_under_forced_isa(isa, threads_env):
    """This file again in a fresh interpreter with TAPEGRAD_ISA and TAPEGRAD_NUM_THREADS set
    (read at import; tg.config() must report them). An ISA the CPU lacks is skipped."""
    probe = subprocess.run(
        [sys.executable, "-c", "import tapegrad as tg; print(tg.config()['isa'])"],
        env={**os.environ, "TAPEGRAD_ISA": isa},
        capture_output=True,
        text=True,
        check=True,
    )
    chosen = probe.stdout.strip().splitlines()[-1]  # an editable install may log its rebuild first
    if chosen != isa:
        pytest.skip(f"this CPU cannot run {isa} (dispatch chose {chosen})")
    env = {
        **os.environ,
        "TAPEGRAD_ISA": isa,
        "TAPEGRAD_NUM_THREADS": threads_env,
        "TAPEGRAD_TEST_FORCED_ISA": isa,
    }
    code = (
        "import tapegrad as tg, sys; c = tg.config(); "
        f"sys.exit(0 if c == {{'isa': '{isa}', 'num_threads': {threads_env}}} else repr(c))"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", __file__],
        env=env,
        capture_output=True,
        text=True,
        cwd=os.path.dirname(__file__),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
