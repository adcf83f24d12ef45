"""Optimizers: Keras's update rules against hand math, apply_gradients' pair handling, clipping,
schedules, and the copy-on-write rule for saved values (SEMANTICS.md sections 11-12)."""

import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import optimizers
from tapegrad.optimizers import schedules

W0 = np.array([[0.5, -1.0], [2.0, 0.25]])
GRADS = [
    np.array([[0.1, -0.2], [0.3, 0.4]]),
    np.array([[-0.5, 0.1], [0.0, 2.0]]),
    np.array([[0.2, 0.2], [-0.1, -3.0]]),
]


def run(opt, dtype=np.float64):
    w = tg.Variable(W0.astype(dtype))
    for g in GRADS:
        opt.apply_gradients([(tg.constant(g.astype(dtype)), w)])
    return w.numpy()


def test_sgd_plain_three_steps():
    w = W0.copy()
    for g in GRADS:
        w = w - 0.1 * g
    np.testing.assert_allclose(run(optimizers.SGD(0.1)), w, rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_three_steps(nesterov):
    lr, m = 0.05, 0.9
    w, v = W0.copy(), np.zeros_like(W0)
    for g in GRADS:
        v = m * v - lr * g
        w = w + (m * v - lr * g if nesterov else v)
    opt = optimizers.SGD(learning_rate=lr, momentum=m, nesterov=nesterov)
    np.testing.assert_allclose(run(opt), w, rtol=1e-12)


def test_adam_three_steps_keras_epsilon_placement():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v = W0.copy(), np.zeros_like(W0), np.zeros_like(W0)
    for t, g in enumerate(GRADS, start=1):
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        m += (g - m) * (1 - b1)
        v += (g * g - v) * (1 - b2)
        w -= alpha * m / (np.sqrt(v) + eps)
    opt = optimizers.Adam(lr, epsilon=eps)
    np.testing.assert_allclose(run(opt), w, rtol=1e-12)
    assert opt.iterations == 3
    # float32 variables follow the same rule within float32 rounding
    np.testing.assert_allclose(run(optimizers.Adam(lr), np.float32), w, rtol=1e-5)


def test_adam_large_epsilon_differs_from_textbook_placement():
    # Keras's epsilon hat: eps is added to sqrt(v), not to sqrt(v_hat)
    g = np.array([0.5])
    w = tg.Variable(np.array([1.0]))
    optimizers.Adam(0.1, epsilon=1.0).apply_gradients([(tg.constant(g), w)])
    alpha = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9)
    expected = 1.0 - alpha * 0.05 / (np.sqrt(0.001 * 0.25) + 1.0)
    np.testing.assert_allclose(w.numpy(), [expected], rtol=1e-12)


def test_defaults_and_lr_alias():
    assert optimizers.SGD().learning_rate == 0.01
    assert optimizers.SGD(lr=0.1).learning_rate == 0.1
    assert optimizers.Adam().learning_rate == 0.001
    assert optimizers.Adam().epsilon == 1e-7
    with pytest.raises(TypeError, match="unexpected"):
        optimizers.SGD(learnin_rate=0.1)


def test_apply_gradients_takes_a_one_shot_zip_and_warns_on_none():
    a, b = tg.Variable([1.0, 2.0], name="a"), tg.Variable(3.0, name="b")
    opt = optimizers.SGD(0.5)
    with pytest.warns(UserWarning, match="b:0"):
        opt.apply_gradients(zip([tg.constant([1.0, 1.0]), None], [a, b]))
    np.testing.assert_allclose(a.numpy(), [0.5, 1.5])
    assert b.numpy() == 3.0
    with pytest.raises(ValueError, match="No gradients provided for any variable"):
        opt.apply_gradients([(None, a), (None, b)])
    assert opt.iterations == 1


def test_apply_gradients_shape_mismatch_changes_nothing():
    a, b = tg.Variable([1.0, 2.0]), tg.Variable([3.0])
    with pytest.raises(ValueError, match=r"\(3,\).*\(1,\)"):
        optimizers.SGD(0.5).apply_gradients([(tg.constant([1.0, 1.0]), a), ([1.0, 2, 3], b)])
    np.testing.assert_allclose(a.numpy(), [1.0, 2.0])
    with pytest.raises(TypeError, match="Variable"):
        optimizers.SGD().apply_gradients([(tg.constant(1.0), tg.constant(1.0))])


def test_minimize_one_step():
    x = tg.Variable(0.0)
    opt = optimizers.SGD(0.1)
    opt.minimize(lambda: x**2 - 2 * x + 1, [x])
    assert x.numpy() == pytest.approx(0.2)
    assert opt.iterations == 1


def test_saved_values_never_change_under_fused_update():
    w = tg.Variable([1.0, 2.0])
    with tg.GradientTape() as tape:
        y = tg.reduce_sum(w * w)  # the tape saved w's value
    optimizers.Adam(0.5).apply_gradients([(tg.constant([10.0, 10.0]), w)])
    assert not np.allclose(w.numpy(), [1.0, 2.0])
    np.testing.assert_allclose(tape.gradient(y, w).numpy(), [2.0, 4.0])


def test_clipnorm_clipvalue_global_clipnorm():
    g = np.array([3.0, 4.0])  # norm 5
    w = tg.Variable([0.0, 0.0])
    optimizers.SGD(1.0, clipnorm=1.0).apply_gradients([(tg.constant(g), w)])
    np.testing.assert_allclose(w.numpy(), [-0.6, -0.8], rtol=1e-6)
    w = tg.Variable([0.0, 0.0])
    optimizers.SGD(1.0, clipvalue=3.5).apply_gradients([(tg.constant(g), w)])
    np.testing.assert_allclose(w.numpy(), [-3.0, -3.5])
    a, b = tg.Variable([0.0]), tg.Variable([0.0])
    optimizers.SGD(1.0, global_clipnorm=1.0).apply_gradients(
        [(tg.constant([3.0]), a), (tg.constant([4.0]), b)]
    )
    np.testing.assert_allclose([a.numpy()[0], b.numpy()[0]], [-0.6, -0.8], rtol=1e-6)
    with pytest.raises(ValueError, match="only one"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)


def test_schedules():
    s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert s(0) == 0.1 and s(10) == pytest.approx(0.05) and s(5) == pytest.approx(0.1 * 0.5**0.5)
    st = schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)
    assert st(9) == 0.1 and st(10) == pytest.approx(0.05)
    step = schedules.StepDecay(1.0, step_size=2, drop=0.1)
    assert [step(i) for i in range(5)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    pw = schedules.PiecewiseConstantDecay([2, 4], [1.0, 0.5, 0.1])
    assert [pw(i) for i in range(6)] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.1]
    # the optimizer calls the schedule with its iterations counter before each update
    w = tg.Variable(0.0)
    opt = optimizers.SGD(pw)
    for _ in range(6):
        opt.apply_gradients([(tg.constant(-1.0), w)])
    assert w.numpy() == pytest.approx(1 + 1 + 1 + 0.5 + 0.5 + 0.1)


def test_no_warning_for_complete_gradients():
    w = tg.Variable([1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizers.SGD().apply_gradients([(tg.constant([1.0]), w)])
