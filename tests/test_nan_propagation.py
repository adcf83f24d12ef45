"""NaN and Inf propagate the same way through fused and unfused paths: each fused op (dense with
every activation, the fused mean squared error, the optimizers' update loops) and reduce_max /
maximum run next to their unfused composition (or NumPy's rule written with arrays) on inputs
with NaN, +Inf and -Inf at various positions and lengths that end in every SIMD tail, and the
NaN/+Inf/-Inf patterns must be identical, forward and backward. The rule is NumPy's: relu keeps
NaN (np.maximum(x, 0)), max and reduce_max return NaN when an operand is NaN, and the gradient of
a max goes to the operand whose value it returned (the NaN). The whole file runs again under every
ISA the CPU has (TAPEGRAD_ISA, in a subprocess), so the AVX2, AVX-512 and portable loops and
GEMM epilogues are all covered."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import tapegrad as tg

ops = tg._core.ops
LENGTHS = (1, 7, 8, 9, 15, 16, 17, 33)
SPECIALS = (np.nan, np.inf, -np.inf)
DTYPES = (np.float32, np.float64)


@pytest.fixture(autouse=True)
def _quiet_numpy():
    """NumPy's references meet NaN and Inf on purpose: no RuntimeWarning, whatever the filter."""
    with np.errstate(all="ignore"):
        yield


def with_specials(shape, seed, dtype, density=0.15):
    """Normal values with NaN, +Inf and -Inf sprinkled in (first, last and random positions)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    flat = x.reshape(-1)
    if flat.size:
        hits = rng.random(flat.size) < density
        flat[hits] = rng.choice(SPECIALS, size=int(hits.sum()))
        flat[0] = SPECIALS[seed % 3]
        flat[-1] = SPECIALS[(seed + 1) % 3]
    return x.astype(dtype)


def assert_same_pattern(got, expected, what, rtol=None):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} vs {expected.shape}"
    for name, test in (("NaN", np.isnan), ("+Inf", np.isposinf), ("-Inf", np.isneginf)):
        np.testing.assert_array_equal(test(got), test(expected), err_msg=f"{what}: {name} pattern")
    finite = np.isfinite(expected)
    if rtol is None:
        rtol = 1e-4 if got.dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got[finite], expected[finite], rtol=rtol, atol=rtol, err_msg=what)


def grads(f, *args):
    """f(*args) and the gradients of reduce_sum(f * w) (w fixed, finite) with respect to args."""
    ts = [tg.constant(a) for a in args]
    with tg.GradientTape() as tape:
        for t in ts:
            tape.watch(t)
        z = f(*ts)
        w = np.random.default_rng(7).uniform(0.5, 1.5, size=z.shape).astype(z.numpy().dtype)
        loss = tg.reduce_sum(z * w)
    return z.numpy(), [g.numpy() for g in tape.gradient(loss, ts)]


# ---- relu: NumPy's np.maximum(x, 0) ---------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", (*LENGTHS, 64, 1000))
def test_relu_keeps_nan_like_numpy(n, dtype):
    x = with_specials((n,), n, dtype, density=0.3)
    x[n // 2] = -0.0
    got = tg.relu(x).numpy()
    assert_same_pattern(got, np.maximum(x, 0), "relu")
    np.testing.assert_array_equal(np.signbit(got), np.signbit(np.where(x < 0, 0, x)))
    # relu's gradient is 0 where relu is flat or x is NaN: g * (x > 0), with Inf g kept only
    # where the unit is active.
    g = with_specials((n,), n + 1, dtype)
    assert_same_pattern(ops.relu_grad(g, x).numpy(), np.where(x > 0, g, 0), "relu_grad")


# ---- dense, every activation: fused vs its composition -------------------------------------

# (M, K) with N from LENGTHS: tiny products (the direct path), the small-float unpacked path, the
# packed path (K > 96), and products large enough for the thread team.
DENSE_SIZES = ((1, 3), (5, 4), (64, 40), (40, 120), (260, 130))


def unfused_dense(x, k, b, activation):
    z = tg.matmul(x, k)
    if b is not None:
        z = z + b
    return {None: z, "linear": z, "relu": tg.relu(z), "tanh": tg.tanh(z), "sigmoid": tg.sigmoid(z)}[
        activation
    ]


@pytest.mark.parametrize("activation", [None, "linear", "relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mk", DENSE_SIZES, ids=str)
def test_dense_fused_matches_unfused_on_nan_and_inf(mk, dtype, activation):
    M, K = mk
    for n in LENGTHS if M * K < 1000 else (7, 16, 33):
        x = with_specials((M, K), M + n, dtype, density=0.02)
        k = np.random.default_rng(n).standard_normal((K, n)).astype(dtype)
        k[K // 2, n // 2] = np.nan  # one NaN weight: a whole output column must show it
        b = with_specials((n,), n, dtype, density=0.2)
        what = f"dense {activation} M={M} K={K} N={n}"
        for bias in (b, None):
            args = (x, k) if bias is None else (x, k, bias)

            def fused(*t):
                return tg.nn.dense(t[0], t[1], t[2] if len(t) > 2 else None, activation)

            def unfused(*t):
                return unfused_dense(t[0], t[1], t[2] if len(t) > 2 else None, activation)

            z_f, g_f = grads(fused, *args)
            z_u, g_u = grads(unfused, *args)
            assert_same_pattern(z_f, z_u, what)
            assert np.isnan(z_f[:, n // 2]).all(), what  # the NaN weight is never hidden
            for name, gf, gu in zip(("dx", "dkernel", "dbias"), g_f, g_u):
                assert_same_pattern(gf, gu, f"{what} {name}")


def test_dense_layer_shows_a_nan_weight():
    layer = tg.layers.Dense(4, activation="relu")
    x = np.ones((3, 5), np.float32)
    layer(x)
    kernel = layer.kernel.numpy().copy()
    kernel[0, 1] = np.nan
    layer.kernel.assign(kernel)
    out = layer(x).numpy()
    assert np.isnan(out[:, 1]).all() and not np.isnan(np.delete(out, 1, axis=1)).any()


# ---- mean squared error: fused vs reduce_mean(square(p - t), -1) ----------------------------

MSE_SHAPES = (
    [(n,) for n in LENGTHS] + [(3, n) for n in LENGTHS] + [(2, 3, 17), (600, 9), (2, 70000)]
)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", MSE_SHAPES, ids=str)
def test_mse_fused_matches_unfused_on_nan_and_inf(shape, dtype):
    t = with_specials(shape, sum(shape), dtype, density=0.1)
    p = with_specials(shape, sum(shape) + 1, dtype, density=0.1)
    p.reshape(-1)[: min(3, p.size)] = t.reshape(-1)[: min(3, p.size)]  # Inf - Inf: NaN
    z_f, g_f = grads(ops.mean_squared_error, t, p)
    z_u, g_u = grads(lambda a, b: tg.reduce_mean(tg.square(b - a), axis=-1), t, p)
    assert_same_pattern(z_f, z_u, f"mse {shape}")
    assert_same_pattern(z_f, np.mean(np.square(p - t), axis=-1), f"mse {shape} vs NumPy")
    for name, gf, gu in zip(("dy_true", "dy_pred"), g_f, g_u):
        assert_same_pattern(gf, gu, f"mse {shape} {name}")


@pytest.mark.parametrize("shape", [(n,) for n in LENGTHS] + [(4, 9)], ids=str)
def test_mse_grad_propagates_nan_and_inf_in_g(shape):
    t = np.zeros(shape, np.float32)
    p = with_specials(shape, 3, np.float32, density=0.2)
    g = (
        with_specials(shape[:-1], 4, np.float32, density=0.5)
        if len(shape) > 1
        else np.float32(np.inf)
    )
    got = ops.mean_squared_error_grad(g, t, p).numpy()
    expected = np.expand_dims(np.asarray(g), -1) * (np.float32(2.0 / shape[-1]) * (p - t))
    assert_same_pattern(got, expected, f"mse_grad {shape}")


# ---- reduce_max and maximum: NaN wins, and so does its gradient -----------------------------


def reduce_max_grad_reference(x, axis, g):
    m = np.max(x, axis=axis, keepdims=True)
    picks = (x == m) | (np.isnan(x) & np.isnan(m))
    return picks / picks.sum(axis=axis, keepdims=True) * np.expand_dims(g, axis)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(n,) for n in LENGTHS] + [(5, 33), (33, 5), (3, 50000)], ids=str)
def test_reduce_max_and_its_gradient_on_nan_and_inf(shape, dtype):
    x = with_specials(shape, sum(shape), dtype, density=0.05)
    for axis in range(len(shape)):
        xt = tg.constant(x)
        with tg.GradientTape() as tape:
            tape.watch(xt)
            z = tg.reduce_max(xt, axis=axis)
        g = np.ones(z.shape, dtype)
        assert_same_pattern(z.numpy(), np.max(x, axis=axis), f"reduce_max {shape} axis {axis}")
        got = tape.gradient(z, xt).numpy()
        assert_same_pattern(
            got, reduce_max_grad_reference(x, axis, g), f"d reduce_max {shape} axis {axis}"
        )


@pytest.mark.parametrize("n", LENGTHS)
def test_maximum_minimum_follow_the_nan_and_match_reduce_max(n):
    a = with_specials((n,), n, np.float64, density=0.3)
    b = with_specials((n,), n + 5, np.float64, density=0.3)
    b[a == b] += 0.5  # no ties: maximum gives a tie to a, reduce_max splits it
    for op, ref in ((tg.maximum, np.maximum), (tg.minimum, np.minimum)):
        z, (ga, gb) = grads(op, a, b)
        assert_same_pattern(z, ref(a, b), op.__name__)
        picks_a = (z == a) | np.isnan(a)
        np.testing.assert_array_equal(ga != 0, picks_a, err_msg=op.__name__)
        np.testing.assert_array_equal(gb != 0, ~picks_a, err_msg=op.__name__)
    z_u, g_u = grads(tg.maximum, a, b)
    z_r, (g_r,) = grads(lambda ab: tg.reduce_max(ab, axis=0), np.stack([a, b]))
    assert_same_pattern(z_r, z_u, "reduce_max of a pair")
    # ties (both NaN, or the same Inf): maximum sends the gradient to a, reduce_max shares it;
    # elsewhere they agree
    one_nan = ~((np.isnan(a) & np.isnan(b)) | (a == b))
    assert_same_pattern(g_r[0][one_nan], g_u[0][one_nan], "d reduce_max of a pair, a")
    assert_same_pattern(g_r[1][one_nan], g_u[1][one_nan], "d reduce_max of a pair, b")


# ---- optimizers: the fused update loops vs their formulas in NumPy --------------------------


def numpy_steps(kind, cfg, w, gs, dtype):
    """The optimizers' updates (cpp/src/optim.cpp) written with NumPy arrays, in dtype."""
    f = lambda v: np.asarray(v, dtype)  # noqa: E731
    w = w.copy()
    lr = f(cfg["learning_rate"])
    state = {}
    for step, g in enumerate(gs, start=1):
        if kind == "SGD":
            m = f(cfg.get("momentum", 0.0))
            if cfg.get("momentum", 0.0) == 0.0:
                w = w - lr * g
            else:
                v = state.get("v", np.zeros_like(w))
                v = m * v - lr * g
                w = w + (m * v - lr * g) if cfg.get("nesterov") else w + v
                state["v"] = v
        elif kind in ("Adam", "AdamW"):
            b1, b2, eps = 0.9, 0.999, 1e-7
            alpha = cfg["learning_rate"] * np.sqrt(1.0 - b2**step) / (1.0 - b1**step)
            m = state.get("m", np.zeros_like(w))
            v = state.get("v", np.zeros_like(w))
            m = m + (g - m) * f(1.0 - b1)
            v = v + (g * g - v) * f(1.0 - b2)
            if kind == "AdamW":
                w = w - w * f(cfg["weight_decay"]) * lr
            w = w - f(alpha) * m / (np.sqrt(v) + f(eps))
            state.update(m=m, v=v)
        elif kind == "RMSprop":
            rho, eps, mu = f(0.9), f(1e-7), f(cfg.get("momentum", 0.0))
            v = state.get("v", np.zeros_like(w))
            v = rho * v + f(1.0 - 0.9) * (g * g)
            d = v + eps
            if cfg.get("centered"):
                a = state.get("a", np.zeros_like(w))
                a = rho * a + f(1.0 - 0.9) * g
                d = v - a * a + eps
                state["a"] = a
            inc = lr * g / np.sqrt(d)
            if cfg.get("momentum", 0.0) > 0:
                p = mu * state.get("p", np.zeros_like(w)) + inc
                w = w - p
                state["p"] = p
            else:
                w = w - inc
            state["v"] = v
        elif kind == "Adagrad":
            acc = state.get("acc", np.full_like(w, 0.1))
            acc = acc + g * g
            w = w - lr * g / np.sqrt(acc + f(1e-7))
            state["acc"] = acc
    return w


OPTIMIZERS = [
    ("SGD", {"learning_rate": 0.1}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"learning_rate": 0.01}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("RMSprop", {"learning_rate": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"learning_rate": 0.1}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("kind", "cfg"), OPTIMIZERS, ids=lambda v: str(v))
def test_optimizer_updates_propagate_nan_and_inf_like_their_formulas(kind, cfg, dtype):
    for n in (*LENGTHS, 64, 1001):
        w0 = with_specials((n,), n, dtype, density=0.1)
        gs = [with_specials((n,), n + s, dtype, density=0.1) for s in (1, 2)]
        var = tg.Variable(w0, dtype=dtype)
        opt = getattr(tg.optimizers, kind)(**cfg)
        for g in gs:
            opt.apply_gradients([(tg.constant(g), var)])
        expected = numpy_steps(kind, cfg, w0, gs, dtype)
        assert_same_pattern(
            var.numpy(), expected, f"{kind} {cfg} n={n}", rtol=2e-4 if dtype == np.float32 else 1e-9
        )


@pytest.mark.parametrize("n", LENGTHS)
def test_clipvalue_keeps_nan_and_clamps_inf(n):
    g = with_specials((n,), n, np.float32, density=0.4)
    var = tg.Variable(np.zeros(n, np.float32))
    tg.optimizers.SGD(learning_rate=1.0, clipvalue=0.5).apply_gradients([(tg.constant(g), var)])
    assert_same_pattern(var.numpy(), -np.clip(g, -0.5, 0.5), "clipvalue")


# ---- every ISA -------------------------------------------------------------------------------


@pytest.mark.skipif(os.environ.get("TAPEGRAD_TEST_FORCED_ISA") is not None, reason="in the child")
@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_whole_file_under_forced_isa(isa):
    """This file again in a fresh interpreter with TAPEGRAD_ISA set (GEMM micro-kernels and
    elementwise loops of that ISA). An ISA the CPU lacks is skipped, and so is the one this
    process runs: the tests above already covered it."""
    if tg.config()["isa"] == isa:
        pytest.skip(f"{isa} is this process's ISA: covered by the tests above")
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
        "TAPEGRAD_NUM_THREADS": "2",
        "TAPEGRAD_TEST_FORCED_ISA": isa,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", __file__],
        env=env,
        capture_output=True,
        text=True,
        cwd=os.path.dirname(__file__),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
