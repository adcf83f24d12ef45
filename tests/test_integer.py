"""Integer and bool tensors: dtype rules at the boundary, NumPy's promotion, the ops with integer
or bool results (every name in ``_core.integer_ops`` has a row here), and the rule that nothing
integer is ever differentiable."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg

iops = tg._core.integer_ops
DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
TG_OF = {
    np.dtype(np.float32): tg.float32,
    np.dtype(np.float64): tg.float64,
    np.dtype(np.int32): tg.int32,
    np.dtype(np.int64): tg.int64,
    np.dtype(np.bool_): tg.bool,
}


def sample(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind == "i":
        return rng.integers(-5, 6, size=shape).astype(dtype)
    return (rng.integers(-5, 6, size=shape) / 2).astype(dtype)  # exact halves: ties compare equal


# ---- the boundary: which dtype a value becomes


@pytest.mark.parametrize(
    "value, dtype",
    [
        (1, tg.int32),
        ([1, 2], tg.int32),
        ([[1], [2]], tg.int32),
        (2**40, tg.int64),
        ([1, 2**40], tg.int64),
        (True, tg.bool),
        ([True, False], tg.bool),
        (1.5, tg.float32),
        ([1, 2.5], tg.float32),
        (np.array([1, 2], np.int64), tg.int64),
        (np.array([1, 2], np.int32), tg.int32),
        (np.array([1, 2], np.int8), tg.int32),
        (np.array([1, 2], np.uint8), tg.int32),
        (np.array([1, 2], np.uint32), tg.int64),
        (np.array([True]), tg.bool),
        (np.array([1.0], np.float16), tg.float32),
        (np.float64(2.0), tg.float64),
        (np.int64(3), tg.int64),
    ],
)
def test_constant_dtype_follows_tensorflow(value, dtype):
    t = tg.constant(value)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.asarray(value).astype(dtype.as_numpy_dtype))


def test_integer_values_convert_exactly_and_round_trip():
    big = 2**62 + 1  # not representable in float64
    t = tg.constant(big)
    assert t.dtype == tg.int64 and int(t) == big and t.numpy().item() == big
    a = np.array([-(2**63), 2**63 - 1], np.int64)
    np.testing.assert_array_equal(tg.constant(a).numpy(), a)
    assert np.asarray(tg.constant(a)).dtype == np.int64
    assert memoryview(tg.constant(np.array([1, 2], np.int32))).format == "i"
    assert memoryview(tg.constant([True])).format == "?"
    assert bool(tg.constant(True)) and not bool(tg.constant(0))


def test_dtype_objects():
    assert tg.int32.as_numpy_dtype is np.int32 and tg.bool.as_numpy_dtype is np.bool_
    assert tg.int64.is_integer and not tg.int64.is_floating and tg.bool.is_bool
    assert tg.float32.is_floating
    assert tg.constant(1, dtype=np.int64).dtype == tg.int64
    assert tg.constant(1, dtype="bool").dtype == tg.bool
    assert tg.zeros((2,), tg.int32).dtype == tg.int32
    assert tg.ones((2,), "int64").numpy().tolist() == [1, 1]
    with pytest.raises(TypeError, match="int16"):
        tg.constant(1, dtype=np.int16)
    with pytest.raises(ValueError, match="out of bounds for int32"):
        tg.constant(np.ones(2, np.int32)) + 2**40


# ---- promotion: NumPy's rules


@pytest.mark.parametrize("da", DTYPES)
@pytest.mark.parametrize("db", DTYPES)
def test_add_multiply_promote_like_numpy(da, db):
    rng = np.random.default_rng(0)
    a, b = sample(rng, (3, 1), da), sample(rng, (4,), db)
    for op, ref in [(tg.add, np.add), (tg.multiply, np.multiply), (tg.maximum, np.maximum)]:
        got = op(tg.constant(a), tg.constant(b))
        want = ref(a, b)
        assert got.dtype == TG_OF[want.dtype], (op, da, db)
        np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize(
    "dtype, scalar, result",
    [
        (np.int32, 2, tg.int32),
        (np.int32, 2.5, tg.float64),
        (np.int64, True, tg.int64),
        (np.bool_, 1, tg.int64),
        (np.bool_, 1.5, tg.float64),
        (np.float32, 2, tg.float32),
        (np.float32, 2.5, tg.float32),
    ],
)
def test_python_scalars_are_weak(dtype, scalar, result):
    x = tg.constant(np.array([1, 0, 3]).astype(dtype))
    assert (x * scalar).dtype == result
    assert (scalar * x).dtype == result
    np.testing.assert_array_equal((x * scalar).numpy(), np.array([1, 0, 3]).astype(dtype) * scalar)


def test_integer_arithmetic_wraps_like_numpy():
    a = np.array([2**31 - 1, -(2**31), 7, -7], np.int32)
    b = np.array([1, -1, 2, 2], np.int32)
    ta, tb = tg.constant(a), tg.constant(b)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal((ta + tb).numpy(), a + b)
        np.testing.assert_array_equal((ta - tb).numpy(), a - b)
        np.testing.assert_array_equal((ta * tb).numpy(), a * b)
        np.testing.assert_array_equal((-ta).numpy(), -a)
        np.testing.assert_array_equal(abs(ta).numpy(), np.abs(a))
    np.testing.assert_array_equal(tg.square(tb).numpy(), b * b)
    assert (ta / tb).dtype == tg.float64
    np.testing.assert_allclose((ta / tb).numpy(), a / b)


def test_floor_div_and_mod_match_python():
    rng = np.random.default_rng(1)
    for dtype in (np.int32, np.int64):
        a = rng.integers(-50, 50, 200).astype(dtype)
        b = rng.integers(-7, 8, 200).astype(dtype)
        b[b == 0] = 3
        ta, tb = tg.constant(a), tg.constant(b)
        np.testing.assert_array_equal((ta // tb).numpy(), a // b)
        np.testing.assert_array_equal((ta % tb).numpy(), a % b)
        np.testing.assert_array_equal((ta // 4).numpy(), a // 4)
    # Division by zero gives 0 (NumPy's value) and INT_MIN // -1 wraps: never a trap.
    z = tg.constant(np.array([5, -(2**31)], np.int32)) // tg.constant(np.array([0, -1], np.int32))
    assert z.numpy().tolist() == [0, -(2**31)]
    assert (tg.constant([5]) % 0).numpy().tolist() == [0]
    with pytest.raises(TypeError, match="floor_div: expected integer tensors, got float32"):
        tg.constant([1.0]) // 2


@pytest.mark.parametrize("op", ["exp", "log", "sqrt", "tanh", "sigmoid", "relu"])
def test_float_only_ops_name_themselves(op):
    with pytest.raises(TypeError, match=f"{op}: expected a float32 or float64 tensor, got int32"):
        getattr(tg._core.ops, op)(tg.constant([1, 2]))


def test_other_float_only_ops_raise_type_error():
    i = tg.constant([[1, 2]])
    with pytest.raises(TypeError, match="int32"):
        tg.matmul(i, tg.transpose(i))
    with pytest.raises(TypeError, match="negative: not defined for bool"):
        -tg.constant([True])
    with pytest.raises(TypeError, match="pow"):
        tg.pow(i, i)


# ---- comparisons and logic

COMPARISONS = {
    "equal": np.equal,
    "not_equal": np.not_equal,
    "less": np.less,
    "less_equal": np.less_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
}


@pytest.mark.parametrize("name", sorted(COMPARISONS))
@pytest.mark.parametrize(
    "da, db",
    [
        (np.float32, np.float32),
        (np.int32, np.float64),
        (np.int64, np.int32),
        (np.bool_, np.bool_),
        (np.float32, np.int64),
    ],
)
def test_comparisons_match_numpy(name, da, db):
    rng = np.random.default_rng(2)
    a, b = sample(rng, (4, 1, 3), da), sample(rng, (5, 1), db)
    got = getattr(tg, name)(tg.constant(a), tg.constant(b))
    assert got.dtype == tg.bool and got.shape == (4, 5, 3)
    np.testing.assert_array_equal(got.numpy(), COMPARISONS[name](a, b))


def test_comparisons_with_nan_and_python_operators():
    x = tg.constant([np.nan, 1.0, 2.0])
    assert tg.equal(x, x).numpy().tolist() == [False, True, True]
    assert tg.not_equal(x, x).numpy().tolist() == [True, False, False]
    assert (x < 2).numpy().tolist() == [False, True, False]
    assert (x >= 1).numpy().tolist() == [False, True, True]
    assert (2 > x).numpy().tolist() == [False, True, False]
    v = tg.Variable([1.0, 3.0])
    assert (v > 2.0).numpy().tolist() == [False, True]
    assert (x == x) is True and {x: 1}[x] == 1  # == stays identity: tensors are dict keys


@pytest.mark.parametrize(
    "name, ref",
    [
        ("logical_and", np.logical_and),
        ("logical_or", np.logical_or),
        ("logical_xor", np.logical_xor),
    ],
)
def test_logical_ops(name, ref):
    rng = np.random.default_rng(3)
    a, b = rng.random((3, 4)) < 0.5, rng.random((4,)) < 0.5
    np.testing.assert_array_equal(getattr(tg, name)(a, b).numpy(), ref(a, b))
    with pytest.raises(TypeError, match=f"{name}: expected bool tensors, got float32"):
        getattr(tg, name)(tg.constant([1.0]), a[0])
    op = {"logical_and": "__and__", "logical_or": "__or__", "logical_xor": "__xor__"}[name]
    np.testing.assert_array_equal(getattr(tg.constant(a), op)(tg.constant(b)).numpy(), ref(a, b))


def test_logical_not_and_bool_reductions():
    a = np.array([[True, False, True], [True, True, True]])
    np.testing.assert_array_equal(tg.logical_not(a).numpy(), ~a)
    np.testing.assert_array_equal((~tg.constant(a)).numpy(), ~a)
    assert tg.reduce_any(a).numpy().item() is True
    np.testing.assert_array_equal(tg.reduce_all(a, axis=1).numpy(), a.all(1))
    np.testing.assert_array_equal(
        tg.reduce_any(a, axis=0, keepdims=True).numpy(), a.any(0, keepdims=True)
    )
    assert tg.reduce_all(np.zeros((0,), bool)).numpy().item() is True
    with pytest.raises(TypeError, match="reduce_any: expected a bool tensor, got int32"):
        tg.reduce_any(tg.constant([1]))


# ---- casts and reductions


@pytest.mark.parametrize("src", DTYPES)
@pytest.mark.parametrize("dst", DTYPES)
def test_cast_matches_numpy_astype(src, dst):
    rng = np.random.default_rng(4)
    x = sample(rng, (2, 5), src)
    got = tg.cast(tg.constant(x), TG_OF[np.dtype(dst)])
    assert got.dtype == TG_OF[np.dtype(dst)]
    np.testing.assert_array_equal(got.numpy(), x.astype(dst))


def test_cast_float_to_int_truncates_saturates_and_maps_nan_to_zero():
    x = tg.constant(np.array([2.7, -2.7, np.nan, 1e20, -1e20, np.inf], np.float64))
    assert tg.cast(x, tg.int32).numpy().tolist() == [2, -2, 0, 2**31 - 1, -(2**31), 2**31 - 1]
    assert tg.cast(x, tg.int64).numpy().tolist()[:3] == [2, -2, 0]
    assert tg.cast(x, tg.bool).numpy().tolist() == [True, True, True, True, True, True]


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 2)])
def test_integer_reductions(dtype, axis):
    rng = np.random.default_rng(5)
    x = sample(rng, (3, 4, 2), dtype)
    t = tg.constant(x)
    s = tg.reduce_sum(t, axis=axis)
    want = x.sum(axis=axis, dtype=np.int64 if dtype == np.bool_ else dtype)
    assert s.dtype == TG_OF[np.dtype(want.dtype)]
    np.testing.assert_array_equal(s.numpy(), want)
    np.testing.assert_array_equal(tg.reduce_max(t, axis=axis).numpy(), x.max(axis=axis))
    m = tg.reduce_mean(t, axis=axis)
    assert m.dtype == tg.float64
    np.testing.assert_allclose(m.numpy(), x.mean(axis=axis))


# ---- argmax, argmin, one_hot


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_argmax_argmin_match_numpy(dtype, axis):
    rng = np.random.default_rng(6)
    x = sample(rng, (5, 7, 3), dtype)  # many ties: the first index wins, as in NumPy
    for fn, ref in [(tg.argmax, np.argmax), (tg.argmin, np.argmin)]:
        got = fn(x, axis=axis)
        assert got.dtype == tg.int64
        np.testing.assert_array_equal(got.numpy(), ref(x, axis=axis))
    assert tg.argmax(x, axis=axis, output_type=tg.int32).dtype == tg.int32


def test_argmax_nan_empty_and_errors():
    x = np.array([[1.0, np.nan, 5.0, np.nan], [3.0, 2.0, 1.0, 0.0]], np.float32)
    np.testing.assert_array_equal(tg.argmax(x, 1).numpy(), np.argmax(x, 1))
    np.testing.assert_array_equal(tg.argmin(x, 1).numpy(), np.argmin(x, 1))
    assert tg.argmax(np.zeros((0, 3)), axis=1).shape == (0,)
    assert tg.argmax([4.0, 9.0, 1.0]).numpy().item() == 1  # axis defaults to 0
    with pytest.raises(ValueError, match=r"argmax: axis 0 of shape \(0, 3\) is empty"):
        tg.argmax(np.zeros((0, 3)), axis=0)
    with pytest.raises(ValueError, match="0-d"):
        tg.argmin(tg.constant(1.0))
    with pytest.raises(ValueError, match="argmax"):
        tg.argmax(np.zeros((2, 3)), axis=2)
    with pytest.raises(TypeError, match="output_type must be int32 or int64"):
        tg.argmax(np.zeros(3), output_type=tg.float32)


def _one_hot_ref(idx, depth, axis, on=1.0, off=0.0):
    eye = np.arange(depth)
    hot = idx[..., None] == eye
    out = np.where(hot, on, off)
    return np.moveaxis(out, -1, axis if axis != -1 else -1)


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_one_hot(axis, dtype):
    idx = np.array([[0, 3, -1], [2, 5, 1]], dtype)  # -1 and 5 are out of range: all-off rows
    got = tg.one_hot(idx, 4, axis=axis)
    assert got.dtype == tg.float32
    np.testing.assert_array_equal(got.numpy(), _one_hot_ref(idx, 4, axis).astype(np.float32))
    got = tg.one_hot(idx, 4, on_value=5, off_value=-1, axis=axis, dtype=tg.int64)
    assert got.dtype == tg.int64
    np.testing.assert_array_equal(got.numpy(), _one_hot_ref(idx, 4, axis, 5, -1))


def test_one_hot_dtypes_and_errors():
    assert tg.one_hot([1, 0], 2, on_value=tg.constant(2.0, tg.float64)).dtype == tg.float64
    assert tg.one_hot(tg.constant(1), 3).numpy().tolist() == [0.0, 1.0, 0.0]
    assert tg.one_hot(np.zeros((0,), np.int64), 3).shape == (0, 3)
    assert tg.one_hot([1], 0).shape == (1, 0)
    with pytest.raises(TypeError, match="one_hot: indices must be int32 or int64, got float32"):
        tg.one_hot([1.0], 3)
    with pytest.raises(ValueError, match="depth must be >= 0"):
        tg.one_hot([1], -1)


# ---- movement ops carry integers and bools


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_])
def test_movement_ops_on_integers(dtype):
    rng = np.random.default_rng(7)
    x = sample(rng, (3, 4), dtype)
    t = tg.constant(x)
    np.testing.assert_array_equal(tg.reshape(t, (4, 3)).numpy(), x.reshape(4, 3))
    np.testing.assert_array_equal(tg.transpose(t).numpy(), x.T)
    np.testing.assert_array_equal(tg.concat([t, t], 0).numpy(), np.concatenate([x, x]))
    np.testing.assert_array_equal(tg.stack([t, t], 1).numpy(), np.stack([x, x], 1))
    np.testing.assert_array_equal(t[1:, ::-2].numpy(), x[1:, ::-2])
    np.testing.assert_array_equal(t[[2, 0]].numpy(), x[[2, 0]])
    np.testing.assert_array_equal(tg.gather(t, [1, 1], axis=1).numpy(), x[:, [1, 1]])
    np.testing.assert_array_equal(
        tg.broadcast_to(t[:1], (2, 4)).numpy(), np.broadcast_to(x[:1], (2, 4))
    )
    cond = rng.random((3, 4)) < 0.5
    np.testing.assert_array_equal(tg.where(cond, t, t[::-1]).numpy(), np.where(cond, x, x[::-1]))
    assert t.numpy().dtype == np.dtype(dtype)


def test_where_condition_of_any_dtype_means_nonzero():
    vals = tg.constant([10, 20, 30])
    np.testing.assert_array_equal(
        tg.where(tg.constant([0.5, 0.0, -1.0]), vals, 0).numpy(), [10, 0, 30]
    )
    np.testing.assert_array_equal(
        tg.where(tg.constant([True, False, True]), 1.0, 2.0).numpy(), [1.0, 2.0, 1.0]
    )


def test_indexing_with_integer_tensors():
    x = tg.constant(np.arange(12.0).reshape(3, 4))
    idx = tg.argmax(x, axis=0)  # int64 [2, 2, 2, 2]
    np.testing.assert_array_equal(x[idx].numpy(), np.arange(12.0).reshape(3, 4)[[2, 2, 2, 2]])


# ---- never differentiable


def test_watch_of_an_integer_tensor_warns_and_is_ignored():
    i = tg.constant([1, 2])
    with tg.GradientTape() as tape:
        with pytest.warns(UserWarning, match="must be floating.*got tg.int32"):
            tape.watch(i)
        y = tg.reduce_sum(i * 2)
    assert tape.gradient(y, i) is None


def test_watch_warning_can_be_an_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with tg.GradientTape() as tape, pytest.raises(UserWarning):
            tape.watch(tg.constant([True]))


def test_gradients_never_flow_through_integer_paths():
    x = tg.Variable([1.7, -2.2, 3.9])
    with tg.GradientTape(persistent=True) as tape:
        rounded = tg.cast(tg.cast(x, tg.int32), tg.float32)
        y = tg.reduce_sum(rounded * x)  # only the direct x path is differentiable
        mask = tg.cast(x > 0, tg.float32)
        z = tg.reduce_sum(mask * x * x)
        n = tg.reduce_sum(tg.cast(x, tg.int32))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [1.0, -2.0, 3.0])
    np.testing.assert_allclose(tape.gradient(z, x).numpy(), [3.4, 0.0, 7.8], rtol=1e-6)
    assert tape.gradient(n, x) is None
    assert tape.gradient(rounded, x) is None
    zero = tape.gradient(rounded, x, unconnected_gradients=tg.UnconnectedGradients.ZERO)
    np.testing.assert_array_equal(zero.numpy(), [0.0, 0.0, 0.0])


def test_integer_variables_are_not_watched():
    counter = tg.Variable(3)
    assert counter.dtype == tg.int32
    w = tg.Variable(2.0)
    with tg.GradientTape() as tape:
        y = w * tg.cast(counter, tg.float32)
    assert [v.name for v in tape.watched_variables()] == [w.name]
    assert tape.gradient(y, [w, counter])[1] is None
    counter.assign_add(2)
    assert int(counter.numpy()) == 5


def test_forward_mode_ignores_integer_results():
    x = tg.constant([1.5, -0.5])
    with tg.autodiff.ForwardAccumulator(x, tg.constant([1.0, 1.0])) as acc:
        k = tg.argmax(x)
        y = x * tg.cast(k + 1, tg.float32)
    assert acc.jvp(k) is None
    np.testing.assert_allclose(acc.jvp(y).numpy(), [1.0, 1.0])


def test_compiled_function_replays_integer_ops():
    @tg.function
    def accuracy(logits, labels):
        hits = tg.equal(tg.argmax(logits, axis=1), labels)
        return tg.reduce_mean(tg.cast(hits, tg.float32)), tg.reduce_sum(
            tg.one_hot(labels, 3), axis=0
        )

    rng = np.random.default_rng(8)
    for _ in range(3):
        logits = rng.normal(size=(16, 3)).astype(np.float32)
        labels = rng.integers(0, 3, 16)
        acc, counts = accuracy(logits, labels)
        assert acc.numpy() == pytest.approx(np.mean(logits.argmax(1) == labels))
        np.testing.assert_array_equal(counts.numpy(), np.bincount(labels, minlength=3))
    assert accuracy.experimental_get_tracing_count() == 1


# ---- coverage: every integer op has a test above

COVERED = {
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_xor", "logical_not",
    "floor_div", "floor_mod", "reduce_any", "reduce_all", "argmax", "argmin", "one_hot",
}  # fmt: skip


def test_every_integer_op_is_covered():
    assert {n for n in dir(iops) if not n.startswith("_")} == COVERED
