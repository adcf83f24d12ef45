"""``tg.nn``: neural-network functions under TensorFlow's names."""

from __future__ import annotations

from typing import Callable, Optional

from ._core import Tensor
from ._core import ops as _ops
from ._core.ops import (
    log_softmax,
    mean_squared_error,
    softmax,
    softmax_cross_entropy_with_logits,
)
from .ops import one_hot, relu, sigmoid, tanh
from .types import TensorLike

__all__ = [
    "dense",
    "log_softmax",
    "mean_squared_error",
    "one_hot",
    "relu",
    "sigmoid",
    "sigmoid_cross_entropy_with_logits",
    "softmax",
    "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits",
    "tanh",
]


def sigmoid_cross_entropy_with_logits(
    labels: Optional[TensorLike] = None, logits: Optional[TensorLike] = None
) -> Tensor:
    """``max(x, 0) - x * z + log1p(exp(-abs(x)))`` elementwise for labels ``z`` and logits ``x``
    of one shape (TensorFlow's keyword-only use: ``labels=..., logits=...``)."""
    if labels is None or logits is None:
        raise ValueError("sigmoid_cross_entropy_with_logits: both labels and logits are required")
    return _ops.sigmoid_cross_entropy_with_logits(labels, logits)


# Activations the GEMM's epilogue applies in the same pass (None and "linear" mean none).
_FUSED = (None, "linear", "relu")
# Activations applied by their own op after the fused matmul + bias.
_AFTER = {"tanh": tanh, "sigmoid": sigmoid, "softmax": softmax, "log_softmax": log_softmax}


def dense(
    x: TensorLike,
    kernel: TensorLike,
    bias: Optional[TensorLike] = None,
    activation: str | Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """``activation(x @ kernel + bias)``, the Dense layer's forward.

    The matmul, the bias add and a relu run as one op (one GEMM pass whose epilogue adds the bias
    and applies relu), with its own gradient, differentiable again. ``x`` has rank >= 2 (leading
    axes are batch axes), ``kernel`` shape ``(K, N)``, ``bias`` shape ``(N,)`` or None.
    ``activation`` is None, ``"linear"``, ``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"softmax"``,
    ``"log_softmax"`` or a callable; all but the first three are applied after the fused op.
    """
    if activation in _FUSED:
        return _ops.dense(x, kernel, bias, activation)
    if isinstance(activation, str):
        if activation not in _AFTER:
            raise ValueError(
                f"dense: unknown activation {activation!r}; expected None, 'linear', 'relu', "
                "'tanh', 'sigmoid', 'softmax', 'log_softmax' or a callable"
            )
        activation = _AFTER[activation]
    if not callable(activation):
        raise TypeError(
            f"dense: activation must be None, a string or a callable, got "
            f"{type(activation).__name__}"
        )
    return activation(_ops.dense(x, kernel, bias, None))


def sparse_softmax_cross_entropy_with_logits(labels: TensorLike, logits: TensorLike) -> Tensor:
    """Per-sample ``logsumexp(logits) - logits[label]``: labels int32/int64 of shape S, logits of
    shape S + (C,); one fused, stable op (finite for any finite logits) whose gradient is
    ``softmax(logits) - one_hot(labels)``. A label outside [0, C) raises ValueError."""
    return _ops.sparse_softmax_cross_entropy_with_logits(labels, logits)
