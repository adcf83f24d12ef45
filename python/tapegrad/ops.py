"""The public op functions: the C++ ops under TensorFlow's names, plus tensor makers."""

from __future__ import annotations

import numpy as np

from . import _core
from ._core import DType, Tensor
from ._core.integer_ops import (  # noqa: F401  (re-exported as the public ops)
    equal,
    greater,
    greater_equal,
    less,
    less_equal,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    not_equal,
    reduce_all,
    reduce_any,
)
from ._core.ops import (  # noqa: F401  (re-exported as the public ops)
    abs,
    add,
    broadcast_to,
    cast,
    clip_by_value,
    concat,
    divide,
    exp,
    gather,
    log,
    matmul,
    maximum,
    minimum,
    multiply,
    negative,
    pow,
    reduce_logsumexp,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_sum,
    relu,
    reshape,
    sigmoid,
    sqrt,
    square,
    stack,
    stop_gradient,
    subtract,
    tanh,
    transpose,
    where,
)

float32 = DType.float32
float64 = DType.float64
int32 = DType.int32
int64 = DType.int64
bool = DType.bool


def constant(value, dtype=None, shape=None) -> Tensor:
    """A Tensor holding a copy of ``value``. As in TensorFlow, Python floats default to float32,
    Python ints to int32 (int64 when a value does not fit) and bools to bool; NumPy arrays keep
    their dtype (narrow integers widen to int32)."""
    t = Tensor(value, dtype)
    if shape is not None and tuple(t.shape) != tuple(shape):
        if t.size == 1:
            t = broadcast_to(reshape(t, ()), shape)
        else:
            t = reshape(t, shape)
    return t


def convert_to_tensor(value, dtype=None) -> Tensor:
    """``value`` as a Tensor; a Tensor of the right dtype is returned as is."""
    if isinstance(value, Tensor) and (dtype is None or value.dtype == _as_dtype(dtype)):
        return value
    if isinstance(value, _core.Variable):
        value = value.value()
        return value if dtype is None else cast(value, dtype)
    return Tensor(value, dtype)


def _as_dtype(dtype) -> DType:
    if isinstance(dtype, DType):
        return dtype
    return _core.Tensor(np.zeros(0, dtype=np.dtype(dtype))).dtype


def zeros(shape, dtype=DType.float32) -> Tensor:
    """A Tensor of ``shape`` filled with zeros (float32 unless ``dtype`` says otherwise)."""
    return Tensor(np.zeros(shape, dtype=_as_dtype(dtype).as_numpy_dtype))


def ones(shape, dtype=DType.float32) -> Tensor:
    """A Tensor of ``shape`` filled with ones (float32 unless ``dtype`` says otherwise)."""
    return Tensor(np.ones(shape, dtype=_as_dtype(dtype).as_numpy_dtype))


def zeros_like(x) -> Tensor:
    """Zeros of ``x``'s shape and dtype."""
    x = convert_to_tensor(x)
    return zeros(x.shape, x.dtype)


def ones_like(x) -> Tensor:
    """Ones of ``x``'s shape and dtype."""
    x = convert_to_tensor(x)
    return ones(x.shape, x.dtype)


def argmax(input, axis=None, output_type=int64) -> Tensor:
    """The index of the largest entry along ``axis`` (default 0), as ``output_type`` (int64 or
    int32); the first one on ties, a NaN counting as the largest (NumPy's rule)."""
    return _core.integer_ops.argmax(input, 0 if axis is None else axis, output_type)


def argmin(input, axis=None, output_type=int64) -> Tensor:
    """The index of the smallest entry along ``axis`` (default 0); see ``argmax``."""
    return _core.integer_ops.argmin(input, 0 if axis is None else axis, output_type)


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None) -> Tensor:
    """TensorFlow's ``one_hot``: a new axis of extent ``depth`` (at ``axis``, default last) holding
    ``on_value`` (default 1) where ``indices`` equals the position and ``off_value`` (default 0)
    elsewhere; indices outside ``[0, depth)`` give a row of ``off_value``. The dtype is ``dtype``,
    else that of a given on/off value, else float32."""
    if dtype is None:
        for v in (on_value, off_value):
            if isinstance(v, (Tensor, _core.Variable)):
                dtype = v.dtype
                break
    if dtype is None:
        dtype = float32
    return _core.integer_ops.one_hot(
        indices,
        int(depth),
        1 if on_value is None else on_value,
        0 if off_value is None else off_value,
        -1 if axis is None else axis,
        dtype,
    )
