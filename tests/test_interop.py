"""Tensors beside NumPy and other array libraries (python/tapegrad/interop.py): ufuncs and array
functions give NumPy arrays, operators with a tensor on either side stay on the tape, zero-copy
views, DLPack both ways, pickle and copy.deepcopy of tensors, variables, layers, models and
optimizers."""

from __future__ import annotations

import copy
import operator
import pickle

import numpy as np
import pytest

import tapegrad as tg

X = np.array([[0.5, -1.25, 2.0], [1.5, 0.75, -0.5]])


# ---- ufuncs and array functions: NumPy arrays, values as NumPy's, nothing recorded --------------

# (name, function of one array-like); each row's result on a tensor must equal it on the array
NUMPY_FUNCTIONS = [
    ("exp", np.exp),
    ("log1p_abs", lambda a: np.log1p(np.abs(a))),
    ("sin", np.sin),
    ("sqrt_abs", lambda a: np.sqrt(np.abs(a))),
    ("negative", np.negative),
    ("square", np.square),
    ("multiply_by_name", lambda a: np.multiply(a, 3.0)),
    ("add_by_name", lambda a: np.add(2.0, a)),
    ("maximum", lambda a: np.maximum(a, 0.0)),
    ("greater", lambda a: np.greater(a, 0.5)),
    ("add_reduce", np.add.reduce),
    ("sum", np.sum),
    ("sum_axis", lambda a: np.sum(a, axis=1)),
    ("mean", np.mean),
    ("std", np.std),
    ("max", np.max),
    ("argmax", np.argmax),
    ("cumsum", np.cumsum),
    ("dot", lambda a: np.dot(a, np.ones(3))),
    ("matmul_by_name", lambda a: np.matmul(a, np.ones((3, 2)))),
    ("transpose", np.transpose),
    ("reshape", lambda a: np.reshape(a, (3, 2))),
    ("concatenate", lambda a: np.concatenate([a, a])),
    ("where", lambda a: np.where(np.asarray(a) > 0, a, 0.0)),
    ("clip", lambda a: np.clip(a, -1.0, 1.0)),
    ("allclose", lambda a: np.allclose(a, X)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,fn", NUMPY_FUNCTIONS, ids=[r[0] for r in NUMPY_FUNCTIONS])
def test_numpy_function_on_tensor_is_an_array(name, fn, dtype):
    x = X.astype(dtype)
    t = tg.constant(x)
    expected = fn(x)
    got = fn(t)
    assert not isinstance(got, (tg.Tensor, tg.Variable)), name
    assert isinstance(got, (np.ndarray, np.generic, bool)), type(got)
    assert np.asarray(got).dtype == np.asarray(expected).dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name,fn", NUMPY_FUNCTIONS[:12], ids=[r[0] for r in NUMPY_FUNCTIONS[:12]])
def test_numpy_function_on_variable_is_an_array(name, fn):
    v = tg.Variable(X)
    got = fn(v)
    assert not isinstance(got, (tg.Tensor, tg.Variable))
    np.testing.assert_array_equal(got, fn(X))


def test_ufunc_result_is_not_connected():
    x = tg.Variable(X)
    with tg.GradientTape() as tape:
        y = tg.constant(np.exp(x))  # a detour through NumPy leaves the tape
    assert tape.gradient(tg.reduce_sum(y), x) is None


# ---- operators with a tensor on either side: tensors on the tape -------------------------------

BINARY = [
    ("add", operator.add, lambda a, b, g: (g, g)),
    ("sub", operator.sub, lambda a, b, g: (g, -g)),
    ("mul", operator.mul, lambda a, b, g: (g * b, g * a)),
    ("truediv", operator.truediv, lambda a, b, g: (g / b, -g * a / b**2)),
    ("pow", operator.pow, lambda a, b, g: (g * b * a ** (b - 1), g * np.log(a) * a**b)),
    ("matmul", operator.matmul, None),
]
# the non-tensor operand in its forms
OTHERS = [
    ("ndarray", lambda a: a),
    ("float64_scalar", lambda a: np.float64(a.flat[0])),
    ("float32_scalar", lambda a: np.float32(a.flat[0])),
    ("0d_ndarray", lambda a: np.array(a.flat[0])),
]


def _operands(name: str):
    rng = np.random.default_rng(sum(map(ord, name)))
    a = rng.uniform(0.5, 2.0, size=(3, 3))
    b = rng.uniform(0.5, 2.0, size=(3, 3))
    return a, b


OPERATOR_ROWS = [
    pytest.param(name, op, vjp, make_other, id=f"{name}-{other_name}")
    for name, op, vjp in BINARY
    for other_name, make_other in OTHERS
    if name != "matmul" or other_name == "ndarray"  # matmul needs two matrices
]


@pytest.mark.parametrize("tensor_side", ["left", "right"])
@pytest.mark.parametrize("name,op,vjp,make_other", OPERATOR_ROWS)
def test_operator_with_tensor_on_either_side(name, op, vjp, make_other, tensor_side):
    a, b = _operands(name)
    t_value, other = (a, make_other(b)) if tensor_side == "left" else (b, make_other(a))
    x = tg.Variable(t_value, dtype=tg.float64)
    with tg.GradientTape() as tape:
        y = op(x, other) if tensor_side == "left" else op(other, x)
    assert isinstance(y, tg.Tensor), f"{type(other).__name__} {name} tensor gave {type(y)}"
    lhs, rhs = (t_value, np.asarray(other, dtype=np.float64))  # the reference in float64
    if tensor_side == "right":
        lhs, rhs = rhs, lhs
    np.testing.assert_allclose(y.numpy(), op(lhs, rhs), rtol=1e-12)
    g = tape.gradient(y, x)
    assert g is not None
    if vjp is None:  # matmul: d sum(a @ b) = (1 @ b.T, a.T @ 1)
        ones = np.ones((3, 3))
        expected = ones @ rhs.T if tensor_side == "left" else lhs.T @ ones
    else:
        ga, gb = vjp(lhs, rhs, np.ones(np.broadcast(lhs, rhs).shape))
        expected = ga if tensor_side == "left" else gb
    np.testing.assert_allclose(g.numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize("op", [operator.lt, operator.le, operator.gt, operator.ge])
def test_comparison_with_ndarray_on_the_left_is_a_tensor(op):
    a, b = _operands("cmp")
    y = op(a, tg.constant(b))
    assert isinstance(y, tg.Tensor) and y.dtype == tg.bool
    np.testing.assert_array_equal(y.numpy(), op(a, b))


INTEGER_AND_BOOL_OPERATORS = [
    (operator.floordiv, np.int32),
    (operator.mod, np.int32),
    (operator.and_, np.bool_),
    (operator.or_, np.bool_),
    (operator.xor, np.bool_),
]


@pytest.mark.parametrize("op,dtype", INTEGER_AND_BOOL_OPERATORS)
def test_integer_and_bool_operators_with_ndarray_on_the_left_are_tensors(op, dtype):
    a, b = np.array([7, -3, 0], dtype=dtype), np.array([2, 2, 3], dtype=dtype)
    y = op(a, tg.constant(b))
    assert isinstance(y, tg.Tensor)
    assert np.asarray(y).dtype == dtype
    np.testing.assert_array_equal(y.numpy(), op(a, b))


def test_inplace_operator_on_ndarray_rebinds_to_a_tensor():
    a = np.ones(3)
    x = tg.Variable([1.0, 2.0, 3.0], dtype=tg.float64)
    with tg.GradientTape() as tape:
        a += x  # ndarray.__iadd__ defers: `a` becomes the tensor a + x
    assert isinstance(a, tg.Tensor)
    np.testing.assert_array_equal(tape.gradient(a, x).numpy(), [1.0, 1.0, 1.0])


# ---- zero-copy views ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_])
def test_asarray_shares_memory(dtype):
    t = tg.constant(np.arange(6).reshape(2, 3).astype(dtype))
    a = np.asarray(t)
    assert a.dtype == dtype
    assert np.shares_memory(a, t.numpy())
    assert not a.flags.writeable  # tensors are immutable
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":  # asarray's copy= is NumPy 2's
        assert np.shares_memory(np.asarray(t, copy=False), a)


# ---- DLPack ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_])
def test_numpy_from_dlpack_shares_memory(dtype):
    t = tg.constant(np.arange(6).reshape(3, 2).astype(dtype))
    a = np.from_dlpack(t)
    assert a.dtype == dtype and a.shape == (3, 2)
    assert np.shares_memory(a, t.numpy())
    np.testing.assert_array_equal(a, t.numpy())
    assert t.__dlpack_device__() == (1, 0)


def test_dlpack_refuses_a_stream():
    with pytest.raises(BufferError, match="CPU"):
        tg.constant([1.0]).__dlpack__(stream=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_])
def test_from_dlpack_of_numpy_is_zero_copy(dtype):
    a = np.arange(6).reshape(2, 3).astype(dtype)
    t = tg.from_dlpack(a)
    assert isinstance(t, tg.Tensor) and t.shape == (2, 3)
    assert np.shares_memory(t.numpy(), a)
    np.testing.assert_array_equal(t.numpy(), a)
    snapshot = tg.from_dlpack(a, copy=True)
    assert not np.shares_memory(snapshot.numpy(), a)


def test_from_dlpack_keeps_the_producer_alive():
    t = tg.from_dlpack(np.arange(4.0))
    np.testing.assert_array_equal((t * 2.0).numpy(), [0.0, 2.0, 4.0, 6.0])


def test_from_dlpack_strided_memory_is_copied():
    a = np.arange(12.0).reshape(3, 4)[:, ::2]
    t = tg.from_dlpack(a)
    np.testing.assert_array_equal(t.numpy(), a)


def test_from_dlpack_tensor_round_trip():
    t = tg.constant([1.0, 2.0])
    assert tg.from_dlpack(t) is t
    u = tg.from_dlpack(np.from_dlpack(t))
    assert np.shares_memory(u.numpy(), t.numpy())


def test_variable_from_shared_memory_never_writes_into_it():
    a = np.arange(3.0)
    v = tg.Variable(tg.from_dlpack(a))
    v.assign_add([1.0, 1.0, 1.0])
    np.testing.assert_array_equal(a, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0, 3.0])


def test_from_dlpack_gradient_flows():
    x = tg.from_dlpack(np.array([1.0, 2.0, 3.0]))
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = tg.reduce_sum(x * x)
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [2.0, 4.0, 6.0])


@pytest.mark.parametrize(
    "bad,error,match",
    [
        (np.array([1 + 2j]), TypeError, "complex128"),
        (np.array([1], dtype=np.uint8), TypeError, "uint8"),
        (np.array([1.0], dtype=np.float16), TypeError, "float16"),
        ([1.0, 2.0], TypeError, "__dlpack__"),
    ],
)
def test_from_dlpack_errors(bad, error, match):
    with pytest.raises(error, match=match):
        tg.from_dlpack(bad)


def test_from_dlpack_other_device_is_a_clear_error():
    class OnGpu:
        def __dlpack__(self, **kwargs):
            raise AssertionError("must not be read")

        def __dlpack_device__(self):
            return (2, 0)  # kDLCUDA

    with pytest.raises(ValueError, match="CPU memory only"):
        tg.from_dlpack(OnGpu())


def test_torch_dlpack_round_trip():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    t = tg.constant(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    pt = torch.from_dlpack(t)
    assert tuple(pt.shape) == (2, 3) and pt.dtype == torch.float32
    np.testing.assert_array_equal(pt.numpy(), t.numpy())
    assert pt.data_ptr() == np.asarray(t).ctypes.data  # zero-copy
    back = tg.from_dlpack(torch.arange(4, dtype=torch.float64))
    assert back.dtype == tg.float64
    np.testing.assert_array_equal(back.numpy(), [0.0, 1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="unsupported dtype"):
        tg.from_dlpack(torch.ones(2, dtype=torch.float16))


def test_jax_dlpack_round_trip():
    pytest.importorskip("jax", reason="jax is not installed")
    import jax.numpy as jnp

    t = tg.constant(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    j = jnp.from_dlpack(t)
    assert j.shape == (2, 3) and j.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(j), t.numpy())
    back = tg.from_dlpack(jnp.arange(4, dtype=jnp.int32))
    assert back.dtype == tg.int32
    np.testing.assert_array_equal(back.numpy(), [0, 1, 2, 3])


# ---- pickle and copy.deepcopy ------------------------------------------------------------------

ROUND_TRIPS = [
    ("pickle", lambda obj: pickle.loads(pickle.dumps(obj))),
    ("pickle_v2", lambda obj: pickle.loads(pickle.dumps(obj, protocol=2))),
    ("deepcopy", copy.deepcopy),
]
ROUND_TRIP_IDS = [r[0] for r in ROUND_TRIPS]


@pytest.mark.parametrize("how,round_trip", ROUND_TRIPS, ids=ROUND_TRIP_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_])
def test_tensor_round_trip(how, round_trip, dtype):
    t = tg.constant(np.arange(6).reshape(2, 3).astype(dtype))
    u = round_trip(t)
    assert isinstance(u, tg.Tensor) and u is not t
    assert u.dtype == t.dtype and u.shape == t.shape
    np.testing.assert_array_equal(u.numpy(), t.numpy())
    assert u.id != t.id


@pytest.mark.parametrize("how,round_trip", ROUND_TRIPS, ids=ROUND_TRIP_IDS)
@pytest.mark.parametrize("dtype", [tg.float32, tg.float64, tg.int32])
@pytest.mark.parametrize("trainable", [True, False])
def test_variable_round_trip(how, round_trip, dtype, trainable):
    v = tg.Variable([[1, 2], [3, 4]], name="weights", trainable=trainable, dtype=dtype)
    w = round_trip(v)
    assert isinstance(w, tg.Variable) and w is not v
    assert (w.name, w.trainable, w.dtype, w.shape) == ("weights:0", trainable, dtype, (2, 2))
    np.testing.assert_array_equal(w.numpy(), v.numpy())
    w.assign_add(np.ones((2, 2), dtype=dtype.as_numpy_dtype))  # independent copies
    np.testing.assert_array_equal(v.numpy(), [[1, 2], [3, 4]])


def test_shared_variable_stays_shared_in_one_pickle():
    v = tg.Variable([1.0])
    a, b = pickle.loads(pickle.dumps([v, v]))
    assert a is b


@pytest.mark.parametrize("how,round_trip", ROUND_TRIPS, ids=ROUND_TRIP_IDS)
def test_tape_is_not_picklable(how, round_trip):
    with tg.GradientTape(persistent=True) as tape:
        pass
    with pytest.raises(TypeError, match="GradientTape cannot be pickled"):
        round_trip(tape)


def _model(built: bool) -> tg.keras.Sequential:
    tg.set_random_seed(3)
    layers = [
        tg.keras.layers.Dense(4, activation="relu", input_shape=(3,) if built else None),
        tg.keras.layers.Dropout(0.25, seed=1),
        tg.keras.layers.Dense(1),
    ]
    return tg.keras.Sequential(layers)


@pytest.mark.parametrize("how,round_trip", ROUND_TRIPS, ids=ROUND_TRIP_IDS)
@pytest.mark.parametrize("built", [True, False])
def test_sequential_round_trip(how, round_trip, built):
    model = _model(built)
    copy_ = round_trip(model)
    assert [type(layer) for layer in copy_.layers] == [type(layer) for layer in model.layers]
    assert [layer.name for layer in copy_.layers] == [layer.name for layer in model.layers]
    x = np.arange(6.0).reshape(2, 3)
    if not built:  # both build on their first call, each with its own weights
        model(x)
        copy_(x)
        copy_.set_weights(model.get_weights())
    assert [v.name for v in copy_.variables] == [v.name for v in model.variables]
    for a, b in zip(model.variables, copy_.variables):
        assert a is not b
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(copy_(x).numpy(), model(x).numpy())
    # training mode: the dropout stream continues identically in both
    np.testing.assert_array_equal(copy_(x, training=True).numpy(), model(x, training=True).numpy())
    copy_.variables[0].assign(np.zeros(copy_.variables[0].shape))  # independent
    assert np.any(model.variables[0].numpy() != 0)


def _adapted_normalization():
    layer = tg.keras.layers.Normalization(name="norm")
    layer.adapt(np.arange(12.0).reshape(4, 3))
    return layer


LAYERS = [
    ("dense", lambda: tg.keras.layers.Dense(2, activation="tanh", input_shape=(3,), name="head")),
    ("normalization", _adapted_normalization),
    ("dropout", lambda: tg.keras.layers.Dropout(0.5, seed=2, name="drop")),
    ("softmax", lambda: tg.keras.layers.Softmax(name="probs")),
    ("flatten", lambda: tg.keras.layers.Flatten(name="flat")),
]


@pytest.mark.parametrize("how,round_trip", ROUND_TRIPS, ids=ROUND_TRIP_IDS)
@pytest.mark.parametrize("kind,make", LAYERS, ids=[row[0] for row in LAYERS])
def test_layer_round_trip(kind, make, how, round_trip):
    layer = make()
    twin = round_trip(layer)
    assert type(twin) is type(layer) and twin.name == layer.name
    assert twin.built == layer.built and twin.get_config() == layer.get_config()
    x = np.linspace(-1.0, 1.0, 12).reshape(4, 3)
    np.testing.assert_array_equal(twin(x, training=True).numpy(), layer(x, training=True).numpy())
    for a, b in zip(layer.variables, twin.variables):
        assert a is not b and a.name == b.name
        np.testing.assert_array_equal(a.numpy(), b.numpy())


OPTIMIZERS = [
    ("sgd", lambda: tg.optimizers.SGD(0.05)),
    ("sgd_momentum", lambda: tg.optimizers.SGD(0.05, momentum=0.9, nesterov=True)),
    ("adam", lambda: tg.optimizers.Adam(0.01, clipnorm=1.0)),
    ("adamw", lambda: tg.optimizers.AdamW(0.01, weight_decay=0.1)),
    ("rmsprop", lambda: tg.optimizers.RMSprop(0.01, momentum=0.5, centered=True)),
    ("adagrad", lambda: tg.optimizers.Adagrad(0.1)),
    (
        "adam_schedule",
        lambda: tg.optimizers.Adam(tg.optimizers.schedules.ExponentialDecay(0.01, 2, 0.5)),
    ),
]


def _train_steps(model, optimizer, steps: int, x, y) -> list:
    losses = []
    for _ in range(steps):
        with tg.GradientTape() as tape:
            loss = tg.reduce_mean(tg.square(model(x) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        losses.append(float(loss))
    return losses


@pytest.mark.parametrize("how,round_trip", ROUND_TRIPS, ids=ROUND_TRIP_IDS)
@pytest.mark.parametrize("name,make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_training_continues_identically_after_round_trip(name, make, how, round_trip):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 1))
    tg.set_random_seed(5)
    model = tg.keras.Sequential(
        [tg.keras.layers.Dense(4, activation="tanh", input_shape=(3,)), tg.keras.layers.Dense(1)]
    )
    optimizer = make()
    _train_steps(model, optimizer, 3, x, y)
    model2, optimizer2 = round_trip((model, optimizer))
    assert optimizer2.iterations == optimizer.iterations == 3
    assert optimizer2.get_config() == optimizer.get_config()
    for var, var2 in zip(model.trainable_variables, model2.trainable_variables):
        for slot in optimizer._impl.slot_names:
            a, b = optimizer._impl.get_slot(slot, var), optimizer2._impl.get_slot(slot, var2)
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_array_equal(a, b)
    assert _train_steps(model2, optimizer2, 3, x, y) == _train_steps(model, optimizer, 3, x, y)
    for a, b in zip(model.variables, model2.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert optimizer2.iterations == optimizer.iterations == 6


def test_compiled_model_round_trip_trains():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    model = _model(built=True)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    twin = pickle.loads(pickle.dumps(model))
    assert twin.optimizer.iterations == model.optimizer.iterations == 2
    h1 = model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    h2 = twin.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    assert h1.history["loss"] == h2.history["loss"]
    for a, b in zip(model.variables, twin.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_optimizer_slot_of_wrong_shape_is_a_clear_error():
    opt = tg.optimizers.Adam()
    v = tg.Variable(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        opt._impl.set_slot("m", v, np.zeros(3))
    with pytest.raises(ValueError, match="no slot 'velocity'"):
        opt._impl.get_slot("velocity", v)
