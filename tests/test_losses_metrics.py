"""Keras losses and metrics."""

import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import losses, metrics


def test_mse_mae_per_sample_and_reduction():
    yt = np.array([[1.0, 2.0], [3.0, 4.0]])
    yp = np.array([[1.5, 2.0], [2.0, 6.0]])
    np.testing.assert_allclose(losses.mean_squared_error(yt, yp).numpy(), [0.125, 2.5])
    np.testing.assert_allclose(losses.mean_absolute_error(yt, yp).numpy(), [0.25, 1.5])
    assert losses.mean_squared_error([1.0, 2.0], [2.0, 2.0]).shape == ()
    assert float(losses.MeanSquaredError()(yt, yp)) == pytest.approx(1.3125)
    assert float(losses.MeanAbsoluteError(reduction="sum")(yt, yp)) == pytest.approx(1.75)
    assert losses.MeanSquaredError(reduction="none")(yt, yp).shape == (2,)


def test_mse_gradient_is_two_residual_over_size():
    yp = tg.Variable([[1.0], [3.0], [0.0]])
    yt = np.array([[0.0], [1.0], [1.0]])
    with tg.GradientTape() as tape:
        loss = losses.MeanSquaredError()(yt, yp)
    np.testing.assert_allclose(tape.gradient(loss, yp).numpy(), 2 * (yp.numpy() - yt) / 3)


def _mismatched_mse_calls(n):
    yp = tg.constant([[1.0], [2.0], [4.0]])
    yt = np.array([1.0, 1.0, 1.0])
    for _ in range(n):
        losses.mean_squared_error(yt, yp)  # one calling line: one warning location


def test_rank_mismatch_warns_through_the_warnings_filters_and_aligns():
    yp = tg.constant([[1.0], [2.0], [4.0]])
    yt = np.array([1.0, 1.0, 1.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = losses.mean_squared_error(yt, yp)
        losses.mean_squared_error(yt, yp)
        b = losses.mean_squared_error(yp, yt)  # the seed's argument order
    msgs = [str(w.message) for w in caught]
    assert len(msgs) == 3, msgs  # "always" shows every call
    assert "(3,)" in msgs[0] and "(3, 1)" in msgs[0] and "y[:, None]" in msgs[0]
    assert all(w.filename == __file__ for w in caught)  # attributed to the caller's line
    np.testing.assert_allclose(a.numpy(), [0.0, 1.0, 9.0])  # per sample, never (3, 3)
    np.testing.assert_allclose(b.numpy(), [0.0, 1.0, 9.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _mismatched_mse_calls(2)
    assert len(caught) == 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # once per location, as Python's default filter does
        _mismatched_mse_calls(3)
    assert len(caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses.mean_squared_error(yp, yp)  # matching shapes never warn
        with pytest.raises(UserWarning, match=r"\(3,\).*\(3, 1\)"):
            losses.mean_squared_error(yt, yp)


def test_incompatible_shapes_raise_value_error():
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        losses.mean_squared_error(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        losses.mean_absolute_error(np.ones((2, 3)), np.ones((2, 4)))


def test_metric_running_state_and_reset():
    m = metrics.MeanSquaredError()
    assert float(m.result()) == 0.0
    assert float(m([5.0], [6])) == 1.0
    assert float(m([4.0], [6])) == 2.5
    assert (float(m.total), float(m.count)) == (5.0, 2.0)
    m.reset_states()
    assert float(m.result()) == 0.0
    m.update_state([[1.0, 3.0]], [[0.0, 0.0]])
    m.reset_state()
    assert float(m.count) == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (5,), (7, 1), (4, 3), (2, 3, 4), (0, 2)])
def test_mse_metric_on_a_taped_prediction_matches_numpy_and_records_nothing(shape, dtype):
    rng = np.random.default_rng(1)
    y = rng.standard_normal(shape).astype(dtype)
    p = rng.standard_normal(shape).astype(dtype)
    taped, plain = metrics.MeanSquaredError(), metrics.MeanSquaredError()
    x = tg.Variable(p)
    with tg.GradientTape() as tape:
        pred = x * 1.0  # a tensor prediction on the tape, as in the seed's loop
        nodes = tape.num_nodes
        for _ in range(2):
            taped.update_state(y, pred)
        assert tape.num_nodes == nodes  # the inputs are detached: nothing recorded
    for _ in range(2):
        plain.update_state(y, p)
    per_sample = np.square(y.astype(np.float64) - p)
    per_sample = per_sample if per_sample.ndim == 0 else per_sample.mean(axis=-1)
    assert float(taped.count) == float(plain.count) == 2 * per_sample.size
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(float(taped.total), float(plain.total), rtol=rtol)
    np.testing.assert_allclose(float(taped.total), 2 * per_sample.sum(), rtol=rtol)


def test_metric_rank_alignment_is_per_sample():
    m = metrics.MeanSquaredError()
    m.update_state(np.array([1.0, 2.0, 3.0]), tg.constant([[1.0], [2.0], [5.0]]))
    assert float(m.count) == 3
    assert float(m.result()) == pytest.approx(4.0 / 3)
    mae = metrics.MeanAbsoluteError()
    mae.update_state(np.array([[1.0], [2.0]]), np.array([2.0, 4.0]))
    assert float(mae.result()) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        m.update_state(np.ones(3), np.ones(4))


def test_mean_metric_weighted():
    m = metrics.Mean()
    m.update_state([1.0, 2.0, 3.0])
    assert float(m.result()) == 2.0
    m.update_state([10.0], sample_weight=[0.0])
    assert float(m.result()) == 2.0
    assert metrics.get("mae").name == "mae"


ALL_METRICS = [
    metrics.Mean,
    metrics.MeanSquaredError,
    metrics.MeanAbsoluteError,
    metrics.RootMeanSquaredError,
]


@pytest.mark.parametrize("cls", ALL_METRICS)
def test_metric_state_is_two_non_trainable_float64_variables(cls):
    m = cls()
    for state in (m.total, m.count):
        assert isinstance(state, tg.Variable)
        assert not state.trainable
        assert state.dtype == tg.float64
        assert state.shape == ()
    assert m.get_config() == {"name": m.name}


@pytest.mark.parametrize("cls", ALL_METRICS)
def test_empty_metric_result_is_a_float32_zero_without_warnings(cls):
    m = cls()
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        result = m.result()
        assert isinstance(result, tg.Tensor)
        assert (result.dtype, result.shape, float(result)) == (tg.float32, (), 0.0)
        if cls is metrics.Mean:
            m.update_state([3.0], sample_weight=[0.0])  # a zero total weight is empty too
        else:
            m.update_state(np.ones((0, 2)), np.ones((0, 2)))
        assert float(m.result()) == 0.0


def test_metrics_match_the_keras_docstring_examples():
    mean = metrics.Mean()
    mean.update_state([1, 3, 5, 7])
    assert float(mean.result()) == 4.0
    mean.reset_state()
    mean.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert float(mean.result()) == 2.0
    for cls in (metrics.MeanSquaredError, metrics.MeanAbsoluteError):
        m = cls()
        m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
        assert float(m.result()) == 0.25
        m.reset_state()
        m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
        assert float(m.result()) == 0.5


def test_weighted_mean_with_a_total_weight_below_one():
    m = metrics.Mean()
    m.update_state([2.0], sample_weight=[0.5])  # count 0.5: total / count, not total / 1
    assert float(m.result()) == 2.0


def test_metric_update_inside_a_tape_leaves_the_gradients_unchanged():
    tg.set_random_seed(0)
    model = tg.models.Sequential([tg.layers.Dense(4, activation="relu", input_shape=(3,))])
    model.add(tg.layers.Dense(1))
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    y = np.arange(8, dtype=np.float32)  # (8,) against the model's (8, 1): aligned per sample

    def gradients(metric):
        with tg.GradientTape() as tape:
            y_hat = model(x)
            loss = tg.reduce_mean(tg.nn.mean_squared_error(y[:, None], y_hat))
            nodes = tape.num_nodes
            if metric is not None:
                metric(y, y_hat)  # as the seed's loop does
                assert tape.num_nodes == nodes
        watched = {id(v) for v in tape.watched_variables()}
        assert metric is None or not watched & {id(metric.total), id(metric.count)}
        return [g.numpy() for g in tape.gradient(loss, model.variables)]

    metric = metrics.MeanSquaredError()
    for plain, with_metric in zip(gradients(None), gradients(metric)):
        np.testing.assert_array_equal(plain, with_metric)
    assert float(metric.count) == 8


def test_metric_accumulates_in_float64():
    # 1e6 values of 1e-9 after a 1e4: each batch adds 1e-4, under half a float32 step at 1e4
    # (float32 state would stay at 1e4 and lose them all).
    assert np.float32(1e4) + np.float32(1e-4) == np.float32(1e4)
    m = metrics.Mean()
    m.update_state([1e4])
    tiny = np.full(100_000, 1e-9, np.float32)
    for _ in range(10):
        m.update_state(tiny)
    assert float(m.count) == 1_000_001
    np.testing.assert_allclose(float(m.total) - 1e4, 1e-3, rtol=1e-5)
