"""The softmax-family and cross-entropy kernels (kernels/classification.cpp, the row loops in
simd/ew_body.inc): every kernel against NumPy float64 on row lengths 0, 1, 7, 17, 64, 129, 1000
(every ISA's vector tails), odd batch sizes, empty batches and a non-last axis; results
bit-identical for any thread count above the threading threshold; the file once more under every
ISA the CPU runs (TAPEGRAD_ISA, in a subprocess), and the same bits from every ISA."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest

import tapegrad as tg

ops = tg._core.ops
ROW_LENGTHS = (0, 1, 7, 17, 64, 129, 1000)
BATCHES = (0, 1, 3)


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _logits(shape, *key):
    return _rng("x", shape, *key).uniform(-30.0, 30.0, size=shape)


def _labels(shape, *key):
    return _rng("l", shape, *key).uniform(0.0, 1.0, size=shape)


def _log_softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0.0)
    return (x - m) - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def _softmax(x, axis=-1):
    return np.exp(_log_softmax(x, axis))


def _sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


def _kernels(shape, axis=-1):
    """name -> (tapegrad result as a function of dtype, float64 reference)."""
    x, lab = _logits(shape, axis), _labels(shape, axis)
    g = _rng("g", shape).standard_normal(shape)
    g_rows = _rng("gr", shape).standard_normal(np.sum(np.zeros(shape), axis=axis).shape)
    with np.errstate(all="ignore"):  # log(0) = -inf of an empty row is the expected value
        lsm = _log_softmax(x, axis)
        sm = np.exp(lsm)
        m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, 0.0)
        lse = np.squeeze(m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)), axis)
        total = np.sum(lab, axis, keepdims=True)

    def c(a, dt):
        return a.astype(dt)

    return {
        "softmax": (lambda dt: ops.softmax(c(x, dt), axis), sm),
        "log_softmax": (lambda dt: ops.log_softmax(c(x, dt), axis), lsm),
        "logsumexp": (lambda dt: ops.reduce_logsumexp(c(x, dt), axis), lse),
        "softmax_grad": (
            lambda dt: ops.softmax_grad(c(g, dt), c(sm, dt), axis),
            sm * (g - np.sum(g * sm, axis, keepdims=True)),
        ),
        "log_softmax_grad": (
            lambda dt: ops.log_softmax_grad(c(g, dt), c(lsm, dt), axis),
            g - sm * np.sum(g, axis, keepdims=True),
        ),
        "softmax_xent": (
            lambda dt: ops.softmax_cross_entropy_with_logits(c(lab, dt), c(x, dt), axis),
            -np.sum(lab * lsm, axis),
        ),
        "softmax_xent_grad": (
            lambda dt: ops.softmax_cross_entropy_with_logits_grad(
                c(g_rows, dt), c(lab, dt), c(x, dt), axis
            ),
            np.expand_dims(g_rows, axis) * (total * sm - lab),
        ),
        "sigmoid_xent": (
            lambda dt: ops.sigmoid_cross_entropy_with_logits(c(lab, dt), c(x, dt)),
            np.maximum(x, 0) - x * lab + np.log1p(np.exp(-np.abs(x))),
        ),
        "sigmoid_xent_grad": (
            lambda dt: ops.sigmoid_cross_entropy_with_logits_grad(c(g, dt), c(lab, dt), c(x, dt)),
            g * (_sigmoid(x) - lab),
        ),
    }


NAMES = sorted(_kernels((2, 3)))


def _check(got, want, dtype, scale):
    """float32 to a few ulps of the values' scale (row sums cancel), float64 to 1e-12."""
    tol = 2e-6 if dtype == np.float32 else 1e-12
    assert got.shape == want.shape
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("D", ROW_LENGTHS)
@pytest.mark.parametrize("name", NAMES)
def test_kernels_by_row_length_and_batch(name, D, batch, dtype):
    fn, want = _kernels((batch, D))[name]
    out = fn(dtype)
    assert out.dtype == (tg.float32 if dtype == np.float32 else tg.float64)
    _check(out.numpy(), want, dtype, scale=30.0 * max(D, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(
    ("shape", "axis"), [((3, 129, 5), 1), ((17, 4), 0), ((2, 3, 7), -1), ((0, 5, 2), 1)]
)
@pytest.mark.parametrize("name", [n for n in NAMES if not n.startswith("sigmoid")])
def test_kernels_along_a_non_last_axis(name, shape, axis, dtype):
    fn, want = _kernels(shape, axis)[name]
    _check(fn(dtype).numpy(), want, dtype, scale=30.0 * shape[axis])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_exp_and_log1p_over_their_whole_float_range(dtype):
    """softmax of [x, 0] is sigmoid(x) and its log_softmax -log1p(exp(-x)): the kernels' exp and
    log1p at every scale, +-inf and NaN included, never an error larger than a few ulps."""
    x = np.concatenate(
        [np.linspace(-120, 120, 24001), -np.logspace(-8, 4, 200), np.logspace(-8, 4, 200)]
    )
    pair = np.stack([x, np.zeros_like(x)], axis=1).astype(dtype)
    x64 = pair[:, 0].astype(np.float64)
    got = ops.softmax(pair).numpy()[:, 0].astype(np.float64)
    want = _sigmoid(x64)
    tiny = np.finfo(dtype).tiny
    keep = want > tiny * 4  # below the smallest normal the float kernel flushes to 0
    np.testing.assert_allclose(got[keep], want[keep], rtol=4e-7 if dtype == np.float32 else 1e-14)
    assert np.all(got[~keep] <= tiny * 4)
    loss = ops.sigmoid_cross_entropy_with_logits(np.zeros_like(pair), pair).numpy()[:, 0]
    want = np.maximum(x64, 0) + np.log1p(np.exp(-np.abs(x64)))
    rtol = 4e-7 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(loss.astype(np.float64), want, rtol=rtol, atol=tiny * 4)
    special = np.array([[np.inf, 0.0], [-np.inf, 0.0], [np.nan, 0.0], [-np.inf, -np.inf]], dtype)
    s = ops.softmax(special).numpy()  # TensorFlow's values: +inf or NaN make the row NaN
    assert np.isnan(s[0]).all() and list(s[1]) == [0.0, 1.0] and np.isnan(s[2]).all()
    assert np.isnan(s[3]).all()  # 0 / 0
    lse = ops.reduce_logsumexp(special, 1).numpy()  # TensorFlow's: the shift is 0 when not finite
    assert lse[0] == np.inf and lse[1] == 0.0 and np.isnan(lse[2]) and lse[3] == -np.inf


def _special_rows(dtype):
    """Rows of 37 (two 16-lane bodies and a tail) with one NaN, +inf or -inf, or a +-0 tie, at
    each position: the row maximum's fast path and its NaN/inf rescan meet every lane."""
    rows = []
    for value in (np.nan, np.inf, -np.inf):
        for pos in range(37):
            row = _rng("special", pos).standard_normal(37) * 3
            row[pos] = value
            rows.append(row)
    for pos in range(37):  # the maximum is a signed zero, tied with the other one
        row = -np.abs(_rng("zero", pos).standard_normal(37)) - 1.0
        row[pos], row[(pos + 17) % 37] = -0.0, 0.0
        rows.append(row)
    return np.array(rows, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_nan_and_inf_anywhere_in_long_rows(dtype):
    x = _special_rows(dtype)
    x64 = x.astype(np.float64)
    labels = np.arange(len(x)) % 37
    with np.errstate(all="ignore"):
        m = np.max(x64, axis=1, keepdims=True)
        shift = np.where(np.isneginf(m), 0.0, m)  # a +inf or NaN maximum stays (TensorFlow's)
        lsm = (x64 - shift) - np.log(np.sum(np.exp(x64 - shift), axis=1, keepdims=True))
    sm = np.exp(lsm)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ops.softmax(x, -1).numpy(), sm, rtol=rtol, atol=1e-30)
    np.testing.assert_allclose(ops.log_softmax(x, -1).numpy(), lsm, rtol=rtol, atol=1e-6)
    ce = tg.nn.sparse_softmax_cross_entropy_with_logits(labels, tg.constant(x)).numpy()
    want = -lsm[np.arange(len(x)), labels]
    np.testing.assert_allclose(ce, want, rtol=rtol, atol=1e-6)
    assert np.isnan(ce[:37]).all()  # a NaN anywhere in the row


@pytest.fixture
def threads():
    before = tg.num_threads()
    yield tg.set_num_threads
    tg.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", NAMES)
def test_results_bit_identical_for_any_thread_count(name, dtype, threads):
    fn, want = _kernels((1001, 301))[name]  # 301k elements: above the threading threshold
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append(np.array(fn(dtype).numpy()))
    for r in results[1:]:
        np.testing.assert_array_equal(r.view(np.uint8), results[0].view(np.uint8))
    _check(results[0], want, dtype, scale=30.0 * 301)


def _digest() -> str:
    """A hash of every kernel's bits on a few shapes (compared across ISAs by the test below)."""
    h = hashlib.sha256()
    for shape in [(3, 1000), (5, 17), (2, 129), (4, 7, 3)]:
        for _name, (fn, _) in sorted(_kernels(shape).items()):
            for dt in (np.float32, np.float64):
                h.update(np.ascontiguousarray(fn(dt).numpy()).tobytes())
    for dt in (np.float32, np.float64):
        x = _special_rows(dt)
        for out in (ops.softmax(x, -1), ops.log_softmax(x, -1), ops.reduce_logsumexp(x, -1)):
            h.update(np.ascontiguousarray(out.numpy()).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize(
    ("dtype", "shape"), [(np.float32, (900, 2500)), (np.float64, (1000, 1100))]
)
def test_sparse_cross_entropy_gradient_streamed_has_the_bits_of_its_rows_alone(dtype, shape):
    """From 8 MB the gradient's rows go out by streaming stores, the label's entry adjusted before
    a row leaves (kernels/sparse_xent.cpp): the same bits as the same rows in a small batch (not
    streamed), labels in a row's first and (past 2048 classes) later chunks, and NaN rows."""
    rng = np.random.default_rng(9)
    rows, classes = shape
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    x[3, 11] = np.nan
    x[4, :] = -np.inf
    labels_np = rng.integers(0, classes, rows).astype(np.int64)
    labels_np[:4] = [0, classes - 1, min(2048, classes - 1), 2047]
    upstream_np = rng.standard_normal(rows).astype(dtype)
    assert x.nbytes >= 8 << 20  # streamed
    whole = ops.sparse_softmax_cross_entropy_grad(
        tg.constant(upstream_np), tg.constant(labels_np), tg.constant(x)
    ).numpy()
    for lo, hi in [(0, 7), (rows - 5, rows)]:
        part = ops.sparse_softmax_cross_entropy_grad(
            tg.constant(upstream_np[lo:hi]), tg.constant(labels_np[lo:hi]), tg.constant(x[lo:hi])
        ).numpy()
        np.testing.assert_array_equal(whole[lo:hi], part)
    assert np.all(np.isnan(whole[[3, 4]]))
    finite = np.arange(5, 40)
    expect = np.exp(_log_softmax(x[finite].astype(np.float64)))
    expect[np.arange(len(finite)), labels_np[finite]] -= 1.0
    expect *= upstream_np.astype(np.float64)[finite, None]
    np.testing.assert_allclose(
        whole[finite],
        expect,
        rtol=1e-12 if dtype == np.float64 else 2e-6,
        atol=1e-12 if dtype == np.float64 else 2e-6,
    )


def test_print_digest_for_the_parent():
    if os.environ.get("TAPEGRAD_TEST_FORCED_ISA"):
        print("DIGEST", _digest())


ISAS = ["scalar", "avx2", "avx512"]


@pytest.mark.skipif(os.environ.get("TAPEGRAD_TEST_FORCED_ISA") is not None, reason="in the child")
def test_whole_file_under_every_isa_and_the_same_bits_from_each():
    """This file again in a fresh interpreter per ISA (TAPEGRAD_ISA, two threads); every ISA the
    CPU runs passes and gives the same bits (exp/log1p are plain arithmetic, sums in one fixed
    order, no FMA contraction). An ISA the CPU lacks is skipped."""
    digests = {}
    for isa in ISAS:
        env = {
            **os.environ,
            "TAPEGRAD_ISA": isa,
            "TAPEGRAD_NUM_THREADS": "2",
            "TAPEGRAD_TEST_FORCED_ISA": isa,
        }
        probe = subprocess.run(
            [sys.executable, "-c", "import tapegrad as tg; print(tg.config()['isa'])"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        # the last line: an editable install may report its rebuild on stdout first
        if (probe.stdout.strip().splitlines() or [""])[-1] != isa:
            continue
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-s", "-p", "no:cacheprovider", __file__],
            env=env,
            capture_output=True,
            text=True,
            cwd=os.path.dirname(__file__),
        )
        assert proc.returncode == 0, isa + ":\n" + proc.stdout[-3000:] + proc.stderr[-2000:]
        digests[isa] = [ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("DIGEST")]
    assert "scalar" in digests
    assert len({tuple(d) for d in digests.values()}) == 1, digests
