"""Dense, Normalization and Sequential (Keras's semantics): shapes, initializer bounds,
variable order, casting, saving and loading."""

import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import initializers, keras, layers, models


def test_dense_shapes_bounds_and_order():
    tg.set_random_seed(0)
    model = models.Sequential()
    model.add(layers.Dense(128, activation="relu", input_shape=(8,)))
    model.add(layers.Dense(1))
    kernel, bias, kernel2, bias2 = model.variables
    assert kernel.shape == (8, 128) and bias.shape == (128,)
    assert kernel2.shape == (128, 1) and bias2.shape == (1,)
    assert [v.name for v in model.trainable_variables] == [v.name for v in model.variables]
    limit = math.sqrt(6 / (8 + 128))
    k = kernel.numpy()
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.9 * limit  # glorot uniform
    assert np.all(bias.numpy() == 0)
    assert kernel.dtype == tg.float32
    assert model(np.zeros((5, 8))).shape == (5, 1)
    assert model.count_params() == 8 * 128 + 128 + 128 + 1


def test_dense_built_on_first_call_and_use_bias_false():
    layer = layers.Dense(3, use_bias=False)
    assert not layer.built and layer.variables == []
    y = layer(np.ones((2, 4)))
    assert layer.built and y.shape == (2, 3)
    assert [v.shape for v in layer.variables] == [(4, 3)]
    with pytest.raises(ValueError, match=r"last dimension 4.*\(2, 5\)"):
        layer(np.ones((2, 5)))


def test_dense_output_matches_numpy_and_casts_float64_inputs():
    layer = layers.Dense(2, activation="tanh", input_shape=(3,))
    x = np.random.default_rng(0).standard_normal((4, 3))  # float64, as StandardScaler gives
    y = layer(x)
    assert y.dtype == tg.float32
    k, b = (v.numpy().astype(np.float64) for v in layer.variables)
    np.testing.assert_allclose(y.numpy(), np.tanh(x @ k + b), rtol=1e-5, atol=1e-6)
    f64 = layers.Dense(2, input_shape=(3,), dtype="float64")
    assert f64(x.astype(np.float32)).dtype == tg.float64


def test_dense_bad_arguments():
    with pytest.raises(ValueError, match="units"):
        layers.Dense(0)
    with pytest.raises(ValueError, match="unknown activation"):
        layers.Dense(2, activation="swishy")
    with pytest.raises(ValueError, match="unknown initializer"):
        layers.Dense(2, kernel_initializer="nope")


def test_tape_gradient_through_dense_relu_dense_equals_hand_backprop():
    rng = np.random.default_rng(1)
    model = models.Sequential([layers.Dense(4, "relu", input_shape=(3,)), layers.Dense(1)])
    x = rng.standard_normal((5, 3)).astype(np.float32)
    y = rng.standard_normal((5, 1)).astype(np.float32)
    with tg.GradientTape() as tape:
        loss = tg.reduce_mean(tg.square(model(x) - y))
    grads = [g.numpy() for g in tape.gradient(loss, model.variables)]
    w1, b1, w2, b2 = (v.numpy().astype(np.float64) for v in model.variables)
    h_pre = x @ w1 + b1
    h = np.maximum(h_pre, 0)
    out = h @ w2 + b2
    d_out = 2 * (out - y) / y.size
    d_h = d_out @ w2.T * (h_pre > 0)
    expected = [x.T @ d_h, d_h.sum(0), h.T @ d_out, d_out.sum(0)]
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6)


def test_normalization_adapt_and_call():
    data = np.random.default_rng(2).normal(5.0, 3.0, size=(1000, 3))
    norm = layers.Normalization()
    norm.adapt(data)
    np.testing.assert_allclose(norm.mean.numpy(), data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(norm.variance.numpy(), data.var(0), rtol=1e-5)
    out = norm(data).numpy()
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(0), 1, rtol=1e-4)
    assert norm.trainable_variables == [] and len(norm.variables) == 2
    with pytest.raises(ValueError, match="3 features"):
        norm(np.ones((2, 4)))


def test_normalization_on_a_middle_axis_of_3d_input():
    # the features sit on axis 1: mean and std are reshaped to (1, 3, 1) to broadcast
    # (the reshape once went through a Tensor method that does not exist: AttributeError)
    data = np.random.default_rng(3).normal(2.0, 4.0, size=(50, 3, 4))
    norm = layers.Normalization(axis=1)
    norm.adapt(data)
    np.testing.assert_allclose(norm.mean.numpy(), data.mean((0, 2)), rtol=1e-5)
    out = norm(data).numpy()
    np.testing.assert_allclose(out.mean((0, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std((0, 2)), 1, rtol=1e-4)


@pytest.mark.parametrize("init", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal"])
def test_initializers_take_empty_shapes_and_reject_negative_ones(init):
    # fans of an empty weight were 0 and the limits divided by them: ZeroDivisionError
    assert initializers.get(init)((0, 0)).shape == (0, 0)
    assert layers.Dense(3, kernel_initializer=init, input_shape=(0,)).kernel.shape == (0, 3)
    with pytest.raises(ValueError, match=r"\(-1, 1\)"):
        layers.Dense(1, kernel_initializer=init, input_shape=(-1,))


def test_summary_lists_layers_and_params():
    model = models.Sequential(
        [layers.Normalization(input_shape=(8,)), layers.Dense(128, "relu"), layers.Dense(1)]
    )
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, 128)" in text and "1152" in text and "Total params: 1297" in text
    assert "Non-trainable params: 16" in text


def test_weights_round_trip_npz_and_get_set(tmp_path):
    model = models.Sequential([layers.Dense(4, "relu", input_shape=(3,)), layers.Dense(2)])
    x = np.random.default_rng(3).standard_normal((6, 3))
    before = model(x).numpy()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    other = models.Sequential([layers.Dense(4, "relu", input_shape=(3,)), layers.Dense(2)])
    assert not np.allclose(other(x).numpy(), before)
    other.load_weights(path)
    np.testing.assert_array_equal(other(x).numpy(), before)
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(3, 4), (4,), (4, 2), (2,)]
    other.set_weights([w * 0 for w in weights])
    assert np.all(other(x).numpy() == 0)
    with pytest.raises(ValueError, match=r"shape \(3, 4\).*\(3, 5\)"):
        other.set_weights([np.zeros((3, 5)), *weights[1:]])
    small = models.Sequential([layers.Dense(3, input_shape=(3,))])
    with pytest.raises(ValueError, match="weights"):
        small.load_weights(path)


def test_model_save_and_load_keeps_normalization(tmp_path):
    data = np.random.default_rng(4).normal(10.0, 2.0, size=(100, 3))
    norm = layers.Normalization(input_shape=(3,))
    norm.adapt(data)
    model = models.Sequential([norm, layers.Dense(5, "tanh"), layers.Dense(1)])
    model.save(tmp_path / "m")
    loaded = models.load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded(data).numpy(), model(data).numpy())
    assert isinstance(loaded.layers[0], layers.Normalization)
    np.testing.assert_array_equal(loaded.layers[0].mean.numpy(), norm.mean.numpy())
    with pytest.raises(FileNotFoundError, match=r"model\.json"):
        models.load_model(tmp_path)


def test_keras_aliases():
    assert keras.models.Sequential is models.Sequential
    assert keras.layers.Dense is layers.Dense
    assert keras.optimizers.Adam is tg.optimizers.Adam
    assert keras.losses.mean_squared_error is tg.losses.mean_squared_error
    assert keras.metrics.MeanSquaredError is tg.metrics.MeanSquaredError
