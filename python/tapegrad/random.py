"""``tg.random``: random tensors under TensorFlow's global and op seed rule.

The numbers come from counter-based generators in C++ (``cpp/src/random.cpp``, SplitMix64 with
Box-Muller for normals): element k of a draw depends only on the draw's key and k, never on the
ISA path or the thread count. This module only turns seeds into keys, with TensorFlow's rule
(``tf.random.set_seed``):

- global seed set (``set_seed(g)``), op seed given: every op call with the same ``seed=`` and the
  same function continues one sequence (A1, A2, ... as TensorFlow's kernel counter does);
  ``set_seed(g)`` again restarts it, so the same program gives the same numbers.
- global seed set, no op seed: each call takes the next value of an op-seed counter that
  ``set_seed`` resets, so the sequence of calls is reproducible as a whole.
- op seed only: the global seed is ``DEFAULT_GRAPH_SEED``; reproducible from program start (and
  after ``set_seed(None)``), with its own per-op sequence.
- neither: fresh operating-system entropy per call (nondeterministic).

``tg.data.Dataset.shuffle`` resolves its seed with ``get_seed`` the same way. The Keras-style
initializers keep their own NumPy generator (``tg.set_random_seed`` reseeds both).
Random ops are not traced by ``tg.function`` (a trace would freeze one draw into every call):
inside a traced function they raise ``RuntimeError``; draw outside and pass the values in.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Optional

import numpy as np

from . import _core
from ._core import DType, Tensor
from .ops import convert_to_tensor, gather

DEFAULT_GRAPH_SEED = 87654321  # TensorFlow's, used when only an op seed is given
_MASK64 = (1 << 64) - 1

_global_seed: Optional[int] = None
_op_seed_counter = 0  # the op seed of the next call without one, under a global seed
_kernel_counters: dict = {}  # (function, global seed, op seed) -> calls so far


def set_seed(seed: Optional[int]) -> None:
    """Sets the global seed (``None`` clears it) and restarts every per-op sequence."""
    global _global_seed, _op_seed_counter
    _global_seed = None if seed is None else _check_seed(seed, "set_seed")
    _op_seed_counter = 0
    _kernel_counters.clear()


def get_seed(op_seed: Optional[int]) -> tuple[Optional[int], Optional[int]]:
    """TensorFlow's ``(global_seed, op_seed)`` pair for an op given ``op_seed`` (``(None, None)``
    means nondeterministic); a call without an op seed under a global seed advances the
    op-seed counter."""
    global _op_seed_counter
    if op_seed is not None:
        op_seed = _check_seed(op_seed, "seed")
    if _global_seed is not None:
        if op_seed is None:
            op_seed = _op_seed_counter
            _op_seed_counter += 1
        return _global_seed, op_seed
    if op_seed is not None:
        return DEFAULT_GRAPH_SEED, op_seed
    return None, None


def mix_seeds(*values: int) -> int:
    """A well-mixed unsigned 64-bit key from integers (SplitMix64's finalizer, chained)."""
    key = 0
    for v in values:
        z = ((key ^ (v & _MASK64)) + 0x9E3779B97F4A7C15) & _MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        key = z ^ (z >> 31)
    return key


def entropy_key() -> int:
    """A key from operating-system entropy (the nondeterministic case)."""
    return int.from_bytes(os.urandom(8), "little")


_FUNCTION_IDS = {"uniform": 1, "normal": 2, "truncated_normal": 3, "shuffle": 4, "dropout": 5}


def _key(function: str, seed: Optional[int]) -> int:
    if _core.tracing_function() is not None:
        raise RuntimeError(
            f"tg.random.{function} inside tg.function {_core.tracing_function()!r} would be traced "
            "as a constant (the same numbers at every call); draw the values outside the "
            "function and pass them in as an argument"
        )
    return stream_key(function, seed)


def stream_key(function: str, seed: Optional[int]) -> int:
    """The key of one draw of ``function`` under the seed rule above (entropy when no seed is
    set). A stateful op's stream (a Dropout layer's ``RandomStream``) takes its key here once,
    when the layer is made, and then draws anew at every call, in eager code and in compiled
    replays alike; it may be made while a function is traced."""
    global_seed, op_seed = get_seed(seed)
    if global_seed is None:
        return entropy_key()
    counter_key = (function, global_seed, op_seed)
    calls = _kernel_counters.get(counter_key, 0)
    _kernel_counters[counter_key] = calls + 1
    return mix_seeds(_FUNCTION_IDS[function], global_seed, op_seed, calls)


def _check_seed(seed, what: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{what} must be an integer or None, got {type(seed).__name__} {seed!r}")
    return int(seed)


def _check_shape(shape, function: str) -> list:
    if isinstance(shape, Tensor):
        shape = shape.numpy().tolist()
    elif isinstance(shape, np.ndarray):
        shape = shape.tolist()
    if not isinstance(shape, Sequence) or isinstance(shape, str):
        raise TypeError(
            f"tg.random.{function}: shape must be a list or tuple of integers, "
            f"got {type(shape).__name__} {shape!r}"
        )
    dims = []
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer, float)):
            raise TypeError(
                f"tg.random.{function}: shape {tuple(shape)!r} holds a non-integer {d!r}"
            )
        if isinstance(d, float) and not d.is_integer():
            raise TypeError(
                f"tg.random.{function}: shape {tuple(shape)!r} holds a non-integer {d!r}"
            )
        dims.append(int(d))
    if any(d < 0 for d in dims):
        raise ValueError(
            f"tg.random.{function}: shape {tuple(dims)!r} has a negative dimension; "
            "every dimension must be >= 0"
        )
    return dims


def _float_dtype(dtype, function: str) -> DType:
    if isinstance(dtype, DType):
        if dtype in (DType.float32, DType.float64):
            return dtype
        raise TypeError(f"tg.random.{function}: dtype must be float32 or float64, got {dtype}")
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        np_dtype = None
    if np_dtype == np.float32:
        return DType.float32
    if np_dtype == np.float64:
        return DType.float64
    raise TypeError(f"tg.random.{function}: dtype must be float32 or float64, got {dtype!r}")


def _scalar(value, name: str, function: str) -> float:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 0:
        raise TypeError(f"tg.random.{function}: {name} must be a scalar number, got {value!r}")
    return float(arr)


def normal(shape, mean=0.0, stddev=1.0, dtype=DType.float32, seed=None, name=None) -> Tensor:
    """Normal(mean, stddev) numbers of ``shape`` (``tf.random.normal``)."""
    return _core.random_normal(
        _check_shape(shape, "normal"),
        _float_dtype(dtype, "normal"),
        _scalar(mean, "mean", "normal"),
        _scalar(stddev, "stddev", "normal"),
        _key("normal", seed),
    )


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=DType.float32, seed=None, name=None):
    """Normal(mean, stddev) numbers with those more than two standard deviations from the mean
    drawn again (``tf.random.truncated_normal``)."""
    return _core.random_truncated_normal(
        _check_shape(shape, "truncated_normal"),
        _float_dtype(dtype, "truncated_normal"),
        _scalar(mean, "mean", "truncated_normal"),
        _scalar(stddev, "stddev", "truncated_normal"),
        _key("truncated_normal", seed),
    )


def uniform(shape, minval=0, maxval=None, dtype=DType.float32, seed=None, name=None) -> Tensor:
    """Uniform numbers in ``[minval, maxval)`` (``maxval`` defaults to 1; ``tf.random.uniform``)."""
    return _core.random_uniform(
        _check_shape(shape, "uniform"),
        _float_dtype(dtype, "uniform"),
        _scalar(minval, "minval", "uniform"),
        1.0 if maxval is None else _scalar(maxval, "maxval", "uniform"),
        _key("uniform", seed),
    )


def shuffle(value, seed=None, name=None) -> Tensor:
    """``value`` with its first dimension randomly permuted (``tf.random.shuffle``)."""
    x = convert_to_tensor(value)
    if len(x.shape) == 0:
        raise ValueError("tg.random.shuffle: value must have at least one dimension, got a scalar")
    order = _core.random_permutation(x.shape[0], _key("shuffle", seed))
    return gather(x, order, 0)


__all__ = [
    "DEFAULT_GRAPH_SEED",
    "get_seed",
    "normal",
    "set_seed",
    "shuffle",
    "truncated_normal",
    "uniform",
]
