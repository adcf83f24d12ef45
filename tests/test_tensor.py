"""Tensor and Variable basics: printing, shapes, dtypes, NumPy interop (views, buffer protocol,
DLPack), Python operators on both sides, conversions, Variable updates and Note [Saved values
never change] (see tensor.h)."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import tapegrad as tg


def val(t):
    assert t is not None, "expected a gradient, got None"
    return np.asarray(t, dtype=np.float64)


# ---- printing ----------------------------------------------------------------------------------


def test_str_and_repr_of_scalar_tensor():
    t = tg.constant(4.0)
    assert str(t) == "tg.Tensor(4.0, shape=(), dtype=float32)"
    assert repr(t) == "<tg.Tensor: shape=(), dtype=float32, numpy=4.0>"
    assert str(tg.constant(np.array(1.5))) == "tg.Tensor(1.5, shape=(), dtype=float64)"


def test_str_and_repr_of_vector_tensor():
    t = tg.constant([1.0, 2.0])
    assert str(t) == "tg.Tensor([1. 2.], shape=(2,), dtype=float32)"
    assert repr(t) == "<tg.Tensor: shape=(2,), dtype=float32, numpy=array([1., 2.], dtype=float32)>"


def test_repr_of_variable():
    v = tg.Variable(0.9999999)
    expected = "<tg.Variable 'Variable:0' shape=() dtype=float32, numpy=0.9999999>"
    assert repr(v) == expected
    assert str(v) == expected
    assert (
        repr(tg.Variable(1.0, name="w")) == "<tg.Variable 'w:0' shape=() dtype=float32, numpy=1.0>"
    )
    assert repr(tg.Variable([1.0, 2.0])) == (
        "<tg.Variable 'Variable:0' shape=(2,) dtype=float32, numpy=array([1., 2.], dtype=float32)>"
    )


def test_print_of_list_of_tensors_uses_repr(capsys):
    print([tg.constant(4.0), None])
    assert capsys.readouterr().out == "[<tg.Tensor: shape=(), dtype=float32, numpy=4.0>, None]\n"


# ---- shapes and dtypes -------------------------------------------------------------------------


def test_zero_d_empty_and_one_element_tensors():
    s = tg.constant(3.0)
    assert s.shape == () and s.ndim == 0 and s.size == 1
    assert float(s) == 3.0
    e = tg.constant([])
    assert e.shape == (0,) and e.size == 0 and e.dtype == tg.float32
    e2 = tg.constant(np.zeros((0, 3)))
    assert e2.shape == (0, 3) and e2.dtype == tg.float64
    assert np.asarray(e2).shape == (0, 3)
    assert tg.reduce_sum(e2, axis=0).shape == (3,)
    assert len(e) == 0
    one = tg.constant([[5.0]])
    assert one.shape == (1, 1) and one.size == 1
    assert float(one) == 5.0 and bool(one) is True
    # gradients through empty and 1-element tensors
    x = tg.constant(np.zeros((0, 3)))
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = tg.reduce_sum(x * 2.0)
    g = tape.gradient(y, x)
    assert g.shape == (0, 3)
    w = tg.Variable([[2.0]])
    with tg.GradientTape() as tape:
        y = w * w
    assert val(tape.gradient(y, w)).tolist() == [[4.0]]


def test_float32_default_and_float64_preserved():
    assert tg.constant(1.0).dtype == tg.float32
    assert tg.constant(1).dtype == tg.int32  # TensorFlow's integer default
    assert tg.constant([1, 2]).dtype == tg.int32
    assert tg.constant([1, 2.0]).dtype == tg.float32
    assert tg.constant([[1.0, 2.0]]).dtype == tg.float32
    assert tg.constant(np.array([1.0], dtype=np.float32)).dtype == tg.float32
    assert tg.constant(np.array([1.0], dtype=np.float64)).dtype == tg.float64
    assert tg.Variable(np.array([1.0])).dtype == tg.float64
    assert tg.constant(1.0, dtype=tg.float64).dtype == tg.float64
    assert tg.constant(1.0, dtype="float64").dtype == tg.float64
    assert tg.constant(np.ones(2), dtype=np.float32).dtype == tg.float32
    f64 = tg.constant(np.array([1.0, 2.0]))
    assert (f64 * 2.0).dtype == tg.float64
    assert (3 - f64).dtype == tg.float64
    assert tg.exp(f64).dtype == tg.float64
    assert f64.numpy().dtype == np.float64
    assert tg.float32.as_numpy_dtype == np.float32
    assert tg.float64.name == "float64"


def test_numpy_float64_scalar_gives_float64_tensor():
    assert tg.constant(np.float64(0.1)).dtype == tg.float64
    assert tg.Variable(np.float64(0.1)).dtype == tg.float64
    assert float(tg.constant(np.float64(1.0 + 2e-10))) == 1.0 + 2e-10


def test_numpy_float32_scalar_keeps_its_dtype_and_exact_value():
    for v in (0.1, -3.5e-39, 3.4e38, np.inf, np.nan):
        t = tg.constant(np.float32(v))
        assert t.dtype == tg.float32 and t.shape == ()
        np.testing.assert_array_equal(t.numpy(), np.float32(v))
    # a NumPy scalar beside a tensor takes the tensor's dtype, like a Python number
    assert (tg.constant([1.0, 2.0], dtype=tg.float64) * np.float32(0.1)).dtype == tg.float64
    np.testing.assert_array_equal((tg.constant([1.0, 2.0]) * np.float32(3)).numpy(), [3.0, 6.0])


def test_numpy_float64_scalar_mixed_into_float64_tensor_keeps_precision():
    x = tg.constant(np.array(1.0))
    y = x + np.float64(2e-10)
    assert y.dtype == tg.float64 and float(y) == 1.0 + 2e-10


# ---- NumPy out ---------------------------------------------------------------------------------


def test_numpy_is_a_zero_copy_read_only_view():
    t = tg.constant([1.0, 2.0, 3.0])
    a = t.numpy()
    assert isinstance(a, np.ndarray)
    assert a.dtype == np.float32 and a.shape == (3,)
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[0] = 10.0
    assert np.shares_memory(a, t.numpy())
    assert np.shares_memory(a, np.asarray(t))
    with pytest.raises(ValueError):
        a.setflags(write=True)  # a view of memory it does not own cannot be made writable
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0, 3.0])


def test_numpy_view_outlives_the_tensor():
    t = tg.constant(np.arange(1000.0))
    a = t.numpy()
    del t
    import gc

    gc.collect()
    big = [tg.constant(np.full(1000, 7.0)) for _ in range(20)]  # reuse freed memory, if any
    np.testing.assert_array_equal(a, np.arange(1000.0))
    del big


def test_variable_numpy_is_a_copy():
    v = tg.Variable([1.0, 2.0])
    a = v.numpy()
    np.testing.assert_array_equal(a, [1.0, 2.0])
    assert not np.shares_memory(a, v.numpy())
    assert not np.shares_memory(a, np.asarray(v))
    try:
        a[0] = 99.0
    except ValueError:
        pass  # read-only is fine too
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])
    v.assign([3.0, 4.0])
    assert a[1] == 2.0  # the copy does not follow the variable either


def test_array_protocol_and_asarray():
    t = tg.constant([1.0, 2.0])
    a = np.asarray(t)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, [1.0, 2.0])
    b = np.array(t, dtype=np.float64)
    assert b.dtype == np.float64
    c = np.array(t)  # copy=True default: a writable copy
    assert c.flags.writeable and not np.shares_memory(c, t.numpy())
    c[0] = 5.0
    assert float(t[0]) == 1.0
    d = t.__array__()
    assert np.shares_memory(d, t.numpy())
    assert np.asarray(tg.Variable([3.0])).tolist() == [3.0]
    assert np.asarray(tg.constant(2.5)).shape == ()
    # numpy functions that convert their argument accept tensors (np.mean is the TF guide's
    # "detour through numpy"); ufuncs give NumPy arrays too (tests/test_interop.py)
    assert np.mean(tg.constant([1.0, 2.0, 3.0])) == 2.0
    assert np.sum(np.asarray(tg.constant([1.0, 2.0, 3.0]))) == 6.0


def test_buffer_protocol():
    t = tg.constant(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    m = memoryview(t)
    assert m.readonly
    assert m.format == "f" and m.itemsize == 4
    assert m.shape == (2, 3) and m.strides == (12, 4)
    assert m.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    with pytest.raises(TypeError):
        m[0, 0] = 1.0
    m64 = memoryview(tg.constant(np.ones(2)))
    assert m64.format == "d" and m64.itemsize == 8
    assert np.frombuffer(tg.constant([1.0, 2.0]), dtype=np.float32).tolist() == [1.0, 2.0]


def test_dlpack():
    t = tg.constant([[1.0, 2.0], [3.0, 4.0]])
    a = np.from_dlpack(t)
    assert a.dtype == np.float32 and a.shape == (2, 2)
    np.testing.assert_array_equal(a, [[1.0, 2.0], [3.0, 4.0]])
    assert np.shares_memory(a, t.numpy())
    dev_type, dev_id = t.__dlpack_device__()
    assert int(dev_type) == 1 and dev_id == 0  # kDLCPU
    a64 = np.from_dlpack(tg.constant(np.array([1.0])))
    assert a64.dtype == np.float64


# ---- Python operators with scalars, lists and arrays on either side ----------------------------

OPS = [
    ("add", operator.add),
    ("sub", operator.sub),
    ("mul", operator.mul),
    ("truediv", operator.truediv),
    ("pow", operator.pow),
]


@pytest.mark.parametrize("name, op", OPS, ids=[n for n, _ in OPS])
@pytest.mark.parametrize(
    "other",
    [
        2.0,
        2,
        [2.0, 3.0],
        (2.0, 3.0),
        np.array([2.0, 3.0], dtype=np.float32),
        np.array([2.0, 3.0]),
        np.float32(2.0),
        np.array(2.0, dtype=np.float32),
    ],
    ids=["float", "int", "list", "tuple", "ndarray32", "ndarray64", "np.float32", "0d-ndarray"],
)
def test_operators_mix_with_python_and_numpy_on_both_sides(name, op, other):
    xv = np.array([1.5, 2.5], dtype=np.float32)
    x = tg.Variable(xv)
    ov = np.asarray(other, dtype=np.float64)
    for left in (True, False):
        with tg.GradientTape() as tape:
            y = op(x, other) if left else op(other, x)
        assert isinstance(y, tg.Tensor), f"{type(other).__name__} {name}: got {type(y)}"
        expected = op(xv.astype(np.float64), ov) if left else op(ov, xv.astype(np.float64))
        np.testing.assert_allclose(val(y), expected, rtol=1e-6)
        g = tape.gradient(y, x)
        assert g is not None, (
            f"{name} with {type(other).__name__} on the {'right' if left else 'left'} not recorded"
        )
        assert g.dtype == tg.float32
        eps = 1e-6
        num = (
            (op(xv.astype(np.float64) + eps, ov) - op(xv.astype(np.float64) - eps, ov)) / (2 * eps)
            if left
            else (op(ov, xv.astype(np.float64) + eps) - op(ov, xv.astype(np.float64) - eps))
            / (2 * eps)
        )
        np.testing.assert_allclose(val(g), np.broadcast_to(num, xv.shape), rtol=1e-4)


def test_ndarray_times_tensor_gives_tensor_recorded_on_tape():
    x = tg.constant([1.0, 2.0])
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = np.array([3.0, 4.0], dtype=np.float32) * x
        z = np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32) @ tg.reshape(y, (2, 1))
        w = np.float32(2.0) - z
    assert isinstance(y, tg.Tensor) and isinstance(z, tg.Tensor) and isinstance(w, tg.Tensor)
    np.testing.assert_array_equal(val(tape.gradient(w, x)), [-3.0, -8.0])


def test_unary_operators_and_variables_on_both_sides():
    v = tg.Variable([1.0, -2.0])
    with tg.GradientTape() as tape:
        a = -v
        b = abs(v)
        c = +v
        d = v + v
        e = v * v
    for t in (a, b, c, d, e):
        assert isinstance(t, tg.Tensor) and not isinstance(t, tg.Variable)
    g = tape.gradient([a, b, c, d, e], v)
    np.testing.assert_array_equal(val(g), [-1 + 1 + 1 + 2 + 2, -1 - 1 + 1 + 2 - 4])


def test_len_float_bool_int():
    t = tg.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert len(t) == 3
    assert float(tg.constant(2.5)) == 2.5
    assert float(tg.constant([2.5])) == 2.5
    assert int(tg.constant(3.7)) == 3
    assert bool(tg.constant(0.0)) is False and bool(tg.constant(-1.0)) is True
    v = tg.Variable([1.0, 2.0])
    assert len(v) == 2
    assert float(tg.Variable(1.5)) == 1.5
    assert bool(tg.Variable(0.0)) is False
    with pytest.raises(ValueError):
        bool(t)
    with pytest.raises(TypeError):
        len(tg.constant(1.0))


def test_iter_over_rows():
    t = tg.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    rows = list(t)
    assert len(rows) == 3 and all(isinstance(r, tg.Tensor) and r.shape == (2,) for r in rows)
    assert rows[2].numpy().tolist() == [5.0, 6.0]
    assert list(tg.constant([])) == []
    v = tg.Variable([1.0, 2.0])
    assert [float(e) for e in v] == [1.0, 2.0]


def test_iteration_inside_tape_is_differentiable():
    x = tg.Variable([1.0, 2.0, 3.0])
    with tg.GradientTape() as tape:
        total = tg.constant(0.0)
        for e in x:
            total = total + e * e
    np.testing.assert_array_equal(val(tape.gradient(total, x)), [2.0, 4.0, 6.0])


# ---- Variables ---------------------------------------------------------------------------------


def test_variable_attributes():
    v = tg.Variable([1.0, 2.0])
    assert v.shape == (2,) and v.dtype == tg.float32 and v.trainable is True
    assert v.name == "Variable:0"
    assert tg.Variable(1.0, name="w").name == "w:0"
    assert tg.Variable(1.0, trainable=False).trainable is False
    assert tg.Variable(np.ones((2, 3))).shape == (2, 3)
    assert tg.Variable(1.0, dtype=tg.float64).dtype == tg.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_variable_assign_in_place_same_object_dtype_kept(dtype):
    v = tg.Variable(np.array([1.0, 2.0], dtype=dtype))
    tgd = v.dtype
    r = v.assign([3, 4])  # Python ints accepted
    assert r is v or r is None or (isinstance(r, tg.Variable) and r.name == v.name)
    assert v.dtype == tgd
    np.testing.assert_array_equal(v.numpy(), [3.0, 4.0])
    v.assign_add([1, 1])
    np.testing.assert_array_equal(v.numpy(), [4.0, 5.0])
    v.assign_sub(np.array([0.5, 0.5]))  # a float64 array into a float32 variable keeps float32
    np.testing.assert_array_equal(v.numpy(), [3.5, 4.5])
    assert v.dtype == tgd
    v.assign(tg.constant([1.0, 1.0]))
    v.assign_add(tg.constant(np.array([1.0, 1.0])))
    np.testing.assert_array_equal(v.numpy(), [2.0, 2.0])
    assert v.dtype == tgd and v.shape == (2,)

    s = tg.Variable(np.array(1.0, dtype=dtype))
    s.assign_add(1)
    s.assign_sub(3)
    s.assign(7)
    assert float(s) == 7.0 and s.dtype == tgd


def test_variable_assign_returns_the_same_object():
    v = tg.Variable(1.0)
    assert v.assign(2.0) is v
    assert v.assign_add(1.0) is v
    assert v.assign_sub(1.0) is v


def test_variable_update_keeps_identity_for_the_tape():
    v = tg.Variable(1.0)
    ident = id(v)
    for _ in range(3):
        with tg.GradientTape() as tape:
            y = v * v
        g = tape.gradient(y, v)
        v.assign_sub(0.25 * g)
    assert id(v) == ident
    assert float(v) == pytest.approx(1.0 * 0.5**3)


def test_saved_values_never_change_after_assign():
    # Note [Saved values never change]
    v = tg.Variable([1.0, 2.0])
    with tg.GradientTape() as tape:
        y = v * v
    v.assign([10.0, 10.0])
    np.testing.assert_array_equal(val(tape.gradient(y, v)), [2.0, 4.0])
    np.testing.assert_array_equal(val(y), [1.0, 4.0])

    v = tg.Variable(3.0)
    with tg.GradientTape() as tape:
        y = tg.exp(v)
        v.assign_sub(1.0)  # inside the block
        v.assign_add(5.0)
    assert float(tape.gradient(y, v)) == pytest.approx(np.exp(3.0), rel=1e-6)

    v = tg.Variable(2.0)
    with tg.GradientTape(persistent=True) as tape:
        y = v * v * v
    for new in (0.0, -4.0, 100.0):
        v.assign(new)
        assert float(tape.gradient(y, v)) == 12.0
    del tape


def test_tensor_computed_from_variable_keeps_its_value():
    v = tg.Variable([1.0, 2.0])
    t = v * 1.0
    r = v.value()
    rr = v.read_value()
    view = r.numpy()
    arr = np.asarray(v)
    v.assign([5.0, 6.0])
    v.assign_add([1.0, 1.0])
    v.assign_sub([0.5, 0.5])
    np.testing.assert_array_equal(val(t), [1.0, 2.0])
    np.testing.assert_array_equal(val(r), [1.0, 2.0])
    np.testing.assert_array_equal(val(rr), [1.0, 2.0])
    np.testing.assert_array_equal(view, [1.0, 2.0])
    np.testing.assert_array_equal(arr, [1.0, 2.0])
    np.testing.assert_array_equal(v.numpy(), [5.5, 6.5])


def test_numpy_array_modified_after_building_tensor_does_not_change_it():
    for dtype in (np.float32, np.float64, np.int64):
        arr = np.array([1, 2, 3], dtype=dtype)
        made = [tg.constant(arr), tg.Tensor(arr), tg.convert_to_tensor(arr), tg.Variable(arr)]
        arr[:] = 100
        for t in made:
            np.testing.assert_array_equal(np.asarray(t), [1.0, 2.0, 3.0])
    # non-contiguous input
    base = np.arange(12.0).reshape(3, 4)
    sl = base[:, ::2]
    t = tg.constant(sl)
    base[:] = -1
    np.testing.assert_array_equal(t.numpy(), [[0.0, 2.0], [4.0, 6.0], [8.0, 10.0]])
    assert t.dtype == tg.float64


def test_variable_from_tensor_is_independent():
    t = tg.constant([1.0, 2.0])
    v = tg.Variable(t)
    v.assign_add([1.0, 1.0])
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
    w = tg.Variable(v)
    v.assign([0.0, 0.0])
    np.testing.assert_array_equal(w.numpy(), [2.0, 3.0])


def test_config_keys():
    cfg = tg.config()
    assert isinstance(cfg, dict)
    assert set(cfg) >= {"isa", "num_threads"}
    assert isinstance(cfg["isa"], str) and cfg["isa"]
    assert isinstance(cfg["num_threads"], int) and cfg["num_threads"] >= 1


def test_iterating_a_0d_tensor_is_a_type_error():
    with pytest.raises(TypeError, match="0-d"):
        iter(tg.constant(1.0))
    with pytest.raises(TypeError, match="0-d"):
        list(tg.Variable(1.0))
