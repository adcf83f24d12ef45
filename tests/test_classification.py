"""Classification: the sparse softmax cross-entropy op and the Keras pieces built on it
(SparseCategoricalCrossentropy, Accuracy, SparseCategoricalAccuracy, "accuracy" in compile,
Flatten), checked against hand-written NumPy, including logits up to +-1e4."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import keras


def log_softmax(x):
    x = np.asarray(x, np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def softmax(x):
    return np.exp(log_softmax(x))


def sparse_xent(labels, logits):
    return -np.take_along_axis(log_softmax(logits), np.asarray(labels)[..., None], -1)[..., 0]


EXTREME = np.array(
    [[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4], [0.0, 3.0, -2.0], [-1e4, 1e4, 5e3]]
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label_dtype", [np.int32, np.int64])
def test_sparse_xent_is_finite_and_exact_for_extreme_logits(dtype, label_dtype):
    logits = tg.constant(EXTREME.astype(dtype))
    labels = np.array([1, 2, 0, 1, 2], label_dtype)
    with tg.GradientTape() as tape:
        tape.watch(logits)
        loss = tg.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        total = tg.reduce_sum(loss)
    grad = tape.gradient(total, logits)
    assert loss.dtype == tg.constant(np.zeros(0, dtype)).dtype
    assert np.all(np.isfinite(loss.numpy())) and np.all(np.isfinite(grad.numpy()))
    np.testing.assert_allclose(loss.numpy(), sparse_xent(labels, EXTREME), rtol=1e-6)
    want_grad = softmax(EXTREME) - np.eye(3)[labels]
    np.testing.assert_allclose(grad.numpy(), want_grad, atol=1e-6)


def test_sparse_xent_second_derivative_matches_softmax_hessian():
    x = np.array([0.3, -1.2, 2.0, 0.5])
    logits = tg.constant(x)
    with tg.GradientTape() as outer:
        outer.watch(logits)
        with tg.GradientTape() as inner:
            inner.watch(logits)
            loss = tg.nn.sparse_softmax_cross_entropy_with_logits(tg.constant(2), logits)
        g = inner.gradient(loss, logits)
    hess = outer.jacobian(g, logits)
    p = softmax(x)
    np.testing.assert_allclose(hess.numpy(), np.diag(p) - np.outer(p, p), atol=1e-12)


def test_sparse_xent_forward_mode_and_compiled_agree():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4))
    labels = rng.integers(0, 4, 6)
    v = rng.normal(size=(6, 4))
    _, jvp = tg.jvp(lambda z: tg.nn.sparse_softmax_cross_entropy_with_logits(labels, z), [x], [v])
    np.testing.assert_allclose(jvp.numpy(), ((softmax(x) - np.eye(4)[labels]) * v).sum(-1))

    @tg.function
    def step(z, y):
        return tg.reduce_mean(tg.nn.sparse_softmax_cross_entropy_with_logits(y, z))

    for _ in range(2):
        np.testing.assert_allclose(step(x, labels).numpy(), sparse_xent(labels, x).mean())
    assert step.trace_count == 1


def test_sparse_xent_errors():
    with pytest.raises(ValueError, match=r"label 3 at flat index 1 is outside \[0, 3\)"):
        tg.nn.sparse_softmax_cross_entropy_with_logits([0, 3], np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"label -1"):
        tg.nn.sparse_softmax_cross_entropy_with_logits([-1, 0], np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"logits of shape \(2, 3\) must be labels' shape \(3,\)"):
        tg.nn.sparse_softmax_cross_entropy_with_logits([0, 1, 2], np.zeros((2, 3)))
    with pytest.raises(TypeError, match="labels must be int32 or int64, got float32"):
        tg.nn.sparse_softmax_cross_entropy_with_logits(tg.constant([0.0, 1.0]), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="logits must be float32 or float64, got int32"):
        tg.nn.sparse_softmax_cross_entropy_with_logits([0], tg.constant([[1, 2]]))


# ---- Keras: SparseCategoricalCrossentropy --------------------------------------------------------


def test_sparse_categorical_crossentropy_from_logits_and_probabilities():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(8, 5)).astype(np.float32)
    labels = rng.integers(0, 5, 8)
    want = sparse_xent(labels, logits)
    got = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    assert got.shape == () and got.dtype == tg.float32
    np.testing.assert_allclose(got.numpy(), want.mean(), rtol=1e-6)
    probs = softmax(logits).astype(np.float32)
    got = keras.losses.SparseCategoricalCrossentropy()(labels, probs)
    np.testing.assert_allclose(got.numpy(), want.mean(), rtol=1e-5)
    # Keras's function form, per sample; (N, 1) labels and float labels are accepted.
    per_sample = keras.losses.sparse_categorical_crossentropy(
        labels[:, None].astype(np.float32), logits, from_logits=True
    )
    np.testing.assert_allclose(per_sample.numpy(), want, rtol=1e-6)


def test_sparse_categorical_crossentropy_clips_zero_probabilities():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]], np.float32)
    got = keras.losses.sparse_categorical_crossentropy([1, 0], probs)
    np.testing.assert_allclose(got.numpy(), [-np.log(1e-7), -np.log(0.5)], rtol=1e-4)


def test_sparse_categorical_crossentropy_reductions_and_weights():
    logits = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]], np.float32)
    labels = np.array([0, 0, 1])
    per = sparse_xent(labels, logits)
    w = np.array([1.0, 0.5, 0.0], np.float32)
    loss = keras.losses.SparseCategoricalCrossentropy
    np.testing.assert_allclose(
        loss(from_logits=True, reduction="none")(labels, logits).numpy(), per, rtol=1e-6
    )
    np.testing.assert_allclose(
        loss(from_logits=True, reduction="sum")(labels, logits).numpy(), per.sum(), rtol=1e-6
    )
    np.testing.assert_allclose(
        loss(from_logits=True)(labels, logits, sample_weight=w).numpy(), (per * w).mean(), rtol=1e-6
    )
    assert isinstance(keras.losses.get("sparse_categorical_crossentropy"), loss)
    with pytest.raises(
        ValueError, match=r"labels of shape \(2,\) do not match predictions of shape \(3, 2\)"
    ):
        loss(from_logits=True)([0, 1], logits)


# ---- metrics and compile -------------------------------------------------------------------------


def test_accuracy_metrics_match_numpy():
    m = keras.metrics.SparseCategoricalAccuracy()
    m.update_state([2, 1], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])  # Keras's docstring example
    assert float(m.result()) == pytest.approx(0.5)
    m.reset_state()
    m.update_state(
        np.array([[2], [1]]), [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3]
    )
    assert float(m.result()) == pytest.approx(0.3)
    a = keras.metrics.Accuracy()
    a.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])  # Keras's docstring example
    assert float(a.result()) == pytest.approx(0.75)


def test_compile_maps_accuracy_to_the_losses_accuracy_and_trains_a_classifier():
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(3, 4)) * 3
    labels = rng.integers(0, 3, 600)
    x = (centers[labels] + rng.normal(size=(600, 4))).astype(np.float32)
    tg.set_random_seed(0)
    model = keras.models.Sequential(
        [keras.layers.Dense(16, activation="relu", input_shape=(4,)), keras.layers.Dense(3)]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x, labels, epochs=5, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    loss, acc = model.evaluate(x, labels)
    assert acc > 0.9 and loss < history.history["loss"][0]
    eager = keras.models.Sequential(
        [keras.layers.Dense(16, activation="relu", input_shape=(4,)), keras.layers.Dense(3)]
    )
    eager.set_weights(model.get_weights())


def test_flatten():
    x = np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)
    layer = keras.layers.Flatten()
    np.testing.assert_array_equal(layer(x).numpy(), x.reshape(2, 12))
    assert layer.compute_output_shape((None, 3, 4)) == (None, 12)
    assert keras.layers.Flatten()(np.zeros((0, 3, 4), np.float32)).shape == (0, 12)
    assert keras.layers.Flatten()(np.ones(5, np.float32)).shape == (5, 1)


def _blobs(n=300, seed=4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    x = (rng.normal(size=(3, 4))[labels] * 2 + rng.normal(size=(n, 4))).astype(np.float32)
    return x, labels


def _fit_weights(compiled: bool, **fit_kwargs):
    x, labels = _blobs()
    tg.set_random_seed(1)
    model = keras.models.Sequential([keras.layers.Dense(3, input_shape=(4,))])
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        run_eagerly=not compiled,
    )
    model.fit(x, labels, epochs=2, batch_size=50, shuffle=False, verbose=0, **fit_kwargs)
    return [w.copy() for w in model.get_weights()], labels


def test_class_weight_equals_the_matching_sample_weight_and_compiled_equals_eager():
    _, labels = _blobs()
    cw = {0: 1.0, 1: 3.0, 2: 0.5}
    by_class, _ = _fit_weights(True, class_weight=cw)
    by_sample, _ = _fit_weights(True, sample_weight=np.array([cw[k] for k in labels]))
    eager, _ = _fit_weights(False, class_weight=cw)
    plain, _ = _fit_weights(True)
    for a, b, c, d in zip(by_class, by_sample, eager, plain):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
        assert not np.array_equal(a, d)


def test_zero_sample_weights_ignore_those_samples():
    x, labels = _blobs()
    w = (np.arange(len(x)) % 2).astype(np.float32)
    tg.set_random_seed(2)
    model = keras.models.Sequential([keras.layers.Dense(3, input_shape=(4,))])
    model.compile(
        "sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    )
    before = model.get_weights()
    scrambled = labels.copy()
    scrambled[w == 0] = (labels[w == 0] + 1) % 3  # wrong labels where the weight is 0
    model.fit(x, scrambled, epochs=1, batch_size=len(x), sample_weight=w, verbose=0)
    after_scrambled = model.get_weights()
    model.set_weights(before)
    model.fit(x, labels, epochs=1, batch_size=len(x), sample_weight=w, verbose=0)
    for a, b in zip(after_scrambled, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_weight_argument_errors():
    x, labels = _blobs(30)
    model = keras.models.Sequential([keras.layers.Dense(3, input_shape=(4,))])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match=r"sample_weight has shape \(29,\)"):
        model.fit(x, labels, sample_weight=np.ones(29), verbose=0)
    with pytest.raises(ValueError, match=r"class_weight has no weight for classes \[2\]"):
        model.fit(x, labels, class_weight={0: 1.0, 1: 1.0}, verbose=0)
    with pytest.raises(TypeError, match="class_weight must be a dict"):
        model.fit(x, labels, class_weight=[1.0, 1.0, 1.0], verbose=0)
