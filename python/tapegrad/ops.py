"""The public op functions: the C++ ops under TensorFlow's names, plus tensor makers."""

from __future__ import annotations

import numpy as np

from . import _core
from ._core import DType, Tensor
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


def constant(value, dtype=None, shape=None) -> Tensor:
    """A Tensor holding a copy of ``value`` (Python floats and lists default to float32)."""
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
    return DType.float64 if np.dtype(dtype) == np.float64 else DType.float32


def zeros(shape, dtype=DType.float32) -> Tensor:
    return Tensor(np.zeros(shape, dtype=_as_dtype(dtype).as_numpy_dtype))


def ones(shape, dtype=DType.float32) -> Tensor:
    return Tensor(np.ones(shape, dtype=_as_dtype(dtype).as_numpy_dtype))


def zeros_like(x) -> Tensor:
    x = convert_to_tensor(x)
    return zeros(x.shape, x.dtype)


def ones_like(x) -> Tensor:
    x = convert_to_tensor(x)
    return ones(x.shape, x.dtype)
