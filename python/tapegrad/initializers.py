"""Weight initializers by Keras name, drawing from one seedable NumPy generator.

``set_random_seed(seed)`` makes every later initialization (and the Trainer's default shuffling)
reproducible, like ``keras.utils.set_random_seed``; like it, it also sets ``tg.random``'s global
seed (``tg.random.set_seed``).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from . import random as tg_random

_rng = np.random.default_rng()


def set_random_seed(seed: int | None) -> None:
    """Reseeds the generator the initializers draw from and sets tg.random's global seed."""
    global _rng
    _rng = np.random.default_rng(seed)
    tg_random.set_seed(seed)


def generator() -> np.random.Generator:
    return _rng


def _fans(shape: tuple) -> tuple[int, int]:
    if any(d < 0 for d in shape):
        raise ValueError(f"initializer: weight shape {shape} has a negative dimension")
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        fan_in = fan_out = shape[0]
    else:
        receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    # an empty weight draws nothing; fans of at least 1 keep the limits (which divide by them)
    # finite
    return max(fan_in, 1), max(fan_out, 1)


def glorot_uniform(shape, dtype=np.float32) -> np.ndarray:
    """U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tuple(shape))
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return _rng.uniform(-limit, limit, size=shape).astype(dtype)


def glorot_normal(shape, dtype=np.float32) -> np.ndarray:
    """Truncated normal (at 2 stddev) with stddev = sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tuple(shape))
    return _truncated_normal(
        shape, math.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978, dtype
    )


def he_uniform(shape, dtype=np.float32) -> np.ndarray:
    fan_in, _ = _fans(tuple(shape))
    limit = math.sqrt(6.0 / fan_in)
    return _rng.uniform(-limit, limit, size=shape).astype(dtype)


def he_normal(shape, dtype=np.float32) -> np.ndarray:
    fan_in, _ = _fans(tuple(shape))
    return _truncated_normal(shape, math.sqrt(2.0 / fan_in) / 0.87962566103423978, dtype)


def _truncated_normal(shape, stddev: float, dtype) -> np.ndarray:
    out = _rng.standard_normal(size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():  # redraw outside two standard deviations, as Keras's TruncatedNormal
        out[bad] = _rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return (out * stddev).astype(dtype)


def random_normal(shape, dtype=np.float32) -> np.ndarray:
    return (_rng.standard_normal(size=shape) * 0.05).astype(dtype)


def random_uniform(shape, dtype=np.float32) -> np.ndarray:
    return _rng.uniform(-0.05, 0.05, size=shape).astype(dtype)


def zeros(shape, dtype=np.float32) -> np.ndarray:
    return np.zeros(shape, dtype)


def ones(shape, dtype=np.float32) -> np.ndarray:
    return np.ones(shape, dtype)


_BY_NAME: dict[str, Callable] = {
    f.__name__: f
    for f in (
        glorot_uniform,
        glorot_normal,
        he_uniform,
        he_normal,
        random_normal,
        random_uniform,
        zeros,
        ones,
    )
}


def get(identifier) -> Callable:
    """A name from the table above or a callable ``f(shape, dtype) -> array``."""
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier.lower())
        if fn is None:
            raise ValueError(
                f"unknown initializer {identifier!r}; expected one of {sorted(_BY_NAME)}"
            )
        return fn
    if callable(identifier):
        return identifier
    raise TypeError(f"initializer must be a name or a callable, got {identifier!r}")
