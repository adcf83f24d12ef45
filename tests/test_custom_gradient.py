"""tg.custom_gradient (TensorFlow's rules) and tg.custom_vjp (JAX's form)."""

import inspect
import threading

import numpy as np
import pytest

import tapegrad as tg


@tg.custom_gradient
def log1pexp(x):
    """log(1 + e^x) with the stable gradient sigmoid(x) = 1 - 1/(1 + e^x)."""
    e = tg.exp(x)

    def grad(upstream):
        return upstream * (1 - 1 / (1 + e))

    return tg.log(1 + e), grad


def naive_log1pexp(x):
    return tg.log(1 + tg.exp(x))


@tg.custom_gradient
def clip_gradient(x):
    """The identity whose gradient is clipped to [-0.5, 0.5]."""

    def grad(upstream):
        return tg.minimum(tg.maximum(upstream, -0.5), 0.5)

    return tg.stop_gradient(x) * 1.0, grad


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_stable_log1pexp_gradient_is_finite_where_the_naive_one_is_nan():
    x = tg.constant([0.0, 10.0, 100.0])
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = log1pexp(x)
        y_naive = naive_log1pexp(x)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [0.5, sigmoid(10.0), 1.0], rtol=1e-6)
    assert np.isnan(tape.gradient(y_naive, x).numpy()[2])  # inf / inf
    np.testing.assert_allclose(y.numpy()[:2], np.log1p(np.exp([0.0, 10.0])), rtol=1e-6)


def test_gradient_clipping_identity():
    x = tg.constant([1.0, 2.0, 3.0])
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = tg.reduce_sum(clip_gradient(x) * tg.constant([0.1, 2.0, -3.0]))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [0.1, 0.5, -0.5])


def test_second_derivative_of_a_custom_gradient_by_nested_tapes():
    xs = np.array([0.5, -1.0, 2.0])
    x = tg.constant(xs)
    with tg.GradientTape() as outer:
        outer.watch(x)
        with tg.GradientTape() as inner:
            inner.watch(x)
            y = log1pexp(x)
        g = inner.gradient(y, x)
    h = outer.gradient(g, x)
    np.testing.assert_allclose(g.numpy(), sigmoid(xs), rtol=1e-12)
    np.testing.assert_allclose(h.numpy(), sigmoid(xs) * (1 - sigmoid(xs)), rtol=1e-12)


def test_jacobian_of_a_custom_gradient_on_a_persistent_tape():
    xs = np.array([0.3, -0.7])
    x = tg.constant(xs)
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = log1pexp(x) * tg.constant([1.0, 3.0])
    jac = tape.jacobian(y, x).numpy()
    np.testing.assert_allclose(jac, np.diag(sigmoid(xs) * [1.0, 3.0]), rtol=1e-12)
    # the persistent tape still answers
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), sigmoid(xs) * [1.0, 3.0], rtol=1e-12)


def test_a_custom_gradient_with_variables():
    w = tg.Variable(np.array([2.0, -1.0]), name="w")
    frozen = tg.Variable(np.array([5.0]), trainable=False, name="frozen")
    seen = {}

    @tg.custom_gradient
    def scaled(x):
        y = x * w * frozen  # d/dx = w*frozen, d/dw = x*frozen; frozen is not trainable

        def grad(upstream, variables=None):
            seen["variables"] = variables
            return upstream * w * frozen, [upstream * x * frozen * 10.0]  # 10x: shows it is used

        return y, grad

    x = tg.constant(np.array([3.0, 4.0]))
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = tg.reduce_sum(scaled(x))
    gx, gw = tape.gradient(y, [x, w])
    assert [v.name for v in seen["variables"]] == ["w:0"]
    np.testing.assert_allclose(gx.numpy(), [10.0, -5.0])
    np.testing.assert_allclose(gw.numpy(), [150.0, 200.0])


def test_variables_need_a_grad_fn_that_takes_them():
    w = tg.Variable(1.0)

    @tg.custom_gradient
    def f(x):
        return x * w, lambda upstream: upstream

    with pytest.raises(TypeError, match=r"'f' reads variables.*variables"):
        f(tg.constant(1.0))


def test_a_variable_passed_as_the_input_is_an_input():
    v = tg.Variable(np.array([1.0, 2.0]))

    @tg.custom_gradient
    def double(x):
        return x * 2.0, lambda upstream: upstream * 7.0

    with tg.GradientTape() as tape:
        y = tg.reduce_sum(double(v))
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), [7.0, 7.0])


def test_several_inputs_none_gradients_and_several_outputs():
    @tg.custom_gradient
    def f(a, b):
        def grad(ga, gb):  # one upstream per output
            return ga * 2.0 + gb * 3.0, None

        return (a * 2.0 + b, a * 3.0), grad

    a, b = tg.constant(1.0), tg.constant(5.0)
    with tg.GradientTape() as tape:
        tape.watch([a, b])
        y1, y2 = f(a, b)
        total = y1 * 10.0 + y2
    ga, gb = tape.gradient(total, [a, b])
    assert float(ga) == 10.0 * 2.0 + 3.0
    assert gb is None
    assert float(y1) == 7.0 and float(y2) == 3.0


@pytest.mark.parametrize(
    "grad_fn, error, message",
    [
        (lambda g: [g, g], ValueError, r"'bad': grad_fn returned 2 gradients for 1 inputs"),
        (
            lambda g: tg.ones((3,)),
            ValueError,
            r"'bad': the gradient of input 0 has shape \(3,\) but that input has shape \(2,\)",
        ),
        (lambda g: "not a tensor", TypeError, r"convert"),
    ],
)
def test_wrong_gradients_are_clear_errors(grad_fn, error, message):
    def bad(x):
        return x * 1.0, grad_fn

    bad = tg.custom_gradient(bad)
    x = tg.constant([1.0, 2.0])
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = bad(x)
    with pytest.raises(error, match=message):
        tape.gradient(y, x)


def test_an_exception_in_grad_fn_propagates_and_a_persistent_tape_stays_usable():
    class Boom(Exception):
        pass

    calls = []

    @tg.custom_gradient
    def flaky(x):
        def grad(upstream):
            calls.append(1)
            if len(calls) == 1:
                raise Boom("first call fails")
            return upstream * 4.0

        return x * 1.0, grad

    x = tg.constant(2.0)
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = flaky(x) * 3.0
    with pytest.raises(Boom, match="first call fails"):
        tape.gradient(y, x)
    assert float(tape.gradient(y, x)) == 12.0


def test_custom_gradient_inside_tg_function_replays_on_new_values():
    @tg.function
    def grad_of_log1pexp(x):
        with tg.GradientTape() as tape:
            tape.watch(x)
            y = tg.reduce_sum(log1pexp(x))
        return tape.gradient(y, x)

    for values in ([0.0, 100.0], [-3.0, 1.5], [7.0, -100.0]):
        x = tg.constant(np.array(values))
        got = grad_of_log1pexp(x).numpy()  # 1 - 1/(1 + e^x) rounds e^-100 away: atol
        np.testing.assert_allclose(got, sigmoid(np.array(values)), rtol=1e-12, atol=1e-15)
    assert grad_of_log1pexp.trace_count == 1


def test_outside_a_tape_the_function_just_runs():
    y = log1pexp(tg.constant(np.array([0.0])))
    np.testing.assert_allclose(y.numpy(), [np.log(2.0)])


def test_custom_gradient_rejects_a_bad_function_result():
    @tg.custom_gradient
    def no_grad_fn(x):
        return x

    with pytest.raises(
        TypeError, match=r"'no_grad_fn': the function must return \(outputs, grad_fn\)"
    ):
        no_grad_fn(tg.constant(1.0))


def test_the_decorated_function_keeps_the_functions_name_doc_and_signature():
    assert log1pexp.__name__ == "log1pexp"
    assert log1pexp.__doc__.startswith("log(1 + e^x)")
    assert log1pexp.__wrapped__.__name__ == "log1pexp"
    assert "log1pexp" in repr(log1pexp)
    assert list(inspect.signature(log1pexp).parameters) == ["x"]


def test_keyword_arguments_are_refused_and_numbers_become_tensors():
    with pytest.raises(TypeError, match=r"'log1pexp': pass the inputs positionally .*\['x'\]"):
        log1pexp(x=tg.constant(1.0))
    x = 0.5  # a Python number: converted, so its gradient is None and the value is right
    np.testing.assert_allclose(log1pexp(x).numpy(), np.log1p(np.exp(0.5)), rtol=1e-6)


def test_a_tape_holding_a_custom_gradient_is_freed_on_another_thread():
    x = tg.constant([0.5, 1.5])
    tape = tg.GradientTape(persistent=True)
    with tape:
        tape.watch(x)
        y = log1pexp(x)
    np.testing.assert_allclose(
        tape.gradient(y, x).numpy(), sigmoid(np.array([0.5, 1.5])), rtol=1e-6
    )
    holder = [tape]
    del tape, y
    worker = threading.Thread(target=holder.clear)  # the last reference goes on the worker
    worker.start()
    worker.join()
    assert holder == []


# ---- custom_vjp (JAX) ---------------------------------------------------------------------------


@tg.custom_vjp
def safe_norm(x):
    return tg.sqrt(tg.reduce_sum(x * x))


def _safe_norm_fwd(x):
    n = safe_norm.fun(x)
    return n, (x, n)


def _safe_norm_bwd(residuals, g):
    x, n = residuals
    return (g * x / tg.maximum(n, 1e-12),)  # 0 at x = 0 where the naive one is 0/0


safe_norm.defvjp(_safe_norm_fwd, _safe_norm_bwd)


def test_custom_vjp_gives_its_bwd_gradient():
    for values, expected in (([3.0, 4.0], [0.6, 0.8]), ([0.0, 0.0], [0.0, 0.0])):
        x = tg.constant(np.array(values))
        with tg.GradientTape() as tape:
            tape.watch(x)
            y = safe_norm(x)
        np.testing.assert_allclose(tape.gradient(y, x).numpy(), expected)


def test_custom_vjp_needs_defvjp_and_a_tuple_from_bwd():
    @tg.custom_vjp
    def f(x):
        return x * 2.0

    with pytest.raises(TypeError, match="defvjp"):
        f(tg.constant(1.0))
    f.defvjp(lambda x: (x * 2.0, None), lambda res, g: g)  # not a tuple
    x = tg.constant(1.0)
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    with pytest.raises(TypeError, match="'f': bwd must return a tuple"):
        tape.gradient(y, x)
