"""GradientTape semantics: one test per rule of TensorFlow's GradientTape, grouped by number:
1 watching, 2 targets and sources, 3 unconnected gradients, 4 output gradients, 5 persistence
and re-entry, 6 stop_recording and reset, 7 nesting, 9 dtypes (``test_1_3_...`` checks rule 3
of group 1). Jacobians (group 8) are tested in test_higher_order.py.
"""

from __future__ import annotations

import collections
import math
import threading

import numpy as np
import pytest

import tapegrad as tg

# ---- helpers -----------------------------------------------------------------------------------


def val(t):
    """A gradient (or tensor) as a float64 array; refuses None so a missing path fails loudly."""
    assert t is not None, "expected a gradient, got None"
    return np.asarray(t, dtype=np.float64)


def close(t, expected, rtol=1e-6, atol=1e-6):
    np.testing.assert_allclose(val(t), np.asarray(expected, dtype=np.float64), rtol=rtol, atol=atol)


def ident_set(xs):
    return {id(x) for x in xs}


# ---- 1. Watching rules -------------------------------------------------------------------------


def test_1_1_trainable_variable_auto_watched():
    x = tg.Variable(3.0)
    assert x.trainable is True
    with tg.GradientTape() as tape:
        y = x * x
    close(tape.gradient(y, x), 6.0)


def test_1_2_constant_needs_watch():
    c = tg.constant(3.0)
    with tg.GradientTape() as tape:
        y = c * c
    assert tape.gradient(y, c) is None

    with tg.GradientTape() as tape:
        tape.watch(c)
        y = c * c
    close(tape.gradient(y, c), 6.0)


def test_1_3_non_trainable_variable_not_auto_watched():
    v = tg.Variable(2.0, trainable=False)
    assert v.trainable is False
    with tg.GradientTape() as tape:
        y = v * v
    assert tape.gradient(y, v) is None
    assert tuple(tape.watched_variables()) == ()

    with tg.GradientTape() as tape:
        tape.watch(v)
        y = v * v
    close(tape.gradient(y, v), 4.0)


def test_1_4_variable_plus_one_is_a_tensor_not_watched():
    x0 = tg.Variable(3.0)
    x2 = x0 + 1.0
    assert isinstance(x2, tg.Tensor)
    assert not isinstance(x2, tg.Variable)
    with tg.GradientTape() as tape:
        y = x2 * x2
    assert tape.gradient(y, x2) is None


def test_1_5_watch_accessed_variables_false():
    a = tg.Variable(2.0)
    b = tg.Variable(3.0)
    with tg.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(a)
        y = a * a + b * b
    assert ident_set(tape.watched_variables()) == {id(a)}
    ga, gb = tape.gradient(y, [a, b])
    close(ga, 4.0)
    assert gb is None


def test_1_6_watched_variables_empty_until_read_each_listed_once():
    a = tg.Variable(1.0)
    b = tg.Variable(2.0)
    unused = tg.Variable(5.0)  # noqa: F841  (never read inside the tape)
    with tg.GradientTape() as tape:
        assert len(tape.watched_variables()) == 0
        y = a * b
        y = y + a * a + b
    watched = tape.watched_variables()
    assert len(watched) == 2
    assert ident_set(watched) == {id(a), id(b)}
    assert all(isinstance(v, tg.Variable) for v in watched)
    del y


def test_1_7_values_computed_before_the_block_are_constants():
    x = tg.Variable(2.0)
    y = x * x  # before the tape
    with tg.GradientTape() as tape:
        z = y * 3.0
    assert tape.gradient(z, x) is None
    assert len(tape.watched_variables()) == 0


def test_1_8_none_when_variable_replaced_by_tensor():
    # guide autodiff "Cases where gradient returns None", case 1
    x = tg.Variable(2.0)
    grads = []
    for _ in range(2):
        with tg.GradientTape() as tape:
            y = x + 1
        grads.append(tape.gradient(y, x))
        x = x + 1  # should have been x.assign_add(1): x is now a Tensor
    assert isinstance(x, tg.Tensor) and not isinstance(x, tg.Variable)
    close(grads[0], 1.0)
    assert grads[1] is None


def test_1_8_none_through_numpy_detour():
    x = tg.Variable([[1.0, 2.0], [3.0, 4.0]], dtype=tg.float32)
    with tg.GradientTape() as tape:
        x2 = x**2
        y = np.mean(x2, axis=0)  # numpy: leaves the tape
        y = tg.reduce_mean(y, axis=0)
    assert tape.gradient(y, x) is None


def test_1_8_none_through_assign_add_state():
    x0 = tg.Variable(3.0)
    x1 = tg.Variable(0.0)
    with tg.GradientTape() as tape:
        x1.assign_add(x0)  # state update: not recorded
        y = x1**2
    g0, g1 = tape.gradient(y, [x0, x1])
    assert g0 is None
    close(g1, 6.0)  # 2 * x1 with x1 == 3


def test_1_8_integer_input_has_no_gradient():
    # TF guide case 3: tf.constant(10) is int32; watching it warns and its gradient is None.
    x = tg.constant(10)
    assert x.dtype == tg.int32
    with tg.GradientTape() as tape:
        with pytest.warns(UserWarning, match="must be floating"):
            tape.watch(x)
        y = x * x
    assert tape.gradient(y, x) is None


def test_1_9_watch_non_tensor_raises_value_error():
    with tg.GradientTape() as tape:
        with pytest.raises(ValueError, match="float"):
            tape.watch(3.0)
        with pytest.raises(ValueError, match="ndarray"):
            tape.watch(np.ones(2))
        with pytest.raises(ValueError):
            tape.watch("x")
        with pytest.raises(ValueError):
            tape.watch([tg.constant(1.0), 2.0])  # one bad leaf is enough
    del tape


def test_1_10_watching_is_per_tape_with_nested_tapes():
    # backprop_test testWatchingIsTapeLocal
    x1 = tg.Variable(2.0, trainable=False)
    x2 = tg.Variable(2.0, trainable=False)
    with tg.GradientTape() as tape1:
        with tg.GradientTape() as tape2:
            tape1.watch(x1)
            tape2.watch([x1, x2])
            y = x1**3
            z = x2**2
            dy, dz = tape2.gradient([y, z], [x1, x2])
        d2y, d2z = tape1.gradient([dy, dz], [x1, x2])
    close(dy, 12.0)
    close(dz, 4.0)
    close(d2y, 12.0)
    assert d2z is None


# ---- 2. Targets and sources --------------------------------------------------------------------


def test_2_1_list_dict_nested_targets_are_summed():
    x = tg.Variable(5.0)
    with tg.GradientTape(persistent=True) as tape:
        z1 = 3 * x
        z2 = x**2
        z3 = x * 1.0
    close(tape.gradient([z1, z2], x), 13.0)
    close(tape.gradient((z1, z2), x), 13.0)
    close(tape.gradient({"a": z1, "b": z2}, x), 13.0)
    close(tape.gradient([z1, [z2, {"c": z3}]], x), 14.0)
    del tape


def test_2_2_non_scalar_target_is_summed():
    x = tg.Variable(2.0)
    with tg.GradientTape() as tape:
        y = x * [3.0, 4.0]
    assert y.shape == (2,)
    close(tape.gradient(y, x), 7.0)


def test_2_3_sources_structure_preserved():
    Pair = collections.namedtuple("Pair", "p q")
    x = tg.Variable(2.0)
    y = tg.Variable(3.0)
    w = tg.Variable([1.0, 2.0])
    with tg.GradientTape(persistent=True) as tape:
        z = x * x + y * y * y + tg.reduce_sum(w * w)
    g = tape.gradient(z, x)
    assert isinstance(g, tg.Tensor)
    close(g, 4.0)

    g = tape.gradient(z, [x, y])
    assert type(g) is list and len(g) == 2
    close(g[0], 4.0)
    close(g[1], 27.0)

    g = tape.gradient(z, (x, y))
    assert type(g) is tuple and len(g) == 2
    close(g[1], 27.0)

    g = tape.gradient(z, {"b_y": y, "a_x": x})
    assert type(g) is dict and set(g) == {"a_x", "b_y"}
    close(g["a_x"], 4.0)
    close(g["b_y"], 27.0)

    g = tape.gradient(z, {"first": [x, (y, w)], "second": {"z": x}})
    assert type(g) is dict and set(g) == {"first", "second"}
    assert type(g["first"]) is list and type(g["first"][1]) is tuple
    assert type(g["second"]) is dict
    close(g["first"][0], 4.0)
    close(g["first"][1][0], 27.0)
    close(g["first"][1][1], [2.0, 4.0])
    close(g["second"]["z"], 4.0)

    g = tape.gradient(z, Pair(x, y))
    assert type(g) is Pair
    close(g.p, 4.0)
    close(g.q, 27.0)

    g = tape.gradient(z, [])
    assert g == []
    del tape


def test_2_4_repeated_source_gets_full_gradient_each_time():
    x = tg.Variable(3.0)
    with tg.GradientTape() as tape:
        y = x * x
    g = tape.gradient(y, [x, x])
    close(g[0], 6.0)
    close(g[1], 6.0)

    c = tg.constant(3.0)
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(c)
        y = c * c
    g = tape.gradient(y, [c, c, c])
    assert [float(v) for v in g] == [6.0, 6.0, 6.0]
    g = tape.gradient(y, [c, c])
    assert [float(v) for v in g] == [6.0, 6.0]
    del tape


def test_2_5_target_that_is_a_source_and_variable_target():
    # a target that is itself a source: ones of its shape
    x = tg.constant([1.0, 2.0, 3.0])
    with tg.GradientTape() as tape:
        tape.watch(x)
    close(tape.gradient(x, x), [1.0, 1.0, 1.0])

    # gradient([x, y], x) = 1 + dy/dx  (testTapeGradientMultiTargetOneIsSource)
    x = tg.constant(2.0)
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    close(tape.gradient([x, y], x), 1.0 + 4.0)

    # a Variable passed directly as a target (testTapeNoOpGradient-style: result = v0)
    v0 = tg.Variable(1.0)
    v1 = tg.Variable(2.0)
    with tg.GradientTape() as tape:
        result = v0
    g = tape.gradient(result, [v0, v1])
    close(g[0], 1.0)
    assert g[1] is None

    # the variable never read inside the block: the target read still makes it count
    v = tg.Variable([1.0, 2.0])
    with tg.GradientTape() as tape:
        pass
    close(tape.gradient(v, v), [1.0, 1.0])


def test_2_6_gradient_with_respect_to_intermediate_result():
    x = tg.constant(3.0)
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = x * x
        z = y * y
    g = tape.gradient(z, y)
    close(g, 18.0)

    x = tg.Variable(3.0)
    with tg.GradientTape() as tape:
        y = x * x
        z = y * y
    gy, gx = tape.gradient(z, [y, x])
    close(gy, 18.0)
    close(gx, 108.0)  # 4 x^3


# ---- 3. None versus zeros ----------------------------------------------------------------------


def test_3_1_unconnected_source_gives_none():
    x = tg.Variable(2.0)
    y = tg.Variable(3.0)
    with tg.GradientTape() as tape:
        z = x * x
    gx, gy = tape.gradient(z, [x, y])
    close(gx, 4.0)
    assert gy is None


def test_3_2_unconnected_zero_has_source_shape_and_dtype():
    x = tg.Variable(2.0)
    w = tg.Variable(np.ones((2, 3), dtype=np.float64))
    c = tg.constant(np.ones((4,), dtype=np.float32))
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(c)
        z = x * x
    for option in ("zero", tg.UnconnectedGradients.ZERO):
        gx, gw, gc = tape.gradient(z, [x, w, c], unconnected_gradients=option)
        close(gx, 4.0)
        assert isinstance(gw, tg.Tensor)
        assert gw.shape == (2, 3) and gw.dtype == tg.float64
        np.testing.assert_array_equal(np.asarray(gw), np.zeros((2, 3)))
        assert gc.shape == (4,) and gc.dtype == tg.float32
        np.testing.assert_array_equal(np.asarray(gc), np.zeros(4))
    for option in ("none", tg.UnconnectedGradients.NONE):
        _, gw, gc = tape.gradient(z, [x, w, c], unconnected_gradients=option)
        assert gw is None and gc is None
    del tape


def test_3_3_unknown_unconnected_gradients_value_is_value_error():
    x = tg.Variable(2.0)
    with tg.GradientTape(persistent=True) as tape:
        z = x * x
    with pytest.raises(ValueError, match="Unknown value for unconnected_gradients"):
        tape.gradient(z, x, unconnected_gradients="nonsense")
    # the tape is still usable afterwards
    close(tape.gradient(z, x), 4.0)
    del tape


def test_3_4_stop_gradient_blocks_the_path():
    x = tg.Variable(2.0)
    y = tg.Variable(3.0)
    with tg.GradientTape() as tape:
        z = tg.stop_gradient(x * x) + y * y
    gx, gy = tape.gradient(z, [x, y])
    assert gx is None
    close(gy, 6.0)
    # blocked in part of the graph only: the other path still counts
    with tg.GradientTape() as tape:
        z = tg.stop_gradient(x) * x
    close(tape.gradient(z, x), 2.0)


def test_3_5_dead_relu_and_times_zero_give_zeros_not_none():
    x = tg.Variable([-1.0, -2.0])
    with tg.GradientTape() as tape:
        y = tg.reduce_sum(tg.nn.relu(x))
    g = tape.gradient(y, x)
    assert g is not None
    np.testing.assert_array_equal(np.asarray(g), [0.0, 0.0])

    s = tg.Variable(3.0)
    with tg.GradientTape() as tape:
        y = s * 0.0
    g = tape.gradient(y, s)
    assert g is not None
    assert float(g) == 0.0


# ---- 4. output_gradients -----------------------------------------------------------------------


def test_4_1_output_gradients_one_per_target():
    x = tg.constant(3.0)
    y = tg.constant(2.0)
    with tg.GradientTape() as tape:
        tape.watch([x, y])
        xy = x * y
    (g,) = tape.gradient([xy, x], [x], output_gradients=[1.0, 2.0])
    close(g, 4.0)  # y + 2


def test_4_2_output_gradients_non_scalar_target_is_vjp():
    a = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    x = tg.constant([0.5, -1.0])
    u = np.array([1.0, -2.0, 0.5])
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = tg.matmul(tg.constant(a), tg.reshape(x, (2, 1)))
        y = tg.reshape(y, (3,))
    close(tape.gradient(y, x, output_gradients=tg.constant(u)), a.T @ u, rtol=1e-5)
    close(tape.gradient(y, x, output_gradients=u), a.T @ u, rtol=1e-5)
    # None means ones
    close(tape.gradient(y, x, output_gradients=None), a.T @ np.ones(3), rtol=1e-5)
    close(tape.gradient([y], x, output_gradients=[None]), a.T @ np.ones(3), rtol=1e-5)
    del tape


# ---- 5. Persistence and reuse ------------------------------------------------------------------


def test_5_1_non_persistent_tape_second_call_exact_runtime_error():
    x1 = tg.Variable(2.0)
    x2 = tg.Variable(3.0)
    with tg.GradientTape() as tape:
        z = x1**2 + x2**3
    close(tape.gradient(z, x1), 4.0)
    with pytest.raises(RuntimeError) as info:
        tape.gradient(z, x2)
    assert (
        str(info.value) == "GradientTape.gradient can only be called once on non-persistent tapes."
    )
    # still refused a third time
    with pytest.raises(RuntimeError):
        tape.gradient(z, x1)


def test_5_2_persistent_tape_many_calls_identical():
    x1 = tg.Variable(2.0)
    x2 = tg.Variable(3.0)
    with tg.GradientTape(persistent=True) as tape:
        z = x1**2 + x2**3
    assert tape.persistent is True
    first = [float(tape.gradient(z, x1)), float(tape.gradient(z, x2))]
    assert first == [4.0, 27.0]
    for _ in range(5):
        assert [float(g) for g in tape.gradient(z, [x1, x2])] == first
    del tape


def test_5_3_gradient_inside_block_of_non_persistent_tape():
    x = tg.Variable(3.0)
    with tg.GradientTape() as tape:
        y = x * x
        g = tape.gradient(y, x)
        close(g, 6.0)
        assert tape.recording is False  # popped, as TF does
        with pytest.raises(RuntimeError, match="only be called once"):
            tape.gradient(y, x)
        w = x * x * x  # not recorded any more
    with pytest.raises(RuntimeError, match="only be called once"):
        tape.gradient(w, x)
    del w


def test_5_4_persistent_tape_gradient_inside_its_block_records():
    # testHigherOrderGradient: one persistent tape gives 27, 18, 6 for x^3 at 3
    with tg.GradientTape(persistent=True) as tape:
        x = tg.constant(3.0)
        tape.watch(x)
        y = x**3
        dy = tape.gradient(y, x)
        d2y = tape.gradient(dy, x)
        d3y = tape.gradient(d2y, x)
    close(dy, 27.0)
    close(d2y, 18.0)
    close(d3y, 6.0)
    del tape


def test_5_5_reenter_continues_recording_and_nested_self_enter_raises():
    g = tg.GradientTape()
    with g:
        x = tg.constant(3.0)
        g.watch(x)
        y = 2 * x
    with g:
        z = 2 * y
    (grad,) = g.gradient(z, [x])
    close(grad, 4.0)

    t = tg.GradientTape(persistent=True)
    with t:
        with pytest.raises(ValueError):
            with t:
                pass
        assert t.recording  # still recording after the refused re-entry
        v = tg.Variable(2.0)
        w = v * v
    close(t.gradient(w, v), 4.0)
    del t


# ---- 6. stop_recording and reset ---------------------------------------------------------------


def test_6_1_stop_recording():
    # testTapeStopStartRecording: dy/dx1 None, dz/dx2 == 4 at x2 == 2
    with tg.GradientTape(persistent=True) as tape:
        x1 = tg.constant(1.0)
        x2 = tg.constant(2.0)
        tape.watch(x1)
        tape.watch(x2)
        with tape.stop_recording():
            y = x1 * x1
            assert tape.recording is False
        assert tape.recording is True
        z = x2 * x2
    assert tape.gradient(y, x1) is None
    close(tape.gradient(z, x2), 4.0)
    del tape

    # guide advanced_autodiff "Stop recording"
    x = tg.Variable(2.0)
    y = tg.Variable(3.0)
    with tg.GradientTape() as t:
        x_sq = x * x
        with t.stop_recording():
            y_sq = y * y
        z = x_sq + y_sq
    grad = t.gradient(z, {"x": x, "y": y})
    close(grad["x"], 4.0)
    assert grad["y"] is None


def test_6_2_reset_inside_block():
    v = tg.Variable(1.0)
    with tg.GradientTape() as tape:
        loss = v * v
        tape.reset()
        assert len(tape.watched_variables()) == 0
        loss += v * v
    assert ident_set(tape.watched_variables()) == {id(v)}
    close(tape.gradient(loss, v), 2.0)

    # reset discards watched tensors too
    c = tg.constant(2.0)
    with tg.GradientTape() as tape:
        tape.watch(c)
        tape.reset()
        y = c * c
    assert tape.gradient(y, c) is None


# ---- 7. Nested tapes and higher order ----------------------------------------------------------


def test_7_1_nested_non_persistent_tapes_second_derivative():
    x = tg.Variable(1.0)
    with tg.GradientTape() as t2:
        with tg.GradientTape() as t1:
            y = x * x * x
        dy_dx = t1.gradient(y, x)
    d2y_dx2 = t2.gradient(dy_dx, x)
    close(dy_dx, 3.0)
    close(d2y_dx2, 6.0)


def _second_derivative(f, x0):
    x = tg.constant(np.array(x0, dtype=np.float64))
    assert x.dtype == tg.float64
    with tg.GradientTape() as outer:
        outer.watch(x)
        with tg.GradientTape() as inner:
            inner.watch(x)
            y = f(x)
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    assert dy.dtype == tg.float64 and d2y.dtype == tg.float64
    return float(dy), float(d2y)


@pytest.mark.parametrize("x0", [-1.3, -0.2, 0.4, 1.7])
@pytest.mark.parametrize(
    "name, f, d1, d2",
    [
        ("cube", lambda x: x**3, lambda x: 3 * x**2, lambda x: 6 * x),
        (
            "tanh",
            tg.tanh,
            lambda x: 1 - math.tanh(x) ** 2,
            lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2),
        ),
        (
            "sigmoid",
            tg.sigmoid,
            lambda x: (s := 1 / (1 + math.exp(-x))) * (1 - s),
            lambda x: (s := 1 / (1 + math.exp(-x))) * (1 - s) * (1 - 2 * s),
        ),
        (
            "exp_tanh",
            lambda x: tg.exp(x) * tg.tanh(x),
            lambda x: math.exp(x) * (math.tanh(x) + 1 - math.tanh(x) ** 2),
            lambda x: (
                math.exp(x)
                * (
                    math.tanh(x)
                    + 2 * (1 - math.tanh(x) ** 2)
                    - 2 * math.tanh(x) * (1 - math.tanh(x) ** 2)
                )
            ),
        ),
        (
            "x_exp_minus_x2",
            lambda x: x * tg.exp(-(x * x)),
            lambda x: (1 - 2 * x * x) * math.exp(-x * x),
            lambda x: (4 * x**3 - 6 * x) * math.exp(-x * x),
        ),
    ],
)
def test_7_2_second_derivatives_exact_float64(name, f, d1, d2, x0):
    dy, d2y = _second_derivative(f, x0)
    assert dy == pytest.approx(d1(x0), rel=1e-12, abs=1e-12)
    assert d2y == pytest.approx(d2(x0), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    "name, f, d2",
    [
        ("square", tg.square, lambda x: 2.0),
        ("sqrt", tg.sqrt, lambda x: -0.25 * x**-1.5),
        ("exp", tg.exp, math.exp),
        ("log", tg.log, lambda x: -1 / x**2),
        ("reciprocal", lambda x: 1.0 / x, lambda x: 2 / x**3),
        ("pow", lambda x: tg.pow(x, 2.5), lambda x: 2.5 * 1.5 * x**0.5),
        ("tanh", tg.tanh, lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2)),
        ("sigmoid", tg.sigmoid, lambda x: (s := 1 / (1 + math.exp(-x))) * (1 - s) * (1 - 2 * s)),
    ],
)
def test_7_3_smooth_op_vjps_are_differentiable(name, f, d2):
    _, got = _second_derivative(f, 1.3)
    assert got == pytest.approx(d2(1.3), rel=1e-10)


@pytest.mark.parametrize(
    "name, f", [("relu", tg.nn.relu), ("abs", tg.abs), ("negative", tg.negative)]
)
def test_7_3_piecewise_linear_second_derivative_none_or_zero(name, f):
    x = tg.constant(np.array([-1.5, 0.7, 2.0]))
    with tg.GradientTape() as outer:
        outer.watch(x)
        with tg.GradientTape() as inner:
            inner.watch(x)
            y = tg.reduce_sum(f(x))
        dy = inner.gradient(y, x)
    d2 = outer.gradient(dy, x)
    assert d2 is None or np.array_equal(np.asarray(d2), np.zeros(3))


def test_7_4_seed_second_derivatives_with_none():
    x1 = tg.Variable(2.0)
    x2 = tg.Variable(3.0)
    with tg.GradientTape(persistent=True) as outer_tape:
        with tg.GradientTape(persistent=True) as inner_tape:
            z = x1**2 + x2 + 1
        inner_grads = inner_tape.gradient(z, [x1, x2])
    outer_grads = [outer_tape.gradient(g, [x1, x2]) for g in inner_grads]
    close(outer_grads[0][0], 2.0)
    assert outer_grads[0][1] is None
    assert outer_grads[1] == [None, None]
    del inner_tape, outer_tape


def test_7_4_x2y_second_derivatives():
    x = tg.Variable(1.5)
    y = tg.Variable(-2.0)
    with tg.GradientTape(persistent=True) as outer:
        with tg.GradientTape() as inner:
            z = x * x * y
        dz_dx, dz_dy = inner.gradient(z, [x, y])
    close(dz_dx, 2 * 1.5 * -2.0)
    close(dz_dy, 1.5**2)
    d2x, dxy = outer.gradient(dz_dx, [x, y])
    dyx, d2y = outer.gradient(dz_dy, [x, y])
    close(d2x, 2 * -2.0)
    close(dxy, 2 * 1.5)
    close(dyx, 2 * 1.5)
    assert d2y is None
    del outer


def test_7_5_hessian_vector_product_by_nested_tapes():
    a = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, -1.0], [0.0, -1.0, 4.0]])
    x = tg.Variable(np.array([0.3, -0.5, 1.1]))
    v = np.array([1.0, 2.0, -1.0])

    def f(x):  # f = 0.5 x^T A x + sum(x^3): H = A + diag(6 x)
        xa = tg.matmul(tg.reshape(x, (1, 3)), tg.constant(a))
        return 0.5 * tg.reduce_sum(xa * x) + tg.reduce_sum(x**3)

    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = f(x)
        g = inner.gradient(y, x)
        gv = tg.reduce_sum(g * v)
    hv = outer.gradient(gv, x)
    xv = np.array([0.3, -0.5, 1.1])
    expected = (a + np.diag(6 * xv)) @ v
    close(hv, expected, rtol=1e-12)


# ---- threads -----------------------------------------------------------------------------------


def test_design_4_thread_local_tapes_do_not_see_other_threads():
    """Tapes are thread-local; another thread's ops are not recorded."""
    x = tg.constant(2.0)
    box = {}

    def work():
        box["y"] = x * x  # runs while the main thread's tape is open
        box["recording_here"] = True

    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        n_before = tape.num_nodes
        th = threading.Thread(target=work)
        th.start()
        th.join()
        assert tape.num_nodes == n_before
        z = x * 3.0
    assert tape.gradient(box["y"], x) is None
    close(tape.gradient(z, x), 3.0)
    del tape


def test_design_4_tape_opened_inside_a_thread_works_there():
    out = {}

    def work():
        try:
            v = tg.Variable(4.0)
            with tg.GradientTape() as tape:
                y = v * v * v
            out["g"] = float(tape.gradient(y, v))
            with tg.GradientTape() as t2:
                with tg.GradientTape() as t1:
                    y = v * v * v
                d = t1.gradient(y, v)
            out["d2"] = float(t2.gradient(d, v))
        except BaseException as e:  # pragma: no cover - reported below
            out["error"] = e

    # a tape open in the main thread must not interfere either
    c = tg.constant(1.0)
    with tg.GradientTape() as main_tape:
        main_tape.watch(c)
        threads = [threading.Thread(target=work) for _ in range(1)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        y = c * 5.0
    assert "error" not in out, out.get("error")
    assert out["g"] == 48.0
    assert out["d2"] == 24.0
    close(main_tape.gradient(y, c), 5.0)


def test_design_4_concurrent_tapes_in_many_threads():
    results = [None] * 8
    errors = []

    def work(i):
        try:
            v = tg.Variable(float(i))
            for _ in range(200):
                with tg.GradientTape() as tape:
                    y = v * v + 3.0 * v
                g = tape.gradient(y, v)
            results[i] = float(g)
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert results == [2.0 * i + 3.0 for i in range(8)]


# ---- 9. dtypes ---------------------------------------------------------------------------------


def test_9_1_float32_default_and_python_numbers_stay_float32():
    assert tg.constant(1.5).dtype == tg.float32
    assert tg.constant([1.0, 2.0]).dtype == tg.float32
    assert tg.Variable(2.0).dtype == tg.float32
    x = tg.Variable(1.0)
    with tg.GradientTape() as tape:
        z = 3.0 * x**2 + 2 * x - 1
    assert z.dtype == tg.float32
    g = tape.gradient(z, x)
    assert g.dtype == tg.float32
    close(g, 8.0)
    # a float32 tensor mixed with a float64 Python scalar stays float32
    t = tg.constant(np.float32(1.0)) + 0.1
    assert t.dtype == tg.float32
    assert (2 * tg.constant([1.0]) - 1.5 / tg.constant([2.0])).dtype == tg.float32


def test_9_2_float64_end_to_end():
    x = tg.constant(np.array(2.0, dtype=np.float64))
    assert x.dtype == tg.float64
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = x * x + 2e-10 * x
    assert y.dtype == tg.float64
    assert float(y) == 4.0 + 4e-10
    g = tape.gradient(y, x)
    assert g.dtype == tg.float64
    assert float(g) == 4.0 + 2e-10  # would be lost in float32

    v = tg.Variable(np.array([2.0, 3.0]))
    assert v.dtype == tg.float64
    with tg.GradientTape() as tape:
        s = v + 2e-10
    assert s.dtype == tg.float64
    assert np.asarray(s)[0] == 2.0 + 2e-10
    g = tape.gradient(s, v)
    assert g.dtype == tg.float64


def test_9_1_gradient_dtype_equals_source_dtype():
    a = tg.Variable(np.ones(3, dtype=np.float32))
    b = tg.Variable(np.ones(3, dtype=np.float64))
    with tg.GradientTape() as tape:
        y = tg.reduce_sum(a * a) + tg.reduce_sum(b * b)
    ga, gb = tape.gradient(y, [a, b])
    assert ga.dtype == tg.float32
    assert gb.dtype == tg.float64


@pytest.mark.parametrize(
    "arr",
    [
        np.array([1, 2, 3]),
        np.array([1, 2, 3], dtype=np.uint8),
        np.array([True, False, True]),
        np.array(7, dtype=np.int64),
    ],
)
def test_9_3_integer_arrays_stay_integers_and_have_no_gradient(arr):
    x = tg.constant(arr)
    assert x.dtype in (tg.int32, tg.int64, tg.bool)
    np.testing.assert_array_equal(x.numpy(), arr)
    with tg.GradientTape() as tape:
        with pytest.warns(UserWarning, match="must be floating"):
            tape.watch(x)
        y = tg.reduce_sum(tg.cast(x, tg.float32) * 2.0)
    assert tape.gradient(y, x) is None
    v = tg.Variable(arr)
    assert v.dtype == x.dtype
