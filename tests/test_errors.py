"""Bad input gives a clear Python exception (never a crash or a silent result), and leaves the
tape and the variables usable: no half-recorded node, the next gradient is right."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg


def assert_names_shapes(exc_info, *shapes):
    msg = str(exc_info.value)
    for s in shapes:
        assert str(tuple(s)) in msg, f"{tuple(s)} not named in {msg!r}"


BINARY_OPS = [
    ("add", tg.add),
    ("subtract", tg.subtract),
    ("multiply", tg.multiply),
    ("divide", tg.divide),
    ("maximum", tg.maximum),
    ("minimum", tg.minimum),
    ("pow", tg.pow),
    ("op+", lambda a, b: a + b),
    ("op-", lambda a, b: a - b),
    ("op*", lambda a, b: a * b),
    ("op/", lambda a, b: a / b),
    ("op**", lambda a, b: a**b),
    ("rop+", lambda a, b: b.__radd__(a)),
    ("rop-", lambda a, b: b.__rsub__(a)),
    ("rop*", lambda a, b: b.__rmul__(a)),
    ("rop/", lambda a, b: b.__rtruediv__(a)),
    ("rop**", lambda a, b: b.__rpow__(a)),
    ("math.add", tg.math.add),
    ("math.multiply", tg.math.multiply),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, op", BINARY_OPS, ids=[n for n, _ in BINARY_OPS])
def test_binary_op_shape_mismatch_names_both_shapes(name, op, dtype):
    a = tg.constant(np.ones((2, 3), dtype=dtype))
    b = tg.constant(np.ones((4,), dtype=dtype))
    with pytest.raises(ValueError) as info:
        op(a, b)
    assert_names_shapes(info, (2, 3), (4,))


@pytest.mark.parametrize("name, op", BINARY_OPS[:7], ids=[n for n, _ in BINARY_OPS[:7]])
def test_binary_op_with_numpy_operand_shape_mismatch(name, op):
    a = tg.constant(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError) as info:
        op(a, np.ones((4,), dtype=np.float32))
    assert_names_shapes(info, (2, 3), (4,))
    with pytest.raises(ValueError) as info:
        op(np.ones((4,), dtype=np.float32), a)
    assert_names_shapes(info, (2, 3), (4,))


def test_numpy_on_the_left_shape_mismatch_is_value_error():
    a = tg.constant(np.ones((2, 3)))
    for f in (
        lambda: np.ones(4) * a,
        lambda: np.ones(4) + a,
        lambda: np.ones(4) - a,
        lambda: np.ones(4) / a,
        lambda: [1.0, 2.0, 3.0, 4.0] * a,
    ):
        with pytest.raises(ValueError) as info:
            f()
        assert_names_shapes(info, (2, 3), (4,))


def test_where_shape_mismatch():
    with pytest.raises(ValueError) as info:
        tg.where(
            tg.constant([1.0, 0.0, 1.0, 1.0]),
            tg.constant(np.ones((2, 3))),
            tg.constant(np.ones((2, 3))),
        )
    assert_names_shapes(info, (4,), (2, 3))


@pytest.mark.parametrize(
    "sa, sb",
    [
        ((2, 3), (4, 2)),
        ((2, 3), (2, 3)),
        ((5, 2, 3), (4, 3, 2)),
        ((2, 3), (4,)),
        ((3,), (3,)),
        ((), ()),
    ],
)
def test_matmul_shape_mismatch_names_both_shapes(sa, sb):
    a = tg.constant(np.ones(sa, dtype=np.float32))
    b = tg.constant(np.ones(sb, dtype=np.float32))
    for f in (tg.matmul, lambda x, y: x @ y):
        with pytest.raises(ValueError) as info:
            f(a, b)
        assert_names_shapes(info, sa, sb)


def test_matmul_with_numpy_operand_mismatch():
    a = tg.constant(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError) as info:
        a @ np.ones((4, 2), dtype=np.float32)
    assert_names_shapes(info, (2, 3), (4, 2))
    with pytest.raises(ValueError) as info:
        np.ones((4, 4), dtype=np.float32) @ a
    assert_names_shapes(info, (4, 4), (2, 3))


@pytest.mark.parametrize("shape", [(4,), (-1, 4), (-1, -1), (7,), (2, 2, 2), (-2, 3)])
def test_reshape_incompatible(shape):
    a = tg.constant(np.ones((2, 3)))
    with pytest.raises(ValueError) as info:
        tg.reshape(a, shape)
    assert "(2, 3)" in str(info.value) or str(tuple(shape)) in str(info.value)


def test_concat_and_stack_mismatches():
    a = tg.constant(np.ones((2, 3)))
    with pytest.raises(ValueError) as info:
        tg.concat([a, tg.constant(np.ones((2, 4)))], axis=0)
    assert_names_shapes(info, (2, 3), (2, 4))
    with pytest.raises(ValueError) as info:
        tg.concat([a, tg.constant(np.ones(4))], axis=0)  # rank mismatch
    assert_names_shapes(info, (2, 3), (4,))
    with pytest.raises(ValueError):
        tg.concat([a, a], axis=2)
    with pytest.raises(ValueError):
        tg.concat([a, a], axis=-3)
    with pytest.raises(ValueError):
        tg.concat([], axis=0)
    with pytest.raises(ValueError) as info:
        tg.stack([a, tg.constant(np.ones((3, 2)))])
    assert_names_shapes(info, (2, 3), (3, 2))
    with pytest.raises(ValueError):
        tg.stack([a, a], axis=3)
    with pytest.raises(ValueError):
        tg.stack([])


@pytest.mark.parametrize("perm", [[0, 0], [0, 1, 2], [0, 2], [1], [5, 0]])
def test_transpose_bad_perm(perm):
    with pytest.raises(ValueError):
        tg.transpose(tg.constant(np.ones((2, 3))), perm)


@pytest.mark.parametrize("op", [tg.reduce_sum, tg.reduce_mean, tg.reduce_max])
@pytest.mark.parametrize("axis", [2, -3, 10, [0, 2], (0, 0)])
def test_reduce_bad_axis(op, axis):
    with pytest.raises(ValueError):
        op(tg.constant(np.ones((2, 3))), axis=axis)


@pytest.mark.parametrize(
    "arr, dtype_name",
    [
        (np.array([1 + 2j]), "complex128"),
        (np.array([1 + 2j], dtype=np.complex64), "complex64"),
        (np.array([object()], dtype=object), "object"),
        (np.array(["a"]), "<U1"),
        (np.array(["abc", "de"]), "<U3"),
        (np.array([b"a"]), "S1"),
    ],
)
def test_unsupported_numpy_dtype_is_type_error_naming_it(arr, dtype_name):
    for make in (tg.constant, tg.Variable, tg.convert_to_tensor, lambda x: tg.constant(1.0) + x):
        with pytest.raises(TypeError) as info:
            make(arr)
        assert dtype_name in str(info.value)


@pytest.mark.parametrize("dtype", [np.int16, "complex64", "uint8", np.float16])
def test_unsupported_dtype_argument_is_type_error(dtype):
    with pytest.raises(TypeError):
        tg.constant(1.0, dtype=dtype)
    with pytest.raises(TypeError):
        tg.cast(tg.constant(1.0), dtype)


@pytest.mark.parametrize("value", [None, object(), "abc", 1j, {"a": 1}, {1, 2}])
def test_constant_of_non_numeric_is_type_error(value):
    with pytest.raises(TypeError):
        tg.constant(value)
    with pytest.raises(TypeError):
        tg.Variable(value)


@pytest.mark.parametrize("value", [None, "abc", object()])
def test_operator_with_non_numeric_operand_is_type_error(value):
    x = tg.constant([1.0, 2.0])
    with pytest.raises(TypeError):
        x + value
    with pytest.raises(TypeError):
        value * x
    with pytest.raises(TypeError):
        tg.multiply(x, value)


def test_gradient_of_non_tensor_target_is_type_error():
    v = tg.Variable(2.0)
    with tg.GradientTape(persistent=True) as tape:
        y = v * v
    for bad in (3.0, None, np.ones(2), "y"):
        with pytest.raises(TypeError):
            tape.gradient(bad, v)
    with pytest.raises(TypeError):
        tape.gradient([y, 3.0], v)
    assert float(tape.gradient(y, v)) == 4.0
    del tape


def test_gradient_of_python_float_target_on_non_persistent_tape_keeps_the_tape():
    v = tg.Variable(2.0)
    with tg.GradientTape() as tape:
        y = v * v
    with pytest.raises(TypeError):
        tape.gradient(float(y), v)  # a common mistake: target made a Python float
    assert float(tape.gradient(y, v)) == 4.0  # the bad call did not use the one call


def test_non_tensor_source_is_type_error():
    v = tg.Variable(2.0)
    with tg.GradientTape() as tape:
        y = v * v
    for bad in (3.0, None, np.ones(()), [v, None], {"a": 1.0}):
        with pytest.raises(TypeError):
            tape.gradient(y, bad)
    assert float(tape.gradient(y, v)) == 4.0


@pytest.mark.parametrize("bad", [np.ones(2), 3.0, 3, None, "x", [1.0]])
def test_watch_of_non_tensor_is_value_error(bad):
    c = tg.constant(2.0)
    with tg.GradientTape() as tape:
        with pytest.raises(ValueError):
            tape.watch(bad)
        tape.watch(c)
        y = c * c
    assert float(tape.gradient(y, c)) == 4.0


@pytest.mark.parametrize("method", ["assign", "assign_add", "assign_sub"])
@pytest.mark.parametrize(
    "value, vshape", [([1.0, 2.0, 3.0], (3,)), (np.ones((2, 1)), (2, 1)), (1.0, ())]
)
def test_variable_assign_other_shape_names_both_shapes(method, value, vshape):
    v = tg.Variable([1.0, 2.0])
    with pytest.raises(ValueError) as info:
        getattr(v, method)(value)
    assert_names_shapes(info, (2,), vshape)
    # unchanged and still usable
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])
    assert v.shape == (2,) and v.dtype == tg.float32
    v.assign_add([1.0, 1.0])
    np.testing.assert_array_equal(v.numpy(), [2.0, 3.0])
    with tg.GradientTape() as tape:
        y = tg.reduce_sum(v * v)
    np.testing.assert_array_equal(np.asarray(tape.gradient(y, v)), [4.0, 6.0])


@pytest.mark.parametrize("bad", [None, "a", object()])
def test_variable_assign_non_numeric_is_type_error(bad):
    v = tg.Variable([1.0, 2.0])
    with pytest.raises(TypeError):
        v.assign(bad)
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])


@pytest.mark.parametrize(
    "key",
    [2, -3, (0, 3), (1, -4), [0, 5], [-3], np.array([2]), (slice(None), [7])],
    ids=str,
)
def test_index_out_of_range_is_index_error(key):
    a = tg.constant(np.arange(6.0).reshape(2, 3))
    with pytest.raises(IndexError):
        a[key]
    v = tg.Variable(np.arange(6.0).reshape(2, 3))
    with pytest.raises(IndexError):
        v[key]


def test_too_many_indices_is_index_error():
    a = tg.constant(np.ones((2, 3)))
    with pytest.raises(IndexError):
        a[0, 0, 0]
    with pytest.raises(IndexError):
        tg.constant(1.0)[0]
    with pytest.raises(IndexError):
        a[..., ..., 0]
    with pytest.raises(IndexError):
        a[np.array([True, False, True])]


def test_gather_out_of_range_is_index_error():
    with pytest.raises(IndexError):
        tg.gather(tg.constant([1.0, 2.0]), [2])


def test_output_gradients_wrong_shape_is_value_error():
    x = tg.Variable([1.0, 2.0])
    with tg.GradientTape(persistent=True) as tape:
        y = x * x
    for og in (tg.constant([1.0, 2.0, 3.0]), np.ones((2, 1)), 1.0):
        with pytest.raises(ValueError):
            tape.gradient(y, x, output_gradients=og)
    with pytest.raises(ValueError):
        tape.gradient([y, y], x, output_gradients=[tg.constant([1.0, 1.0])])  # wrong count
    np.testing.assert_array_equal(np.asarray(tape.gradient(y, x)), [2.0, 4.0])
    del tape


def test_output_gradients_wrong_shape_does_not_use_up_non_persistent_tape():
    x = tg.Variable([1.0, 2.0])
    with tg.GradientTape() as tape:
        y = x * x
    with pytest.raises(ValueError):
        tape.gradient(y, x, output_gradients=tg.constant([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(np.asarray(tape.gradient(y, x)), [2.0, 4.0])


def test_bad_unconnected_gradients_does_not_use_up_non_persistent_tape():
    x = tg.Variable(3.0)
    with tg.GradientTape() as tape:
        y = x * x
    with pytest.raises(ValueError, match="Unknown value for unconnected_gradients"):
        tape.gradient(y, x, unconnected_gradients="zeros")
    assert float(tape.gradient(y, x)) == 6.0


def test_scalar_conversions_of_multi_element_tensors_raise():
    a = tg.constant([1.0, 2.0])
    v = tg.Variable([1.0, 2.0])
    for obj in (a, v):
        with pytest.raises(ValueError):
            bool(obj)
        with pytest.raises((ValueError, TypeError)):
            float(obj)
    with pytest.raises(TypeError):
        len(tg.constant(1.0))
    with pytest.raises(TypeError):
        len(tg.Variable(1.0))


def test_iterating_a_0d_tensor_raises_type_error():
    with pytest.raises(TypeError):
        list(tg.constant(1.0))
    with pytest.raises(TypeError):
        list(tg.Variable(1.0))


def test_entering_a_recording_tape_again_raises_and_keeps_the_stack_sane():
    x = tg.Variable(2.0)
    tape = tg.GradientTape()
    with tape:
        with pytest.raises(ValueError):
            tape.__enter__()
        y = x * x
    assert not tape.recording
    assert float(tape.gradient(y, x)) == 4.0
    # after the failure nothing is left on the thread's tape stack: a fresh op is not recorded
    with tg.GradientTape() as t2:
        z = x * 3.0
    assert len(t2.watched_variables()) == 1 and float(t2.gradient(z, x)) == 3.0


# ---- no corrupted state after an error inside a tape ------------------------------------------

FAILING_OPS = {
    "add": lambda y, o: y + o["b"],
    "multiply": lambda y, o: tg.multiply(y, o["b"]),
    "matmul": lambda y, o: y @ y,
    "reshape": lambda y, o: tg.reshape(y, (3,)),
    "concat": lambda y, o: tg.concat([y, o["a"]], 0),
    "stack": lambda y, o: tg.stack([y, o["a"]]),
    "transpose": lambda y, o: tg.transpose(y, [1]),
    "reduce_sum": lambda y, o: tg.reduce_sum(y, axis=3),
    "reduce_max": lambda y, o: tg.reduce_max(y, axis=-2),
    "broadcast_to": lambda y, o: tg.broadcast_to(y, (3,)),
    "index": lambda y, o: y[5],
    "index_array": lambda y, o: y[[0, 5]],
    "gather": lambda y, o: tg.gather(y, [9]),
    "where": lambda y, o: tg.where(tg.constant([1.0, 0.0, 1.0]), y, y),
    "assign": lambda y, o: o["v"].assign([1.0, 2.0, 3.0]),
    "type": lambda y, o: y + "x",
}


def _check_no_half_recorded_node(name, dtype):
    v = tg.Variable(np.array([1.0, 2.0], dtype=np.float32))
    others = {
        "b": tg.constant(np.ones(4, dtype=dtype)),
        "a": tg.constant(np.ones((2, 3), dtype=dtype)),
        "v": v,
    }
    with tg.GradientTape() as tape:
        y = v * v
        before = tape.num_nodes
        with pytest.raises((ValueError, TypeError, IndexError)):
            FAILING_OPS[name](y, others)
        assert tape.num_nodes == before, "a failed op left a node on the tape"
        z = tg.reduce_sum(y * 3.0)
    np.testing.assert_array_equal(np.asarray(tape.gradient(z, v)), [6.0, 12.0])
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])


@pytest.mark.parametrize("name", sorted(FAILING_OPS))
def test_failed_op_inside_tape_leaves_no_node_and_gradient_is_right(name):
    _check_no_half_recorded_node(name, np.float32)


@pytest.mark.parametrize("name", ["add", "multiply", "concat", "stack", "reshape", "index"])
def test_failed_mixed_dtype_op_inside_tape_leaves_no_node(name):
    _check_no_half_recorded_node(name, np.float64)


def test_error_inside_with_block_pops_the_tape():
    x = tg.Variable(2.0)
    tape = tg.GradientTape()
    with pytest.raises(ZeroDivisionError):
        with tape:
            y = x * x
            _ = 1 / 0
    assert not tape.recording
    w = x * x  # not recorded: the tape is no longer active
    assert tape.gradient(w, x) is None  # w was computed after the tape stopped
    with tg.GradientTape() as t2:
        z = x * 5.0
    assert float(t2.gradient(z, x)) == 5.0
    del y


def test_error_inside_nested_tapes_leaves_outer_usable():
    x = tg.Variable(1.5)
    with tg.GradientTape() as outer:
        try:
            with tg.GradientTape() as inner:
                y = x * x * x
                tg.reshape(y, (2,))
        except ValueError:
            pass
        assert not inner.recording and outer.recording
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    assert float(dy) == pytest.approx(3 * 1.5**2)
    assert float(d2y) == pytest.approx(6 * 1.5)


def test_set_num_threads_takes_1_to_1024():
    before = tg.num_threads()
    for bad in (-1, 0, 1025, 2**31 - 1, 2**31, 2**63 - 1):
        with pytest.raises(ValueError, match=f"n must be between 1 and 1024, got {bad}"):
            tg.set_num_threads(bad)
        assert tg.num_threads() == before
    with pytest.raises(ValueError, match="does not fit in a 64-bit integer"):
        tg.set_num_threads(2**63)
    for bad in ("2", 2.0, True, None):
        with pytest.raises(TypeError, match="must be an integer"):
            tg.set_num_threads(bad)
    try:
        tg.set_num_threads(1)
        assert tg.num_threads() == 1
        tg.set_num_threads(np.int64(1024))
        assert tg.num_threads() == 1024
    finally:
        tg.set_num_threads(before)
    assert tg.num_threads() == before


def test_slice_grad_and_scatter_add_reject_gradients_that_do_not_fit():
    """Backward ops are public (`_core.ops`): a misfitting g must raise, not write out of bounds."""
    from tapegrad._core import ops

    g = tg.constant([1.0, 2.0, 3.0])
    with pytest.raises(IndexError, match="slice_grad"):
        ops.slice_grad(g, [2], [0], [1])  # 3 values do not fit in 2 slots
    with pytest.raises(IndexError, match="slice_grad"):
        ops.slice_grad(g, [8], [7], [1])  # starts in range, runs past the end
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        ops.scatter_add(g, [0, 1], 0, 3)
    np.testing.assert_array_equal(ops.slice_grad(g, [5], [0], [2]).numpy(), [1, 0, 2, 0, 3])


@pytest.mark.parametrize("bad", ["x", None, 1.5, [1.5], [True], np.array([1.5])])
def test_shape_axis_and_perm_arguments_of_the_wrong_type_are_type_errors(bad):
    x = tg.constant(np.ones((2, 3)))
    calls = [lambda: tg.reshape(x, bad), lambda: tg.broadcast_to(x, bad)]
    if bad is not None:  # None is a valid axis / perm
        calls += [lambda: tg.reduce_sum(x, axis=bad), lambda: tg.transpose(x, bad)]
    for call in calls:
        with pytest.raises(TypeError, match="must be an int or a sequence of ints"):
            call()
