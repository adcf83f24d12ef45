"""``tg.function`` (TensorFlow's ``tf.function``): a traced program replays bitwise what eager
execution computes, for every op row of op_table (forward, first and second derivatives), for a
hand-written training loop, nested and persistent tapes and jacobians; retracing, trace-time-only
Python side effects, variables, errors, result structures, outer tapes and finiteness checks."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import rng_for
from op_table import ALL_ROWS, OpRow, distinct

import tapegrad as tg

# ---- every op row: trace and replay are bitwise eager ------------------------------------------


def _derivatives(row: OpRow, kwargs: dict, *xs):
    """(forward, first derivatives of sum(f) w.r.t. every input, second derivatives: d/dx of
    sum(d sum(f)/dx0)) - the same Python code runs eagerly and under tg.function."""
    with tg.GradientTape() as outer:
        for x in xs:
            outer.watch(x)
        with tg.GradientTape() as inner:
            for x in xs:
                inner.watch(x)
            y = row.fn(*xs, **kwargs)
            total = tg.reduce_sum(y)
        first = inner.gradient(total, list(xs))
        if row.no_grad or row.max_order < 2 or first[0] is None:
            return y, first, None
        target = tg.reduce_sum(first[0])
    return y, first, outer.gradient(target, list(xs))


def _row_params():
    out = []
    for row in ALL_ROWS:
        for case in row.cases:
            if case.name.startswith("large"):
                continue  # the small cases cover the same code paths, in a fraction of the time
            for dtype in (np.float64, np.float32) if row.float32 else (np.float64,):
                name = f"{row.name}-{case.id}-{np.dtype(dtype).name}"
                out.append(pytest.param(row, case, dtype, id=name))
    return out


def _row_inputs(row: OpRow, case, key: str, dtype, scale: float = 1.0) -> list:
    """The case's inputs; scale < 1 shrinks `distinct` draws (a permutation of one grid) so that
    new inputs have a new maximum too."""
    domain = case.domain or row.domain
    scale = scale if domain is distinct else 1.0
    return [
        tg.constant((scale * np.asarray(x, dtype=np.float64)).astype(dtype))
        for x in domain(rng_for(key), case.shapes)
    ]


def _as_arrays(result):
    """Tensors as NumPy arrays, the structure (tuples, lists, None) kept."""
    if isinstance(result, (tuple, list)):
        return type(result)(_as_arrays(r) for r in result)
    if result is None:
        return None
    assert isinstance(result, tg.Tensor), f"a {type(result).__name__} in the result"
    return np.array(result.numpy())


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def assert_bitwise_equal(got, want, where: str = "result"):
    """Same structure; every array of the same dtype and shape with the same bits (NaN == NaN)."""
    if isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want), f"{where}: {got!r} vs {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_bitwise_equal(g, w, f"{where}[{i}]")
        return
    if want is None:
        assert got is None, f"{where}: expected None, got {got!r}"
        return
    assert got is not None, f"{where}: got None, expected {want!r}"
    assert got.dtype == want.dtype, f"{where}: dtype {got.dtype} vs eager {want.dtype}"
    assert got.shape == want.shape, f"{where}: shape {got.shape} vs eager {want.shape}"
    assert np.array_equal(_bits(got), _bits(want)), (
        f"{where}: compiled {got!r} differs from eager {want!r}"
    )


@pytest.mark.parametrize(("row", "case", "dtype"), _row_params())
def test_op_row_trace_and_replay_equal_eager_bitwise(row, case, dtype):
    def step(*xs):
        return _derivatives(row, case.kwargs, *xs)

    compiled = tg.function(step, name=f"row_{row.name}")
    key = f"{row.name}-{case.id}"
    xs = _row_inputs(row, case, key, dtype)
    eager = _as_arrays(step(*xs))
    assert_bitwise_equal(_as_arrays(compiled(*xs)), eager, "trace")
    assert_bitwise_equal(_as_arrays(compiled(*xs)), eager, "replay")
    new_xs = _row_inputs(row, case, key + "-new", dtype, scale=0.75)
    new_eager = _as_arrays(step(*new_xs))
    assert_bitwise_equal(_as_arrays(compiled(*new_xs)), new_eager, "replay on new inputs")
    assert compiled.trace_count == 1


# ---- a training loop: compiled steps end bitwise where eager steps end --------------------------

TRAIN_STEPS, BATCH, LEARNING_RATE = 100, 32, 0.01


def _train(compile_step: bool) -> list:
    """Dense(8->128, relu) -> Dense(1), MSE, SGD by assign_sub: the final weights as arrays."""
    rng = np.random.default_rng(1234)
    hidden = tg.layers.Dense(128, activation="relu", input_shape=(8,), dtype="float64")
    out = tg.layers.Dense(1, input_shape=(128,), dtype="float64")
    init = np.random.default_rng(99)
    for layer in (hidden, out):
        layer.set_weights([init.standard_normal(w.shape) * 0.1 for w in layer.get_weights()])
    weights = hidden.trainable_variables + out.trainable_variables
    features = rng.standard_normal((TRAIN_STEPS * BATCH, 8))
    targets = features @ rng.standard_normal((8, 1)) + 0.1 * rng.standard_normal((len(features), 1))

    def step(x, y):
        with tg.GradientTape() as tape:
            loss = tg.reduce_mean(tg.square(out(hidden(x)) - y))
        grads = tape.gradient(loss, weights)
        for w, g in zip(weights, grads):
            w.assign_sub(LEARNING_RATE * g)
        return loss

    run = tg.function(step) if compile_step else step
    for i in range(TRAIN_STEPS):
        batch = slice(i * BATCH, (i + 1) * BATCH)
        run(tg.constant(features[batch]), tg.constant(targets[batch]))
    if compile_step:
        assert run.trace_count == 1
    return [np.array(w.numpy()) for w in weights]


def test_training_loop_compiled_equals_eager_bitwise():
    eager = _train(compile_step=False)
    compiled = _train(compile_step=True)
    initial = np.random.default_rng(99).standard_normal((8, 128)) * 0.1
    assert not np.array_equal(eager[0], initial), "the loop did not train"
    assert_bitwise_equal(compiled, eager, "weights")


# ---- nested and persistent tapes, jacobians -----------------------------------------------------


@tg.function
def cube_second_derivative(x):
    with tg.GradientTape() as outer:
        outer.watch(x)
        with tg.GradientTape() as inner:
            inner.watch(x)
            y = x**3
        dy = inner.gradient(y, x)
    return dy, outer.gradient(dy, x)


@pytest.mark.parametrize("x", [2.0, -1.5, 0.0, 3.25, 10.0])
def test_second_derivative_of_cube_on_replay(x):
    cube_second_derivative(tg.constant(np.array([1.0])))  # traced at x = 1
    dy, d2y = cube_second_derivative(tg.constant(np.array([x])))
    np.testing.assert_array_equal(dy.numpy(), [3 * x**2])
    np.testing.assert_array_equal(d2y.numpy(), [6 * x])
    assert cube_second_derivative.trace_count == 1


def test_persistent_tape_two_gradients():
    @tg.function
    def grads(x):
        with tg.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = x * x
            z = tg.tanh(x)
        return tape.gradient(y, x), tape.gradient(z, x)

    def eager(x):
        return 2 * x, 1 - np.tanh(x) ** 2

    for values in ([0.5, -1.0], [2.0, 3.0], [-0.25, 0.75]):
        dy, dz = grads(tg.constant(np.array(values)))
        want_dy, want_dz = eager(np.array(values))
        np.testing.assert_array_equal(dy.numpy(), want_dy)
        np.testing.assert_allclose(dz.numpy(), want_dz, rtol=1e-14)
    assert grads.trace_count == 1


def _jacobian_of_square_times(x, w):
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = tg.square(x) * w
    return tape.jacobian(y, x)


def test_jacobian_inside_function():
    compiled = tg.function(_jacobian_of_square_times)
    w = tg.constant(np.array([1.0, -2.0, 0.5]))
    for values in ([1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]):
        x = tg.constant(np.array(values))
        got = compiled(x, w).numpy()
        np.testing.assert_array_equal(got, np.diag(2 * np.array(values) * w.numpy()))
        assert_bitwise_equal(got, np.array(_jacobian_of_square_times(x, w).numpy()))
    assert compiled.trace_count == 1


def test_reduce_max_gradient_on_replay_with_a_new_maximum():
    """reduce_max's VJP masks x == max: the max must come from the recorded output, not a value
    frozen at trace time (the op rows above cover every keepdims=False case)."""

    @tg.function
    def max_grad(x):
        with tg.GradientTape() as tape:
            tape.watch(x)
            y = tg.reduce_max(x)
        return tape.gradient(y, x)

    np.testing.assert_array_equal(max_grad(tg.constant(np.array([1.0, 4.0]))).numpy(), [0, 1])
    np.testing.assert_array_equal(max_grad(tg.constant(np.array([5.0, 3.0]))).numpy(), [1, 0])


def test_function_called_while_tracing_runs_inline():
    @tg.function
    def inner(x):
        return x * 3.0

    @tg.function
    def outer(x):
        return inner(x) + 1.0

    for fill in (1.0, 2.0):
        np.testing.assert_array_equal(outer(_vec(fill=fill)).numpy(), [3 * fill + 1.0] * 3)
    assert (outer.trace_count, inner.trace_count) == (1, 0)
    assert "multiply" in outer.get_program(_vec()).op_names()


# ---- retracing ----------------------------------------------------------------------------------


def _vec(n=3, dtype=np.float64, fill=1.0):
    return tg.constant(np.full(n, fill, dtype=dtype))


# name, first call's arguments, second call's arguments, whether the second call traces
RETRACE_CASES = [
    ("same shape, new values", (_vec(),), (_vec(fill=2.0),), False),
    ("new shape", (_vec(3),), (_vec(4),), True),
    ("new dtype", (_vec(),), (_vec(dtype=np.float32),), True),
    ("ndarray, same shape", (np.ones(3),), (np.zeros(3),), False),
    ("ndarray, new shape", (np.ones(3),), (np.zeros(2),), True),
    ("same Python int", (_vec(), 2), (_vec(), 2), False),
    ("new Python int", (_vec(), 2), (_vec(), 3), True),
    ("new Python float", (_vec(), 0.5), (_vec(), 1.5), True),
    ("new str", (_vec(), "a"), (_vec(), "b"), True),
    ("list length", ([_vec(), _vec()],), ([_vec(), _vec(), _vec()],), True),
    ("list to tuple", ([_vec(), _vec()],), ((_vec(), _vec()),), True),
    ("dict keys", ({"a": _vec()},), ({"b": _vec()},), True),
    ("dict, new values", ({"a": _vec()},), ({"a": _vec(fill=5.0)},), False),
]


def _flatten_sum(value):
    if isinstance(value, (list, tuple)):
        return sum((_flatten_sum(v) for v in value), tg.constant(0.0, dtype=tg.float64))
    if isinstance(value, dict):
        return _flatten_sum([value[k] for k in sorted(value)])
    return tg.reduce_sum(tg.cast(value, tg.float64)) if isinstance(value, tg.Tensor) else 0.0


@pytest.mark.parametrize(
    ("first", "second", "retraces"),
    [pytest.param(a, b, r, id=name) for name, a, b, r in RETRACE_CASES],
)
def test_retracing(first, second, retraces):
    @tg.function
    def f(value, extra=None):
        return _flatten_sum(value)

    f(*first)
    assert f.trace_count == 1
    f(*first)
    assert f.trace_count == 1, "the same arguments retraced"
    f(*second)
    assert f.experimental_get_tracing_count() == (2 if retraces else 1)


def test_reduce_retracing_passes_new_floats_as_tensors():
    @tg.function(reduce_retracing=True)
    def scale(x, factor):
        return x * tg.cast(factor, x.dtype)

    x = _vec(fill=2.0)
    np.testing.assert_array_equal(scale(x, 0.5).numpy(), [1.0] * 3)
    np.testing.assert_array_equal(scale(x, 1.5).numpy(), [3.0] * 3)
    np.testing.assert_array_equal(scale(x, 4).numpy(), [8.0] * 3)
    assert scale.trace_count == 1


def test_input_signature_none_dimension_accepts_any_size():
    @tg.function(input_signature=[tg.TensorSpec((None,), tg.float64)])
    def double(x):
        return x * 2.0

    for n in (2, 5, 2):
        np.testing.assert_array_equal(double(tg.constant(np.ones(n))).numpy(), [2.0] * n)
    assert double.trace_count == 2  # one program per size


def test_variable_arguments_keyed_by_identity():
    @tg.function
    def read(v):
        return v * 2.0

    a, b = tg.Variable(np.array([1.0])), tg.Variable(np.array([1.0]))
    np.testing.assert_array_equal(read(a).numpy(), [2.0])
    np.testing.assert_array_equal(read(a).numpy(), [2.0])
    assert read.trace_count == 1
    b.assign(np.array([5.0]))
    np.testing.assert_array_equal(read(b).numpy(), [10.0])
    assert read.trace_count == 2
    a.assign(np.array([3.0]))
    np.testing.assert_array_equal(read(a).numpy(), [6.0])
    assert read.trace_count == 2


# ---- Python side effects happen at trace time only ----------------------------------------------


def test_print_and_append_happen_on_the_first_call_only(capsys):
    calls = []

    @tg.function
    def f(x):
        print("tracing f")
        calls.append(1)
        return x + 1.0

    for fill in (1.0, 2.0, 3.0):
        np.testing.assert_array_equal(f(_vec(fill=fill)).numpy(), [fill + 1.0] * 3)
    assert capsys.readouterr().out == "tracing f\n"
    assert calls == [1]
    f(_vec(4))  # a new signature traces again
    assert capsys.readouterr().out == "tracing f\n"
    assert calls == [1, 1]


# ---- variables ----------------------------------------------------------------------------------


def test_variable_read_at_every_replay():
    v = tg.Variable(np.array([1.0, 2.0]))

    @tg.function
    def f(x):
        return x * v

    x = tg.constant(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(f(x).numpy(), [3.0, 8.0])
    v.assign(np.array([-1.0, 0.5]))
    np.testing.assert_array_equal(f(x).numpy(), [-3.0, 2.0])
    v.assign_add(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(f(x).numpy(), [0.0, 6.0])
    assert f.trace_count == 1


ASSIGNS = {
    "assign": (lambda v, x: v.assign(x), lambda v, x: x),
    "assign_add": (lambda v, x: v.assign_add(x), lambda v, x: v + x),
    "assign_sub": (lambda v, x: v.assign_sub(x), lambda v, x: v - x),
}


@pytest.mark.parametrize("method", list(ASSIGNS))
def test_assign_inside_happens_at_every_replay(method):
    assign, expected = ASSIGNS[method]
    v = tg.Variable(np.array([1.0, 2.0]))

    @tg.function
    def f(x):
        assign(v, x * 2.0)
        return v.read_value()

    want = np.array([1.0, 2.0])
    for values in ([1.0, 1.0], [0.5, -3.0], [2.0, 0.25]):
        want = expected(want, 2.0 * np.array(values))
        got = f(tg.constant(np.array(values)))
        np.testing.assert_array_equal(v.numpy(), want)
        np.testing.assert_array_equal(got.numpy(), want)
    assert f.trace_count == 1


def test_variable_created_on_first_trace_is_kept():
    created = []

    @tg.function
    def f(x):
        if not created:
            created.append(tg.Variable(np.array([2.0, 2.0])))
        created[0].assign_add(x)
        return created[0] * 1.0

    x = tg.constant(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(f(x).numpy(), [3.0, 1.0])
    np.testing.assert_array_equal(f(x).numpy(), [4.0, 0.0])
    assert len(created) == 1
    np.testing.assert_array_equal(created[0].numpy(), [4.0, 0.0])


def test_variable_created_on_a_later_trace_raises_naming_the_function():
    @tg.function
    def makes_variables(x):
        v = tg.Variable(np.zeros(x.shape))
        return x + v

    makes_variables(_vec(3))
    with pytest.raises(ValueError, match="makes_variables"):
        makes_variables(_vec(4))
    assert tg._core.tracing_function() is None


# ---- errors -------------------------------------------------------------------------------------


def _if_positive(x):
    if tg.reduce_sum(x):
        return x
    return -x


# name, conversion inside the function
CONVERSIONS = [
    ("float(t)", lambda x: float(tg.reduce_sum(x))),
    ("bool(t)", lambda x: bool(tg.reduce_sum(x))),
    ("if t:", _if_positive),
    ("t.numpy()", lambda x: x.numpy()),
    ("Variable.numpy()", lambda x: tg.Variable(np.ones(3)).numpy()),
    ("np.asarray(t)", np.asarray),  # the buffer protocol, read before __array__
    ("np.array(t)", np.array),
    ("memoryview(t)", memoryview),
]


@pytest.mark.parametrize(
    "convert", [pytest.param(convert, id=name) for name, convert in CONVERSIONS]
)
def test_python_conversion_of_traced_value_raises_naming_the_function(convert):
    fail = [True]

    @tg.function
    def converting_step(x):
        if fail[0]:
            convert(x)
        return x * 2.0

    with pytest.raises(TypeError, match="converting_step"):
        converting_step(_vec())
    assert tg._core.tracing_function() is None
    assert converting_step.trace_count == 0
    fail[0] = False
    np.testing.assert_array_equal(converting_step(_vec(fill=3.0)).numpy(), [6.0] * 3)
    np.testing.assert_array_equal(converting_step(_vec(fill=4.0)).numpy(), [8.0] * 3)
    assert converting_step.trace_count == 1


def test_python_branch_on_a_traced_comparison_fails_naming_the_function():
    """`t > 0` is a bool tensor, eager or traced; `if` on a traced one cannot be decided at trace
    time, so it raises TypeError naming the conversion; the trace is discarded."""

    @tg.function
    def compares(x):
        if tg.reduce_sum(x) > 0:
            return x
        return -x

    assert bool(tg.reduce_sum(_vec()) > 0) is True  # eager: a concrete bool tensor
    with pytest.raises(TypeError, match=r"bool\(\)"):
        compares(_vec())
    assert tg._core.tracing_function() is None
    assert compares.trace_count == 0


def test_repr_and_print_of_traced_tensor_do_not_raise(capsys):
    @tg.function
    def shows(x):
        print(x, repr(x), str(x))
        return x + 1.0

    np.testing.assert_array_equal(shows(_vec()).numpy(), [2.0] * 3)
    assert capsys.readouterr().out.strip()


SIGNATURE = [tg.TensorSpec((None, 3), tg.float64)]

# name, arguments, what the TypeError says
SIGNATURE_MISMATCHES = [
    ("shape", (tg.constant(np.ones((2, 4))),), r"argument 0 of shape \(2, 4\)"),
    ("rank", (tg.constant(np.ones(3)),), r"argument 0 of shape \(3,\)"),
    ("dtype", (tg.constant(np.ones((2, 3), np.float32)),), "dtype float32"),
    ("too many", (tg.constant(np.ones((2, 3))), tg.constant(np.ones((2, 3)))), "got 2"),
    ("too few", (), "got 0"),
    ("not a tensor", ([[1.0, 2.0, 3.0]],), "argument 0 must be a tensor"),
]


@pytest.mark.parametrize(
    ("args", "message"), [pytest.param(a, m, id=name) for name, a, m in SIGNATURE_MISMATCHES]
)
def test_input_signature_mismatch_raises(args, message):
    @tg.function(input_signature=SIGNATURE)
    def signed(x):
        return x * 2.0

    with pytest.raises(TypeError, match=message) as info:
        signed(*args)
    assert "signed" in str(info.value)
    assert signed.trace_count == 0
    np.testing.assert_array_equal(signed(tg.constant(np.ones((5, 3)))).numpy(), np.full((5, 3), 2))


# ---- results ------------------------------------------------------------------------------------


def test_nested_result_structure_on_trace_and_replay():
    @tg.function
    def structured(x):
        return {"pair": (x, x * 2.0), "list": [x + 1.0, None], "n": 3, "f": 0.5, "s": "ok"}, None

    for fill in (1.0, 2.0, 5.0):
        result, none = structured(_vec(fill=fill))
        assert none is None
        assert sorted(result) == ["f", "list", "n", "pair", "s"]
        assert type(result["pair"]) is tuple and type(result["list"]) is list
        assert (result["n"], result["f"], result["s"], result["list"][1]) == (3, 0.5, "ok", None)
        np.testing.assert_array_equal(result["pair"][0].numpy(), [fill] * 3)
        np.testing.assert_array_equal(result["pair"][1].numpy(), [2 * fill] * 3)
        np.testing.assert_array_equal(result["list"][0].numpy(), [fill + 1.0] * 3)
    assert structured.trace_count == 1


def test_returning_a_constant_tensor():
    @tg.function
    def constant(x):
        return tg.constant(np.array([1.0, 2.0])), x

    for fill in (1.0, 7.0):
        c, x = constant(_vec(fill=fill))
        np.testing.assert_array_equal(c.numpy(), [1.0, 2.0])
        np.testing.assert_array_equal(x.numpy(), [fill] * 3)


def test_function_without_tensor_arguments():
    v = tg.Variable(np.array([1.0]))

    @tg.function
    def bump():
        v.assign_add(np.array([1.0]))
        return v * 10.0, tg.constant(np.array(4.0))

    for expected in (2.0, 3.0, 4.0):
        scaled, four = bump()
        np.testing.assert_array_equal(scaled.numpy(), [10.0 * expected])
        np.testing.assert_array_equal(four.numpy(), 4.0)
    assert bump.trace_count == 1


# ---- an outer tape sees through a compiled call -------------------------------------------------


def test_outer_tape_gradient_through_replay_equals_eager():
    w = tg.Variable(np.array([0.5, -1.5, 2.0]))

    def model(x):
        return tg.reduce_sum(tg.tanh(x * w) * x)

    compiled = tg.function(model)
    for values in ([1.0, 2.0, 3.0], [-0.5, 0.25, 1.0], [2.0, -2.0, 0.5]):
        x = tg.constant(np.array(values))
        got, want = [], []
        for fn, out in ((compiled, got), (model, want)):
            with tg.GradientTape() as tape:
                y = fn(x)
            out.extend([y.numpy(), tape.gradient(y, w).numpy()])
        assert_bitwise_equal(got, want, f"x={values}")
    assert compiled.trace_count == 1


# ---- finiteness checks stop a replay ------------------------------------------------------------


def test_check_finite_raises_on_replay_and_skips_later_assigns():
    v = tg.Variable(np.array([1.0, 1.0]))

    @tg.function
    def guarded_step(x):
        loss = tg.reduce_sum(tg.log(x))
        tg._core.check_finite(loss, "loss")
        v.assign_sub(x)
        return loss

    guarded_step(tg.constant(np.array([1.0, 2.0])))  # trace: finite
    np.testing.assert_array_equal(v.numpy(), [0.0, -1.0])
    guarded_step(tg.constant(np.array([0.5, 0.5])))  # replay: finite
    np.testing.assert_array_equal(v.numpy(), [-0.5, -1.5])
    with pytest.raises(FloatingPointError, match="loss"):
        guarded_step(tg.constant(np.array([-1.0, 2.0])))  # log(-1) = NaN
    np.testing.assert_array_equal(v.numpy(), [-0.5, -1.5])
    assert guarded_step.trace_count == 1
    guarded_step(tg.constant(np.array([1.0, 1.0])))  # still runs afterwards
    np.testing.assert_array_equal(v.numpy(), [-1.5, -2.5])


def test_optimizer_state_is_read_at_every_replay_without_retracing():
    """The update is the C++ optimizer's own apply: a new learning rate, a schedule's step and
    the iterations counter are seen by every replay, and none of them retraces."""
    w = tg.Variable(np.zeros(2))
    optimizer = tg.optimizers.SGD(1.0)

    @tg.function
    def step(g):
        optimizer.apply_gradients([(g, w)])

    g = tg.constant(np.ones(2))
    step(g)
    np.testing.assert_array_equal(w.numpy(), [-1.0, -1.0])
    optimizer.learning_rate = 0.5
    step(g)
    np.testing.assert_array_equal(w.numpy(), [-1.5, -1.5])
    optimizer.learning_rate = tg.optimizers.schedules.PiecewiseConstantDecay([2], [0.25, 0.125])
    step(g)  # iterations == 2: the first value
    step(g)  # iterations == 3: the second
    np.testing.assert_array_equal(w.numpy(), [-1.875, -1.875])
    assert optimizer.iterations == 4 and step.trace_count == 1


def test_an_op_repeated_on_the_same_values_is_computed_once():
    """Common subexpressions merge; variable reads never do (an assignment may lie between)."""
    v = tg.Variable(np.array([1.0, 2.0]))

    @tg.function
    def f(x):
        first = tg.exp(x) * v
        v.assign_add(x)
        return first + tg.exp(x) * v  # the second v read sees the assignment

    x = tg.constant(np.array([0.5, -1.0]))
    program = f.get_program(x)
    names = program.op_names()
    assert names.count("exp") == 1 and names.count("read_variable") == 2
    assert names.count("multiply") == 2
    v.assign([1.0, 2.0])
    v0 = np.array([1.0, 2.0])
    expected = np.exp(x.numpy()) * v0 + np.exp(x.numpy()) * (v0 + x.numpy())
    np.testing.assert_array_equal(f(x).numpy(), expected)


def test_a_metric_updated_in_a_compiled_step_reuses_the_loss_error():
    model = tg.layers.Dense(1, input_shape=(3,))
    metric = tg.metrics.MeanSquaredError()

    @tg.function
    def step(x, y):
        with tg.GradientTape() as tape:
            pred = model(x)
            loss = tg.reduce_mean(tg.nn.mean_squared_error(y, pred))
        grads = tape.gradient(loss, model.trainable_variables)
        metric.update_state(y, pred)
        return loss, grads

    x = tg.constant(np.ones((4, 3), np.float32))
    y = tg.constant(np.zeros((4, 1), np.float32))
    names = step.get_program(x, y).op_names()
    assert names.count("mean_squared_error") == 1 and names.count("assign") == 2
    step(x, y)
    assert float(metric.result()) == pytest.approx(float(step(x, y)[0]))
