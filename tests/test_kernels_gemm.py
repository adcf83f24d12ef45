"""GEMM through the Python API: every matmul path (packed, direct, transposed, batched, float32 and
float64, fused dense) against a float64 NumPy reference, for every ISA this CPU runs (forced with
TAPEGRAD_ISA in a child process, since the ISA is chosen once at import), bit-identical results
for 1 and 2 threads, and the fused dense op against its unfused composition to second order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg

# (M, K, N, transpose_a, transpose_b, batch_a, batch_b): sizes 0, 1, 7, 17, 64, 129, 1000,
# non-square, transposed and batched (with broadcast batch axes).
CASES = [
    *[(n, n, n, False, False, (), ()) for n in (0, 1, 7, 17, 64, 129)],
    (1000, 1000, 1000, False, False, (), ()),
    (7, 129, 17, False, False, (), ()),
    (129, 17, 7, False, False, (), ()),
    (1000, 17, 64, False, False, (), ()),
    (17, 1000, 1, False, False, (), ()),
    (64, 0, 17, False, False, (), ()),
    (129, 64, 17, True, False, (), ()),
    (129, 64, 17, False, True, (), ()),
    (129, 64, 200, True, True, (), ()),
    (300, 200, 500, True, False, (), ()),
    (300, 200, 500, False, True, (), ()),
    (17, 64, 129, False, False, (3,), (3,)),
    (17, 64, 7, False, False, (2, 3), ()),
    (7, 17, 64, True, True, (2, 1), (4,)),
    # the seed MLP's backward products (direct path): g @ w^T with K == 1 (an outer product read
    # through a transposed B), h^T @ g, dz @ w^T
    (32, 1, 128, False, True, (), ()),
    (33, 1, 17, True, True, (), ()),
    (128, 32, 1, True, False, (), ()),
    (32, 128, 8, False, True, (), ()),
]

ISAS = ("scalar", "avx2", "avx512")


def _operands(case, dtype, seed):
    M, K, N, ta, tb, ba, bb = case
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (*ba, *((K, M) if ta else (M, K)))).astype(dtype)
    b = rng.uniform(-1, 1, (*bb, *((N, K) if tb else (K, N)))).astype(dtype)
    return a, b


def _reference(a, b, ta, tb):
    """float64 product and sum |a||b| (the scale of each element's rounding error)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    a64 = np.swapaxes(a64, -1, -2) if ta else a64
    b64 = np.swapaxes(b64, -1, -2) if tb else b64
    return a64 @ b64, np.abs(a64) @ np.abs(b64)


def _assert_close(got, a, b, ta, tb, what):
    want, scale = _reference(a, b, ta, tb)
    k = a.shape[-2] if ta else a.shape[-1]
    eps = np.finfo(got.dtype).eps
    assert got.shape == want.shape, what
    err = np.abs(got.astype(np.float64) - want)
    bound = (k + 2) * eps * scale + 1e-300
    assert np.all(err <= bound), f"{what}: max error {err.max()} above the rounding bound"


def _matmul_results(threads):
    """Every case's result under the current ISA, for each thread count: {key: array}."""
    out = {}
    before = tg.num_threads()
    for t in threads:
        tg.set_num_threads(t)
        for i, case in enumerate(CASES):
            _, _, _, ta, tb, _, _ = case
            for dt in (np.float32, np.float64):
                a, b = _operands(case, dt, i)
                z = tg.matmul(a, b, transpose_a=ta, transpose_b=tb).numpy()
                out[f"{i}-{np.dtype(dt).name}-{t}"] = z
    tg.set_num_threads(before)
    return out


def _child(path):
    """Run in a child process with TAPEGRAD_ISA set: saves its ISA and every result to path."""
    res = _matmul_results((1, 2))
    np.savez(path, isa=np.array(tg.config()["isa"]), **res)


@pytest.mark.parametrize("isa", ISAS)
def test_matmul_every_isa_matches_reference_and_is_thread_invariant(isa, tmp_path):
    out = tmp_path / "res.npz"
    env = dict(os.environ, TAPEGRAD_ISA=isa)
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        f"import test_kernels_gemm as t; t._child({str(out)!r})"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as npz:
        res = dict(npz)
    if str(res["isa"]) != isa:
        pytest.skip(f"this CPU (or build) cannot run {isa}; it fell back to {res['isa']}")
    for i, case in enumerate(CASES):
        _, _, _, ta, tb, _, _ = case
        for dt in (np.float32, np.float64):
            a, b = _operands(case, dt, i)
            one = res[f"{i}-{np.dtype(dt).name}-1"]
            two = res[f"{i}-{np.dtype(dt).name}-2"]
            what = f"{isa} case {case} {np.dtype(dt).name}"
            _assert_close(one, a, b, ta, tb, what)
            assert one.tobytes() == two.tobytes(), f"{what}: 1 and 2 threads differ"


def test_matmul_default_isa_matches_reference():
    res = _matmul_results((1,))
    for i, case in enumerate(CASES):
        _, _, _, ta, tb, _, _ = case
        for dt in (np.float32, np.float64):
            a, b = _operands(case, dt, i)
            _assert_close(res[f"{i}-{np.dtype(dt).name}-1"], a, b, ta, tb, f"{case}")


def test_matmul_reads_strided_operands_like_contiguous_ones():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((300, 200)).astype(np.float32)
    b = rng.standard_normal((500, 200)).astype(np.float32)
    # A transposed NumPy view (non-contiguous) converts to the same values as its copy.
    got = tg.matmul(a, b.T).numpy()
    want = tg.matmul(a, np.ascontiguousarray(b.T)).numpy()
    flagged = tg.matmul(a, b, transpose_b=True).numpy()
    np.testing.assert_array_equal(got, want)
    _assert_close(flagged, a, b, False, True, "transpose_b")


@pytest.mark.parametrize("shape", [(1000, 1000, 1000), (256, 784, 1024), (129, 17, 300)])
def test_fused_dense_is_thread_invariant(shape):
    M, K, N = shape
    rng = np.random.default_rng(1)
    x = rng.standard_normal((M, K)).astype(np.float32)
    w = rng.standard_normal((K, N)).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    outs, before = [], tg.num_threads()
    for t in (1, 2):
        tg.set_num_threads(t)
        outs.append(tg.nn.dense(x, w, b, "relu").numpy())
    tg.set_num_threads(before)
    assert outs[0].tobytes() == outs[1].tobytes()


# ---- fused dense against the unfused composition ---------------------------------------------


def _unfused(x, w, b, activation):
    z = tg.matmul(x, w) if b is None else tg.matmul(x, w) + b
    return tg.relu(z) if activation == "relu" else z


def _dense_inputs(shape_x, n, dtype, with_bias, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, shape_x).astype(dtype)
    w = rng.uniform(-1, 1, (shape_x[-1], n)).astype(dtype)
    b = rng.uniform(-1, 1, n).astype(dtype) if with_bias else None
    return x, w, b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", [None, "linear", "relu"])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("shape_x", [(7, 5), (2, 3, 17), (64, 129), (1, 1)])
def test_dense_forward_matches_unfused(shape_x, with_bias, activation, dtype):
    x, w, b = _dense_inputs(shape_x, 9, dtype, with_bias)
    got = tg.nn.dense(x, w, b, activation).numpy()
    want = _unfused(x, w, b, activation).numpy()
    assert got.dtype == want.dtype and got.shape == want.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("shape_x", [(6, 5), (2, 3, 5)])
def test_dense_gradients_match_unfused_first_and_second_order(shape_x, with_bias, activation):
    x, w, b = _dense_inputs(shape_x, 4, np.float64, with_bias, seed=3)
    results = []
    for fn in (lambda *a: tg.nn.dense(*a, activation), lambda *a: _unfused(*a, activation)):
        xv, wv = tg.Variable(x), tg.Variable(w)
        bv = tg.Variable(b) if with_bias else None
        srcs = [xv, wv] + ([bv] if with_bias else [])
        with tg.GradientTape(persistent=True) as outer:
            with tg.GradientTape() as inner:
                z = fn(xv, wv, bv)
                loss = tg.reduce_sum(z * z * z)  # cubic: second derivatives in every input
            firsts = inner.gradient(loss, srcs)
            probe = sum(tg.reduce_sum(g * g) for g in firsts)
        seconds = outer.gradient(probe, srcs, unconnected_gradients="zero")
        results.append([g.numpy() for g in firsts] + [g.numpy() for g in seconds])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_dense_tanh_and_sigmoid_apply_after():
    x, w, b = _dense_inputs((5, 4), 3, np.float64, True)
    np.testing.assert_allclose(tg.nn.dense(x, w, b, "tanh").numpy(), np.tanh(x @ w + b))
    sig = 1 / (1 + np.exp(-(x @ w + b)))
    np.testing.assert_allclose(tg.nn.dense(x, w, b, "sigmoid").numpy(), sig)
    np.testing.assert_allclose(tg.nn.dense(x, w, b, tg.tanh).numpy(), np.tanh(x @ w + b))


def test_dense_mixed_dtypes_promote_like_matmul():
    x, w, b = _dense_inputs((5, 4), 3, np.float32, True)
    z = tg.nn.dense(x, w.astype(np.float64), b, "relu")
    assert z.dtype == tg.float64
    np.testing.assert_allclose(z.numpy(), np.maximum(x.astype(np.float64) @ w + b, 0), rtol=1e-6)


@pytest.mark.parametrize(
    ("x", "w", "b", "match"),
    [
        ((5, 4), (3, 2), None, r"x \(5, 4\), kernel \(3, 2\)"),
        ((5, 4), (4, 2), (3,), r"bias \(3,\)"),
        ((4,), (4, 2), None, r"rank >= 2.*x \(4,\)"),
        ((5, 4), (4, 2, 1), None, r"kernel \(4, 2, 1\)"),
    ],
)
def test_dense_shape_errors_name_the_shapes(x, w, b, match):
    args = [np.ones(x, np.float32), np.ones(w, np.float32), None if b is None else np.ones(b)]
    with tg.GradientTape() as tape:
        v = tg.Variable(args[0])
        tape.watch(v)
        with pytest.raises(ValueError, match=match):
            tg.nn.dense(v, args[1], args[2])
    assert tape.gradient(tg.constant(1.0), v) is None


def test_dense_bad_activation():
    x, w, b = _dense_inputs((5, 4), 3, np.float32, True)
    with pytest.raises(ValueError, match="softplus"):
        tg.nn.dense(x, w, b, "softplus")
    with pytest.raises(TypeError, match="int"):
        tg.nn.dense(x, w, b, 3)
