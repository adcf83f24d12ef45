"""Optimizers: Keras's update rules against hand math, apply_gradients' pair handling, clipping,
schedules, and the copy-on-write rule for saved values (Keras's rules)."""

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


# -- Keras's update rules: one row per optimizer setting ------------------------------------
# Each reference runs Keras's rule in NumPy over ``grads`` in the variables' dtype T, scalars cast
# to T as the C++ update casts them (Keras's rules).


def sgd_rule(lr, momentum=0.0, nesterov=False):
    def run(w, grads, T):
        lr_, m, v = T(lr), T(momentum), np.zeros_like(w)
        for g in grads:
            if momentum == 0.0:
                w = w - lr_ * g
                continue
            v = m * v - lr_ * g
            w = w + (m * v - lr_ * g) if nesterov else w + v
        return w

    return run


def adam_rule(lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0):
    def run(w, grads, T):
        m, v = np.zeros_like(w), np.zeros_like(w)
        for t, g in enumerate(grads, start=1):
            alpha = T(lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t))
            m = m + (g - m) * T(1 - beta_1)
            v = v + (g * g - v) * T(1 - beta_2)
            if weight_decay:  # AdamW: decoupled decay before the Adam step
                w = w - w * T(weight_decay) * T(lr)
            w = w - alpha * m / (np.sqrt(v) + T(epsilon))
        return w

    return run


def rmsprop_rule(lr=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    def run(w, grads, T):
        v, a, p = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
        for g in grads:
            v = T(rho) * v + T(1 - rho) * (g * g)
            if centered:
                a = T(rho) * a + T(1 - rho) * g
                denominator = v - a * a + T(epsilon)
            else:
                denominator = v + T(epsilon)
            increment = T(lr) * g / np.sqrt(denominator)
            if momentum:
                p = T(momentum) * p + increment
                w = w - p
            else:
                w = w - increment
        return w

    return run


def adagrad_rule(lr=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
    def run(w, grads, T):
        acc = np.full_like(w, initial_accumulator_value)
        for g in grads:
            acc = acc + g * g
            w = w - T(lr) * g / np.sqrt(acc + T(epsilon))
        return w

    return run


# (optimizer factory taking the base class's keyword arguments, NumPy reference)
RULES = {
    "sgd": (lambda **kw: optimizers.SGD(0.1, **kw), sgd_rule(0.1)),
    "sgd-momentum": (
        lambda **kw: optimizers.SGD(0.05, momentum=0.9, **kw),
        sgd_rule(0.05, momentum=0.9),
    ),
    "sgd-nesterov": (
        lambda **kw: optimizers.SGD(0.05, momentum=0.9, nesterov=True, **kw),
        sgd_rule(0.05, momentum=0.9, nesterov=True),
    ),
    "adam": (lambda **kw: optimizers.Adam(0.01, **kw), adam_rule(0.01)),
    "adamw": (lambda **kw: optimizers.AdamW(0.01, **kw), adam_rule(0.01, weight_decay=0.004)),
    "adamw-strong-decay": (
        lambda **kw: optimizers.AdamW(0.05, weight_decay=0.5, beta_1=0.8, **kw),
        adam_rule(0.05, beta_1=0.8, weight_decay=0.5),
    ),
    "rmsprop": (lambda **kw: optimizers.RMSprop(0.01, **kw), rmsprop_rule(0.01)),
    "rmsprop-momentum": (
        lambda **kw: optimizers.RMSprop(0.01, momentum=0.9, **kw),
        rmsprop_rule(0.01, momentum=0.9),
    ),
    "rmsprop-centered": (
        lambda **kw: optimizers.RMSprop(0.01, rho=0.8, centered=True, **kw),
        rmsprop_rule(0.01, rho=0.8, centered=True),
    ),
    "rmsprop-centered-momentum": (
        lambda **kw: optimizers.RMSprop(0.01, momentum=0.5, centered=True, **kw),
        rmsprop_rule(0.01, momentum=0.5, centered=True),
    ),
    "adagrad": (lambda **kw: optimizers.Adagrad(0.1, **kw), adagrad_rule(0.1)),
    "adagrad-no-initial": (
        lambda **kw: optimizers.Adagrad(0.1, initial_accumulator_value=0.0, epsilon=1e-3, **kw),
        adagrad_rule(0.1, initial_accumulator_value=0.0, epsilon=1e-3),
    ),
}
rules = pytest.mark.parametrize("make_opt, rule", list(RULES.values()), ids=list(RULES))
dtypes = pytest.mark.parametrize(
    "dtype, rtol", [(np.float64, 1e-13), (np.float32, 2e-6)], ids=["float64", "float32"]
)


@rules
@dtypes
def test_three_steps_follow_keras_rule(make_opt, rule, dtype, rtol):
    opt = make_opt()
    expected = rule(W0.astype(dtype), [g.astype(dtype) for g in GRADS], dtype)
    np.testing.assert_allclose(run(opt, dtype), expected, rtol=rtol)
    assert opt.iterations == 3


@rules
@pytest.mark.parametrize("clip", ["clipnorm", "global_clipnorm", "clipvalue"])
def test_clipping_for_every_optimizer(make_opt, rule, clip):
    # clipping happens before the rule, so the rule sees the clipped gradients
    c = 0.3
    if clip == "clipvalue":
        clipped = [np.clip(g, -c, c) for g in GRADS]
    else:  # one variable, so the global norm is its norm
        clipped = [g * c / max(np.linalg.norm(g), c) for g in GRADS]
    opt = make_opt(**{clip: c})
    np.testing.assert_allclose(run(opt), rule(W0.copy(), clipped, np.float64), rtol=1e-12)


@rules
def test_bad_pair_changes_nothing_and_is_not_counted(make_opt, rule):
    opt = make_opt()
    a, b = tg.Variable(W0.copy()), tg.Variable([3.0])
    with pytest.raises(ValueError, match=r"\(2,\).*\(1,\)"):
        opt.apply_gradients([(tg.constant(GRADS[0]), a), (tg.constant([1.0, 2.0]), b)])
    np.testing.assert_array_equal(a.numpy(), W0)
    assert b.numpy()[0] == 3.0 and opt.iterations == 0
    # the next good update is the rule's first step: no slot was touched by the bad call
    opt.apply_gradients([(tg.constant(GRADS[0]), a)])
    np.testing.assert_allclose(a.numpy(), rule(W0.copy(), GRADS[:1], np.float64), rtol=1e-13)


@rules
def test_iterations_live_in_cpp(make_opt, rule):
    opt = make_opt()
    w = tg.Variable(W0.copy())
    assert opt.apply_gradients([(tg.constant(GRADS[0]), w)]) == 1
    opt._impl.apply([tg.constant(GRADS[1])], [w])  # what a compiled replay calls
    assert opt.iterations == 2
    opt.iterations = 0
    assert opt._impl.iterations == 0


def test_rmsprop_matches_keras_docstring_example():
    var = tg.Variable(10.0)
    optimizers.RMSprop(learning_rate=0.1).minimize(lambda: (var**2) / 2.0, [var])
    assert var.numpy() == pytest.approx(9.683772, abs=1e-6)


def test_rmsprop_slots_follow_its_settings():
    w = tg.Variable([1.0, 2.0])
    plain, full = optimizers.RMSprop(), optimizers.RMSprop(momentum=0.9, centered=True)
    for opt in (plain, full):
        opt.apply_gradients([(tg.constant([0.5, -1.0]), w)])
    assert plain.slots(w)["momentum"] is None and plain.slots(w)["average_gradient"] is None
    np.testing.assert_allclose(full.slots(w)["average_gradient"], [0.05, -0.1])
    np.testing.assert_allclose(full.slots(w)["velocity"], [0.025, 0.1])


def test_new_optimizers_defaults_names_and_compile_default():
    assert optimizers.RMSprop().get_config() == {
        **optimizers.RMSprop().get_config(),
        "learning_rate": 0.001,
        "rho": 0.9,
        "momentum": 0.0,
        "epsilon": 1e-7,
        "centered": False,
    }
    assert optimizers.Adagrad().get_config()["initial_accumulator_value"] == 0.1
    assert optimizers.Adagrad().learning_rate == 0.001
    adamw = optimizers.AdamW()
    assert (adamw.weight_decay, adamw.learning_rate, adamw.epsilon) == (0.004, 0.001, 1e-7)
    for name, cls in [
        ("rmsprop", optimizers.RMSprop),
        ("adagrad", optimizers.Adagrad),
        ("AdamW", optimizers.AdamW),
    ]:
        assert type(optimizers.get(name)) is cls
    model = tg.models.Sequential([tg.layers.Dense(1, input_shape=(2,))])
    model.compile(loss="mse")  # Keras's default optimizer is RMSprop
    assert type(model.optimizer) is optimizers.RMSprop


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


BUILT_IN_SCHEDULES = {
    "exponential": schedules.ExponentialDecay(0.1, decay_steps=7, decay_rate=0.93),
    "exponential-staircase": schedules.ExponentialDecay(0.1, 7, 0.5, staircase=True),
    "step": schedules.StepDecay(1.0, step_size=3, drop=0.1),
    "inverse-time": schedules.InverseTimeDecay(0.3, decay_steps=11, decay_rate=0.7),
    "inverse-time-staircase": schedules.InverseTimeDecay(0.3, 11, 0.7, staircase=True),
    "piecewise": schedules.PiecewiseConstantDecay([2, 40, 500], [1.0, 0.5, 0.1, 0.01]),
}


@pytest.mark.parametrize(
    "schedule", list(BUILT_IN_SCHEDULES.values()), ids=list(BUILT_IN_SCHEDULES)
)
def test_schedules_computed_in_cpp_equal_python_bitwise(schedule):
    core = schedule._to_core()
    assert [core(step) for step in range(1001)] == [schedule(step) for step in range(1001)]
    opt = optimizers.SGD(schedule)
    w = tg.Variable(np.array([0.0]))
    for _ in range(5):
        assert opt.current_learning_rate() == schedule(opt.iterations)
        opt.apply_gradients([(tg.constant([1.0]), w)])
    assert w.numpy()[0] == pytest.approx(-sum(schedule(i) for i in range(5)), rel=1e-14)


def test_python_callable_learning_rates_are_evaluated_by_python():
    class Halving(schedules.ExponentialDecay):  # overrides __call__: C++ cannot reproduce it
        def __call__(self, step):
            return 0.5**step

    assert Halving(1.0, 1, 0.5)._to_core() is None
    for lr in (Halving(1.0, 1, 0.5), lambda step: 0.5**step):
        opt = optimizers.SGD(lr)
        w = tg.Variable(0.0)
        for _ in range(3):
            opt.apply_gradients([(tg.constant(-1.0), w)])
        assert w.numpy() == 1.75 and opt.current_learning_rate() == 0.125
        assert opt._impl.current_learning_rate() == 0.25  # the last rate Python handed to C++


def test_learning_rate_and_clip_settings_reach_cpp():
    opt = optimizers.Adam(0.01, clipnorm=2.0)
    assert opt._impl.learning_rate(0) == 0.01 and opt._impl.clipnorm == 2.0
    opt.learning_rate = 0.5
    opt.clipnorm = None
    assert opt.current_learning_rate() == 0.5 and opt._impl.clipnorm == 0.0
    opt.learning_rate = schedules.PiecewiseConstantDecay([0], [1.0, 2.0])
    assert [opt._impl.learning_rate(s) for s in (0, 1)] == [1.0, 2.0]
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -1.0


ADAM_CHILD = """
import hashlib, sys, numpy as np, tapegrad as tg
print(tg.config()["isa"])
for dtype in (np.float32, np.float64):
    for n in (0, 1, 17, 1000, 70001):
        rng = np.random.default_rng(n)
        for decay in (0.0, 0.3):
            opt = tg.optimizers.Adam(0.05)
            if decay:
                opt = tg.optimizers.AdamW(0.05, weight_decay=decay)
            w = tg.Variable(rng.standard_normal(n).astype(dtype))
            held = []
            for step in range(3):
                g = tg.constant((rng.standard_normal(n) * 10.0 ** (step - 1)).astype(dtype))
                if step == 1:
                    held.append(w.read_value())  # copy-on-write: the old value stays readable
                opt.apply_gradients([(g, w)])
            h = hashlib.sha256(w.numpy().tobytes())
            h.update(opt._impl.get_slot("m", w).tobytes())
            h.update(opt._impl.get_slot("v", w).tobytes())
            print(h.hexdigest())
"""


def _adam_reference_digests() -> list:
    import hashlib

    digests = []
    for dtype in (np.float32, np.float64):
        for n in (0, 1, 17, 1000, 70001):
            rng = np.random.default_rng(n)
            for decay in (0.0, 0.3):
                w = rng.standard_normal(n).astype(dtype)
                m, v = np.zeros_like(w), np.zeros_like(w)
                T = dtype
                for step in range(3):
                    g = (rng.standard_normal(n) * 10.0 ** (step - 1)).astype(dtype)
                    t = step + 1
                    alpha = T(0.05 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t))
                    m = m + (g - m) * T(1 - 0.9)
                    v = v + (g * g - v) * T(1 - 0.999)
                    if decay:
                        w = w - w * T(decay) * T(0.05)
                    w = w - alpha * m / (np.sqrt(v) + T(1e-7))
                h = hashlib.sha256(w.tobytes())
                h.update(m.tobytes())
                h.update(v.tobytes())
                digests.append(h.hexdigest())
    return digests


def test_adam_update_gives_the_references_bits_on_every_isa():
    """Adam's vectorized update (one kernel per ISA) against NumPy doing the same operations in
    the variable's dtype: the same bits on every ISA this CPU runs, for empty, one-element, odd
    and large (threaded) variables, in place and copy-on-write, with and without decay."""
    import os
    import subprocess
    import sys

    expected = _adam_reference_digests()
    seen = set()
    for isa in ("scalar", "avx2", "avx512"):
        env = {**os.environ, "TAPEGRAD_ISA": isa, "TAPEGRAD_NUM_THREADS": "2"}
        proc = subprocess.run(
            [sys.executable, "-c", ADAM_CHILD], env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        lines = proc.stdout.split()
        ran = lines[-len(expected) - 1]
        if ran != isa:  # an ISA this CPU lacks falls back: already covered
            continue
        seen.add(isa)
        assert lines[-len(expected) :] == expected, isa
    assert "scalar" in seen
