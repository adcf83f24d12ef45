"""Classification ops and their Keras pieces (issue 13): softmax-family and cross-entropy values
and gradients against hand-written NumPy at logits up to +-1e4 (finite everywhere), leading
shapes and empty batches, clip_by_value's boundary rule, the argmax comparison behind
CategoricalAccuracy, and the losses' from_logits / label_smoothing / reduction semantics against
hand-computed values. Op-table rows (tests/op_table.py) cover the generic value, gradient, JVP
and replay checks; tests/test_classification_kernels.py the kernels' ISA paths."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import losses, metrics

ops = tg._core.ops
DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]


def _tg_dtype(dtype):
    return tg.float64 if dtype == np.float64 else tg.float32


def _tol(dtype):
    return {"rtol": 1e-12, "atol": 1e-12} if dtype == np.float64 else {"rtol": 2e-6, "atol": 2e-6}


# ---- float64 references ---------------------------------------------------------------------


def np_log_softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return (x - m) - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def np_softmax(x, axis=-1):
    return np.exp(np_log_softmax(x, axis))


def np_softmax_xent(labels, logits, axis=-1):
    return -np.sum(labels * np_log_softmax(logits, axis), axis=axis)


def np_sigmoid_xent(z, x):
    return np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))


def np_sigmoid(x):
    return np.where(
        x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x)))
    )


def _grads(f, *xs, dtype=np.float64):
    srcs = [tg.constant(np.asarray(x, dtype=dtype)) for x in xs]
    with tg.GradientTape() as tape:
        for s in srcs:
            tape.watch(s)
        y = f(*srcs)
        total = tg.reduce_sum(y)
    return y, [g.numpy() for g in tape.gradient(total, srcs)]


def _extreme_logits(rng, shape):
    """Logits spanning +-1e4 with a few exact ties and huge gaps in every row."""
    x = rng.choice([-1e4, -5e3, -30.0, 0.0, 1.0, 30.0, 5e3, 1e4], size=shape)
    return x + rng.uniform(-0.5, 0.5, size=shape) * (rng.random(shape) < 0.5)


def _probabilities(rng, shape):
    p = rng.random(shape)
    return p / p.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 10), (3, 2, 7), (1, 1000), (0, 10), (5,)])
def test_softmax_cross_entropy_at_extreme_logits_is_finite_and_matches_numpy(dtype, shape):
    rng = np.random.default_rng(1)
    x = _extreme_logits(rng, shape).astype(dtype).astype(np.float64)
    labels = _probabilities(rng, shape).astype(dtype).astype(np.float64)
    loss, (g_labels, g_logits) = _grads(
        lambda lab, z: tg.nn.softmax_cross_entropy_with_logits(lab, z), labels, x, dtype=dtype
    )
    want = np_softmax_xent(labels, x)
    assert loss.shape == shape[:-1] and loss.dtype == _tg_dtype(dtype)
    for got in (loss.numpy(), g_labels, g_logits):
        assert np.all(np.isfinite(got))
    # the loss is up to ~2e4 here: float32 carries its rounding relative to the logits' scale
    atol = 1e-9 if dtype == np.float64 else 2e-6 * max(1.0, np.max(np.abs(x), initial=0.0))
    np.testing.assert_allclose(loss.numpy(), want, rtol=_tol(dtype)["rtol"], atol=atol)
    np.testing.assert_allclose(
        g_logits, np_softmax(x) * labels.sum(-1, keepdims=True) - labels, **_tol(dtype)
    )
    np.testing.assert_allclose(g_labels, -np_log_softmax(x), rtol=_tol(dtype)["rtol"], atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 3), (2, 3, 5), (0,), (), (4096,)])
def test_sigmoid_cross_entropy_at_extreme_logits_is_finite_and_matches_numpy(dtype, shape):
    rng = np.random.default_rng(2)
    x = _extreme_logits(rng, shape).astype(dtype).astype(np.float64)
    z = rng.random(shape).astype(dtype).astype(np.float64)
    loss, (g_z, g_x) = _grads(
        lambda a, b: tg.nn.sigmoid_cross_entropy_with_logits(labels=a, logits=b), z, x, dtype=dtype
    )
    for got in (loss.numpy(), g_z, g_x):
        assert np.all(np.isfinite(got))
    atol = 1e-9 if dtype == np.float64 else 2e-6 * max(1.0, np.max(np.abs(x), initial=0.0))
    np.testing.assert_allclose(
        loss.numpy(), np_sigmoid_xent(z, x), rtol=_tol(dtype)["rtol"], atol=atol
    )
    np.testing.assert_allclose(g_x, np_sigmoid(x) - z, **_tol(dtype))
    np.testing.assert_allclose(g_z, -x, **_tol(dtype))


def test_sigmoid_cross_entropy_keeps_tiny_losses_accurate():
    """log1p(exp(-|x|)) for large |x|: the loss of a confident right answer is ~exp(-|x|), not
    0 (log(1 + e) would round it away in float32)."""
    x = np.array([20.0, 40.0, 80.0, -20.0, -40.0], np.float32)
    z = (x > 0).astype(np.float32)
    got = tg.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x).numpy()
    np.testing.assert_allclose(got, np.exp(-np.abs(x.astype(np.float64))), rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_family_at_extreme_logits(dtype, axis):
    rng = np.random.default_rng(3)
    x = _extreme_logits(rng, (4, 9, 3)).astype(dtype).astype(np.float64)
    u = rng.standard_normal(x.shape)
    for name, fn, ref in [
        ("softmax", tg.nn.softmax, np_softmax),
        ("log_softmax", tg.nn.log_softmax, np_log_softmax),
    ]:
        y, (g,) = _grads(
            lambda t, fn=fn: fn(t, axis=axis) * tg.constant(u.astype(dtype)), x, dtype=dtype
        )
        assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(g)), name
        want = ref(x, axis) * u
        atol = _tol(dtype)["atol"] * (1 if name == "softmax" else 2e4)
        np.testing.assert_allclose(y.numpy(), want, rtol=_tol(dtype)["rtol"], atol=atol)
    y, (g,) = _grads(lambda t: tg.reduce_logsumexp(t, axis=axis), x, dtype=dtype)
    m = np.max(x, axis=axis, keepdims=True)
    want = np.squeeze(m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)), axis)
    np.testing.assert_allclose(y.numpy(), want, rtol=_tol(dtype)["rtol"], atol=1e-9)
    np.testing.assert_allclose(g, np_softmax(x, axis), **_tol(dtype))


def test_reduce_logsumexp_of_nothing_is_minus_inf_and_all_minus_inf_rows_stay_finite_shifted():
    assert np.all(tg.reduce_logsumexp(np.zeros((0, 3)), axis=0).numpy() == -np.inf)
    x = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    np.testing.assert_array_equal(tg.reduce_logsumexp(x, axis=1).numpy(), [-np.inf, 0.0])
    np.testing.assert_array_equal(tg.nn.softmax(x[1:]).numpy(), [[1.0, 0.0]])


def test_reduce_logsumexp_over_several_axes_and_keepdims():
    x = np.random.default_rng(4).standard_normal((2, 3, 4))
    for axis in [(0, 2), (2, 0), (1, 2), None, ()]:
        got = tg.reduce_logsumexp(x, axis=axis, keepdims=True).numpy()
        ax = tuple(range(3)) if axis is None else axis
        want = np.log(np.sum(np.exp(x), axis=ax, keepdims=True))
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_reduce_min_values_ties_and_empty():
    x = np.array([[3.0, 1.0, 1.0], [0.0, 2.0, 5.0]])
    np.testing.assert_array_equal(tg.reduce_min(x, axis=1).numpy(), [1.0, 0.0])
    _, (g,) = _grads(lambda t: tg.reduce_min(t, axis=1), x)
    np.testing.assert_array_equal(g, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    assert float(tg.math.reduce_min(x)) == 0.0
    with pytest.raises(ValueError, match=r"reduce_min.*\(0, 3\)"):
        tg.reduce_min(np.zeros((0, 3)), axis=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_by_value_gradient_goes_to_t_inside_and_on_the_boundary(dtype):
    t = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    lo, hi = np.full(5, -1.0), np.full(5, 1.0)
    y, (gt, glo, ghi) = _grads(tg.clip_by_value, t, lo, hi, dtype=dtype)
    np.testing.assert_array_equal(y.numpy(), [-1.0, -1.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(gt, [0.0, 1.0, 1.0, 1.0, 0.0])  # TF: t <= hi and t >= lo
    np.testing.assert_array_equal(glo, [1.0, 0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(ghi, [0.0, 0.0, 0.0, 0.0, 1.0])
    # Python numbers as clip values, in t's dtype
    out = tg.clip_by_value(tg.constant(t.astype(dtype)), -1, 0.5)
    assert out.dtype == _tg_dtype(dtype)
    np.testing.assert_array_equal(out.numpy(), [-1.0, -1.0, 0.0, 0.5, 0.5])


def test_clip_by_value_rejects_clip_values_that_grow_the_shape():
    with pytest.raises(ValueError, match=r"clip_by_value.*\(2, 3\).*\(3,\)"):
        tg.clip_by_value(np.ones(3), np.zeros((2, 3)), 1.0)


@pytest.mark.parametrize(
    "op",
    [
        lambda lab, x: tg.nn.softmax_cross_entropy_with_logits(lab, x),
        lambda lab, x: tg.nn.sigmoid_cross_entropy_with_logits(labels=lab, logits=x),
    ],
)
def test_cross_entropies_name_mismatched_shapes(op):
    with pytest.raises(ValueError, match=r"labels shape \(4, 3\) and logits shape \(4, 2\)"):
        op(np.ones((4, 3)), np.ones((4, 2)))


def test_softmax_of_a_scalar_is_a_value_error():
    with pytest.raises(ValueError, match="rank >= 1"):
        tg.nn.softmax(tg.constant(1.0))
    with pytest.raises(ValueError, match="axis"):
        tg.nn.softmax(np.ones((2, 3)), axis=2)


def test_softmax_cross_entropy_gradient_equals_tensorflows_for_normalized_labels():
    """TF's logits gradient is softmax - labels; the exact one, sum(labels) softmax - labels,
    is the same whenever the labels sum to 1."""
    rng = np.random.default_rng(5)
    x, labels = rng.standard_normal((5, 4)), _probabilities(rng, (5, 4))
    _, (_, g) = _grads(lambda lab, z: tg.nn.softmax_cross_entropy_with_logits(lab, z), labels, x)
    np.testing.assert_allclose(g, np_softmax(x) - labels, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "loss",
    [
        lambda lab, x: tg.nn.softmax_cross_entropy_with_logits(lab, x),
        lambda lab, x: tg.nn.sigmoid_cross_entropy_with_logits(labels=lab, logits=x),
    ],
    ids=["softmax", "sigmoid"],
)
def test_cross_entropy_backward_is_one_fused_op(loss):
    x = tg.Variable(np.random.default_rng(6).standard_normal((8, 5)))
    labels = tg.constant(_probabilities(np.random.default_rng(7), (8, 5)))
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = loss(labels, x)
        before = outer.num_nodes
        inner.gradient(y, x)
    assert outer.num_nodes - before == 1  # one *_cross_entropy_with_logits_grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_sparse_cross_entropy_backward_from_the_forwards_row_sums_matches_recomputing_them(dtype):
    """Under a tape the forward keeps each row's shift and log-sum and the backward makes one pass
    with them; a compiled step's replay (and a gradient of the gradient) computes them again:
    the same bits, special rows included, and softmax - one_hot against NumPy on finite rows."""
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((9, 37)) * 30).astype(dtype)
    x[1, 5] = np.nan
    x[2, 7] = np.inf
    x[3, :] = -np.inf
    x[4, 3] = -np.inf
    x[5, :] = 0.0
    x[6, :] = 1e4
    labels = tg.constant(rng.integers(0, 37, 9).astype(np.int64))
    logits = tg.constant(x)
    upstream = tg.constant(rng.standard_normal(9).astype(dtype))

    def grad(z):
        with tg.GradientTape() as tape:
            tape.watch(z)
            loss = tg.reduce_sum(
                tg.nn.sparse_softmax_cross_entropy_with_logits(labels, z) * upstream
            )
        return tape.gradient(loss, z)

    eager = grad(logits).numpy()
    replayed = tg.function(grad)(logits).numpy()
    recomputed = ops.sparse_softmax_cross_entropy_grad(upstream, labels, logits).numpy()
    np.testing.assert_array_equal(eager, replayed)
    np.testing.assert_array_equal(eager, recomputed)
    finite = [0, 4, 5, 6, 7, 8]
    with np.errstate(invalid="ignore"):  # the -inf entry of row 4: exp(-inf) = 0
        expect = np_softmax(x[finite].astype(np.float64))
    expect[np.arange(len(finite)), labels.numpy()[finite]] -= 1.0
    expect *= upstream.numpy().astype(np.float64)[finite, None]
    np.testing.assert_allclose(eager[finite], expect, **_tol(dtype))
    assert np.all(np.isnan(eager[[1, 2, 3]]))  # NaN, +inf and all -inf rows are NaN, as before


# ---- argmax comparison (CategoricalAccuracy) ----------------------------------------------------


def test_argmax_equal_first_maximum_ties_and_axis():
    a = np.array([[0.0, 1.0, 1.0], [2.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    b = np.array([[0.0, 5.0, 5.0], [0.0, 1.0, 1.0], [1.0, 0.0, 3.0]])
    np.testing.assert_array_equal(ops._argmax_equal(a, b).numpy(), [1.0, 0.0, 1.0])
    want = (np.argmax(a, axis=0) == np.argmax(b, axis=0)).astype(float)
    np.testing.assert_array_equal(ops._argmax_equal(a, b, 0).numpy(), want)
    nan = np.array([[1.0, np.nan, 2.0]])
    np.testing.assert_array_equal(
        ops._argmax_equal(nan, np.array([[0.0, 1.0, 0.0]])).numpy(), [1.0]
    )
    assert ops._argmax_equal(np.zeros((0, 3)), np.zeros((0, 3))).shape == (0,)
    with pytest.raises(ValueError, match="empty axis"):
        ops._argmax_equal(np.zeros((2, 0)), np.zeros((2, 0)))


def test_argmax_equal_records_on_no_tape_and_replays_in_a_compiled_step():
    x = tg.constant(np.array([[0.2, 0.8], [0.9, 0.1]]))
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = ops._argmax_equal(np.array([[0.0, 1.0], [0.0, 1.0]]), x)
    assert tape.gradient(tg.reduce_sum(y), x) is None
    step = tg.function(lambda t, p: ops._argmax_equal(t, p))
    t = tg.constant(np.eye(3))
    np.testing.assert_array_equal(step(t, tg.constant(np.eye(3)[[0, 2, 1]])).numpy(), [1, 0, 0])
    np.testing.assert_array_equal(step(t, tg.constant(np.eye(3))).numpy(), [1, 1, 1])
    assert step.trace_count == 1


# ---- Keras losses ---------------------------------------------------------------------------


Y_TRUE = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
Y_PROB = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
LOGITS = np.array([[1.0, 3.0, -1.0], [0.5, 2.0, 0.1]])


def _cce_probs(y_true, y_pred, eps=1e-7):
    p = np.clip(y_pred / y_pred.sum(-1, keepdims=True), eps, 1 - eps)
    return -np.sum(y_true * np.log(p), -1)


def test_categorical_crossentropy_matches_keras_docstring():
    # keras.losses.CategoricalCrossentropy's example: 1.177
    assert float(losses.CategoricalCrossentropy()(Y_TRUE, Y_PROB)) == pytest.approx(
        1.1769392, rel=1e-6
    )
    np.testing.assert_allclose(
        losses.categorical_crossentropy(Y_TRUE, Y_PROB).numpy(), [0.0513, 2.303], rtol=1e-3
    )


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_categorical_crossentropy_from_logits_and_label_smoothing(smoothing):
    smooth = Y_TRUE * (1 - smoothing) + smoothing / 3
    got = losses.categorical_crossentropy(
        Y_TRUE, LOGITS, from_logits=True, label_smoothing=smoothing
    )
    np.testing.assert_allclose(got.numpy(), np_softmax_xent(smooth, LOGITS), rtol=1e-6)
    got = losses.categorical_crossentropy(Y_TRUE, Y_PROB, label_smoothing=smoothing)
    np.testing.assert_allclose(got.numpy(), _cce_probs(smooth, Y_PROB), rtol=1e-6)
    # the axis option: classes along axis 0
    got = losses.categorical_crossentropy(Y_TRUE.T, LOGITS.T, from_logits=True, axis=0)
    np.testing.assert_allclose(got.numpy(), np_softmax_xent(Y_TRUE, LOGITS), rtol=1e-6)


def test_binary_crossentropy_matches_keras_docstring_and_from_logits():
    y_true = np.array([[0.0, 1.0], [0.0, 0.0]])
    y_pred = np.array([[0.6, 0.4], [0.4, 0.6]])
    # keras.losses.BinaryCrossentropy's example: 0.815
    assert float(losses.BinaryCrossentropy()(y_true, y_pred)) == pytest.approx(0.81492424, rel=1e-6)
    logits = np.array([[-18.6, 0.51], [2.94, -12.8]])
    # its from_logits example: 0.865
    bce = losses.BinaryCrossentropy(from_logits=True)
    assert float(bce(y_true, logits)) == pytest.approx(0.865458, rel=1e-5)
    smooth = y_true * 0.8 + 0.1
    got = losses.binary_crossentropy(y_true, logits, from_logits=True, label_smoothing=0.2)
    np.testing.assert_allclose(got.numpy(), np_sigmoid_xent(smooth, logits).mean(-1), rtol=1e-6)


def test_binary_crossentropy_aligns_a_trailing_one():
    y_pred = tg.constant([[0.2], [0.9], [0.6]])
    y_true = np.array([0.0, 1.0, 1.0])
    with pytest.warns(UserWarning, match=r"\(3,\)"):
        got = losses.binary_crossentropy(y_true, y_pred)
    want = -(y_true * np.log([0.2, 0.9, 0.6]) + (1 - y_true) * np.log([0.8, 0.1, 0.4]))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


def test_huber_matches_keras_docstring_and_its_two_pieces():
    y_true = np.array([[0.0, 1.0], [0.0, 0.0]])
    y_pred = np.array([[0.6, 0.4], [0.4, 0.6]])
    assert float(losses.Huber()(y_true, y_pred)) == pytest.approx(0.155, rel=1e-6)
    e = np.array([[0.5, -3.0, 2.0, 0.1]])
    want = np.where(np.abs(e) <= 1.5, 0.5 * e**2, 1.5 * np.abs(e) - 0.5 * 1.5**2).mean(-1)
    np.testing.assert_allclose(losses.huber(np.zeros_like(e), e, delta=1.5).numpy(), want)
    pred = tg.constant(e)
    with tg.GradientTape() as tape:
        tape.watch(pred)
        loss = losses.Huber(delta=1.5, reduction="sum")(np.zeros_like(e), pred)
    np.testing.assert_allclose(tape.gradient(loss, pred).numpy(), np.clip(e, -1.5, 1.5) / 4)


@pytest.mark.parametrize(
    "loss",
    [
        losses.CategoricalCrossentropy(from_logits=True),
        losses.BinaryCrossentropy(from_logits=True),
        losses.Huber(delta=0.5),
    ],
    ids=["cce", "bce", "huber"],
)
def test_reductions_and_sample_weight(loss):
    per_sample = type(loss)(**{**loss.get_config(), "reduction": "none"})(Y_TRUE, LOGITS).numpy()
    assert per_sample.shape == (2,)
    w = np.array([0.25, 2.0])
    assert float(loss(Y_TRUE, LOGITS)) == pytest.approx(per_sample.mean(), rel=1e-6)
    summed = type(loss)(**{**loss.get_config(), "reduction": "sum"})
    assert float(summed(Y_TRUE, LOGITS)) == pytest.approx(per_sample.sum(), rel=1e-6)
    assert float(loss(Y_TRUE, LOGITS, sample_weight=w)) == pytest.approx(
        (per_sample * w).mean(), rel=1e-6
    )
    assert float(summed(Y_TRUE, LOGITS, sample_weight=w)) == pytest.approx(
        (per_sample * w).sum(), rel=1e-6
    )


def test_loss_names_resolve_and_an_empty_batch_gives_zero():
    for name, cls in [
        ("categorical_crossentropy", losses.CategoricalCrossentropy),
        ("binary_crossentropy", losses.BinaryCrossentropy),
        ("huber", losses.Huber),
    ]:
        assert isinstance(losses.get(name), cls)
    empty = losses.CategoricalCrossentropy(from_logits=True)(np.zeros((0, 3)), np.zeros((0, 3)))
    assert float(empty) == 0.0
    assert losses.categorical_crossentropy(
        np.zeros((0, 3)), np.zeros((0, 3)), from_logits=True
    ).shape == (0,)
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 2\)"):
        losses.categorical_crossentropy(np.ones((4, 3)), np.ones((4, 2)))


# ---- activations and metrics ------------------------------------------------------------------


def test_dense_softmax_activation_by_name_rows_sum_to_one():
    layer = tg.layers.Dense(4, activation="softmax", input_shape=(3,))
    y = layer(np.random.default_rng(8).standard_normal((5, 3)).astype(np.float32)).numpy()
    np.testing.assert_allclose(y.sum(-1), np.ones(5), rtol=1e-6)
    assert layer.get_config()["activation"] == "softmax"
    z = tg.layers.Dense(4, activation="log_softmax", input_shape=(3,))(np.ones((2, 3), np.float32))
    np.testing.assert_allclose(np.exp(z.numpy()).sum(-1), np.ones(2), rtol=1e-6)
    assert tg.keras.activations.get("softmax") is tg.nn.softmax
    assert tg.math.softmax is tg.nn.softmax


def test_categorical_and_binary_accuracy():
    m = metrics.CategoricalAccuracy()
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert float(m.result()) == pytest.approx(0.5)  # Keras's docstring example
    m.update_state([[1, 0, 0], [0, 1, 0]], [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])  # a tie: index 0
    assert float(m.result()) == pytest.approx(0.5)
    b = metrics.BinaryAccuracy()
    b.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert float(b.result()) == pytest.approx(0.75)  # Keras's docstring example
    b2 = metrics.BinaryAccuracy(threshold=0.7)
    b2.update_state([[1, 0], [1, 1]], [[0.7, 0.2], [0.71, 0.99]], sample_weight=[1.0, 3.0])
    assert float(b2.result()) == pytest.approx((0.5 * 1 + 1.0 * 3) / 4)  # 0.7 is not > 0.7
    for name, cls in [
        ("categorical_accuracy", metrics.CategoricalAccuracy),
        ("binary_accuracy", metrics.BinaryAccuracy),
        ("categorical_crossentropy", metrics.CategoricalCrossentropy),
        ("binary_crossentropy", metrics.BinaryCrossentropy),
    ]:
        assert isinstance(metrics.get(name), cls)


def test_crossentropy_metrics_match_the_losses():
    m = metrics.CategoricalCrossentropy(from_logits=True)
    m.update_state(Y_TRUE, LOGITS)
    assert float(m.result()) == pytest.approx(np_softmax_xent(Y_TRUE, LOGITS).mean(), rel=1e-6)
    b = metrics.BinaryCrossentropy()
    b.update_state([[0.0, 1.0]], [[0.6, 0.4]])
    assert float(b.result()) == pytest.approx(-(np.log(0.4) + np.log(0.4)) / 2, rel=1e-6)


def test_accuracy_metrics_update_inside_a_compiled_step():
    acc = metrics.CategoricalAccuracy()

    @tg.function
    def step(y_true, y_pred):
        acc.update_state(y_true, y_pred)

    eye = np.eye(4, dtype=np.float32)
    step(tg.constant(eye), tg.constant(eye))
    step(tg.constant(eye), tg.constant(eye[::-1].copy()))
    assert float(acc.result()) == pytest.approx(0.5)
    assert step.trace_count == 1


def test_compile_with_classification_names_trains_a_softmax_classifier():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((256, 4)).astype(np.float32)
    labels = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    y = np.eye(3, dtype=np.float32)[labels]
    model = tg.models.Sequential(
        [tg.layers.Dense(16, activation="relu", input_shape=(4,)), tg.layers.Dense(3)]
    )
    model.compile(
        optimizer=tg.optimizers.Adam(0.05),
        loss=losses.CategoricalCrossentropy(from_logits=True),
        metrics=["categorical_accuracy"],
    )
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["categorical_accuracy"][-1] > 0.85
