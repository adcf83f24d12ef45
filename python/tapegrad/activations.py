"""Activation functions by Keras name (``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"softmax"``,
``"log_softmax"``, ``"linear"``); softmax and log_softmax act along the last axis."""

from __future__ import annotations

from typing import Callable, Optional

from .nn import log_softmax, softmax
from .ops import relu, sigmoid, tanh


def linear(x):
    return x


_BY_NAME: dict[str, Callable] = {
    "linear": linear,
    "log_softmax": log_softmax,
    "relu": relu,
    "sigmoid": sigmoid,
    "softmax": softmax,
    "tanh": tanh,
}


def get(identifier) -> Optional[Callable]:
    """None (no activation), a name from the table above, or any callable."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier.lower())
        if fn is None:
            raise ValueError(
                f"unknown activation {identifier!r}; expected one of {sorted(_BY_NAME)} "
                "or a callable"
            )
        return None if fn is linear else fn
    if callable(identifier):
        return identifier
    raise TypeError(f"activation must be None, a name or a callable, got {identifier!r}")


def serialize(fn: Optional[Callable]) -> Optional[str]:
    """The activation's name for a saved model (a custom callable cannot be saved by name)."""
    if fn is None:
        return None
    for name, known in _BY_NAME.items():
        if fn is known:
            return name
    raise ValueError(
        f"cannot save the custom activation {fn!r} by name; use one of {sorted(_BY_NAME)}"
    )
