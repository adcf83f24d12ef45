"""Keras losses: per-sample functions and reducing classes (rules: tests/test_losses_metrics.py).

``mean_squared_error(y_true, y_pred)`` is ``mean(square(y_true - y_pred), axis=-1)``. Shapes that
differ only by a trailing 1 — the seed's ``(N, 1)`` predictions against ``(N,)`` targets — are
aligned as Keras 3 does (per-sample error, never an ``(N, N)`` broadcast) with a warning naming both
shapes and the fix; shapes that cannot broadcast raise ValueError.
"""

from __future__ import annotations

import warnings
from typing import Optional

import numpy as np

from ._core import Tensor, Variable
from ._core import ops as _ops
from .ops import abs as tg_abs
from .ops import (
    broadcast_to,
    cast,
    clip_by_value,
    convert_to_tensor,
    divide,
    float32,
    int64,
    log,
    minimum,
    multiply,
    negative,
    reduce_mean,
    reduce_sum,
    reshape,
    square,
    subtract,
)

# Keras's backend.epsilon(): probabilities are clipped to [EPSILON, 1 - EPSILON] before log.
EPSILON = 1e-7


def _as_tensor_like(x, like: Optional[Tensor]) -> Tensor:
    if isinstance(x, Tensor):
        if like is None and not x.dtype.is_floating:  # integer predictions: float32, as Keras
            return cast(x, float32)
        if like is None or x.dtype is like.dtype or x.dtype == like.dtype:
            return x
        return cast(x, like.dtype)
    if isinstance(x, Variable):
        return _as_tensor_like(x.value(), like)
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"loss inputs must be numeric, got an array of dtype {arr.dtype}")
    if like is None:  # lists and numbers are float32 (TensorFlow's default); arrays keep theirs
        keep = isinstance(x, np.ndarray) and arr.dtype.kind == "f"
        return convert_to_tensor(arr if keep else arr.astype(np.float32))
    return Tensor(np.ascontiguousarray(arr, dtype=like.dtype.as_numpy_dtype))


def align_ranks(y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Tensor, bool]:
    """Keras 3's ``squeeze_or_expand_to_same_rank``: when one rank exceeds the other by one with a
    trailing 1, a rank-1 partner is expanded to (N, 1), else the trailing 1 is squeezed. Returns
    whether anything changed."""
    t_shape, p_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if len(p_shape) == len(t_shape) + 1 and p_shape and p_shape[-1] == 1:
        if len(t_shape) == 1:
            return reshape(y_true, (*t_shape, 1)), y_pred, True
        return y_true, reshape(y_pred, p_shape[:-1]), True
    if len(t_shape) == len(p_shape) + 1 and t_shape and t_shape[-1] == 1:
        if len(p_shape) == 1:
            return y_true, reshape(y_pred, (*p_shape, 1)), True
        return reshape(y_true, t_shape[:-1]), y_pred, True
    return y_true, y_pred, False


def _prepare(y_true, y_pred, fn_name: str) -> tuple[Tensor, Tensor]:
    if (  # the per-step case: NumPy targets of the prediction's shape and dtype go to the op as
        # they are (it converts them, one copy)
        type(y_true) is np.ndarray
        and isinstance(y_pred, Tensor)
        and y_true.shape == y_pred.shape
        and y_true.dtype == y_pred.dtype.as_numpy_dtype
    ):
        return y_true, y_pred
    y_pred = _as_tensor_like(y_pred, None)
    y_true = _as_tensor_like(y_true, y_pred)
    t_shape, p_shape = tuple(y_true.shape), tuple(y_pred.shape)
    if t_shape == p_shape:
        return y_true, y_pred
    y_true, y_pred, aligned = align_ranks(y_true, y_pred)
    if aligned:
        # The warnings filters decide how often it shows: once per calling line by default,
        # every time under "always", never under "ignore".
        warnings.warn(
            f"{fn_name}: y_true has shape {t_shape} and y_pred has shape {p_shape}; their "
            "ranks were aligned to give one error per sample (tf.keras 2 broadcast them to "
            "an (N, N) matrix instead). Pass targets with the same shape as the predictions, "
            "e.g. y[:, None] for an (N, 1) model output, to silence this warning.",
            stacklevel=3,
        )
        return y_true, y_pred
    try:
        np.broadcast_shapes(t_shape, p_shape)
    except ValueError:
        raise ValueError(
            f"{fn_name}: y_true shape {t_shape} and y_pred shape {p_shape} cannot be broadcast "
            "together"
        ) from None
    return y_true, y_pred


def _mean_last_axis(values: Tensor) -> Tensor:
    return values if values.ndim == 0 else reduce_mean(values, axis=-1)


def _squared_error_per_sample(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``mean(square(y_true - y_pred), axis=-1)`` as one fused op (one pass forward, one pass
    backward, differentiable again)."""
    return _ops.mean_squared_error(y_true, y_pred)


def _mean_squared_error_total(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``mean(square(y_true - y_pred))`` over every element: the mean of the per-sample errors
    (every sample has the same number of elements)."""
    return reduce_mean(_ops.mean_squared_error(y_true, y_pred))


def mean_squared_error(y_true, y_pred) -> Tensor:
    """``mean(square(y_true - y_pred), axis=-1)``: (N, D) -> (N,), (D,) -> ()."""
    y_true, y_pred = _prepare(y_true, y_pred, "mean_squared_error")
    return _squared_error_per_sample(y_true, y_pred)


def mean_absolute_error(y_true, y_pred) -> Tensor:
    """``mean(abs(y_true - y_pred), axis=-1)``."""
    y_true, y_pred = _prepare(y_true, y_pred, "mean_absolute_error")
    return _mean_last_axis(tg_abs(y_true - y_pred))


def _sparse_labels(y_true, y_pred: Tensor, fn_name: str) -> Tensor:
    """Integer class labels of y_pred's leading shape: float labels (Keras accepts them) become
    int64, and a trailing axis of 1, (N, 1) against (N, C), is dropped."""
    labels = convert_to_tensor(y_true)
    if labels.dtype.is_bool:
        raise TypeError(f"{fn_name}: labels must be integer class indices, got bool")
    if labels.dtype.is_floating:
        labels = cast(labels, int64)
    lead = tuple(y_pred.shape[:-1])
    if tuple(labels.shape) != lead and tuple(labels.shape) == (*lead, 1):
        labels = reshape(labels, lead)
    if tuple(labels.shape) != lead:
        raise ValueError(
            f"{fn_name}: labels of shape {tuple(labels.shape)} do not match predictions of shape "
            f"{tuple(y_pred.shape)} (expected labels of shape {lead})"
        )
    return labels


def _log_probabilities(y_pred: Tensor) -> Tensor:
    """Keras's route from probabilities to logits: normalized over the last axis, clipped to
    [eps, 1 - eps] (eps = 1e-7) and logged, so a 0 probability gives a large, finite loss."""
    probs = divide(y_pred, reduce_sum(y_pred, axis=-1, keepdims=True))
    return log(clip_by_value(probs, EPSILON, 1.0 - EPSILON))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1) -> Tensor:
    """Cross-entropy between integer labels (N...) and predictions (N..., C): per-sample
    ``-log softmax(y_pred)[label]`` with ``from_logits=True`` (one fused, stable op), else
    ``-log(y_pred[label])`` of the (normalized, clipped) probabilities."""
    y_pred = _as_tensor_like(y_pred, None)
    if axis not in (-1, y_pred.ndim - 1):
        raise ValueError(f"sparse_categorical_crossentropy: only axis=-1 is supported, got {axis}")
    if y_pred.ndim == 0:
        raise ValueError(
            "sparse_categorical_crossentropy: predictions need a class axis, got a scalar"
        )
    labels = _sparse_labels(y_true, y_pred, "sparse_categorical_crossentropy")
    logits = y_pred if from_logits else _log_probabilities(y_pred)
    return _ops.sparse_softmax_cross_entropy_with_logits(labels, logits)


def categorical_crossentropy(
    y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
) -> Tensor:
    """``-sum(y_true * log(y_pred), axis)`` for one-hot or probability targets, one value per
    sample. With ``from_logits`` the fused softmax cross-entropy (stable for any logits);
    otherwise ``y_pred`` is rescaled to sum to 1 and clipped to [1e-7, 1 - 1e-7] as Keras does.
    ``label_smoothing`` moves the targets towards ``1 / num_classes``."""
    y_true, y_pred = _prepare_same_shape(y_true, y_pred, "categorical_crossentropy")
    if label_smoothing:
        num_classes = y_pred.shape[axis]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    if from_logits:
        return _ops.softmax_cross_entropy_with_logits(y_true, y_pred, axis)
    probs = divide(y_pred, reduce_sum(y_pred, axis=axis, keepdims=True))
    probs = clip_by_value(probs, EPSILON, 1.0 - EPSILON)
    return negative(reduce_sum(multiply(y_true, log(probs)), axis=axis))


def binary_crossentropy(
    y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
) -> Tensor:
    """The mean over ``axis`` of ``-(y log p + (1 - y) log(1 - p))``, one value per sample. With
    ``from_logits`` the fused, stable sigmoid cross-entropy; otherwise ``y_pred`` is clipped to
    [1e-7, 1 - 1e-7] as Keras does. ``label_smoothing`` moves the targets towards 0.5."""
    y_true, y_pred = _as_tensors(*_prepare(y_true, y_pred, "binary_crossentropy"))
    if tuple(y_true.shape) != tuple(y_pred.shape):  # the fused op takes one shape
        shape = np.broadcast_shapes(tuple(y_true.shape), tuple(y_pred.shape))
        y_true, y_pred = broadcast_to(y_true, shape), broadcast_to(y_pred, shape)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        per_element = _ops.sigmoid_cross_entropy_with_logits(y_true, y_pred)
    else:
        p = clip_by_value(y_pred, EPSILON, 1.0 - EPSILON)
        per_element = negative(y_true * log(p) + (1.0 - y_true) * log(1.0 - p))
    return per_element if per_element.ndim == 0 else reduce_mean(per_element, axis=axis)


def huber(y_true, y_pred, delta: float = 1.0) -> Tensor:
    """The mean over the last axis of ``0.5 e^2`` where ``|e| <= delta``, else
    ``delta |e| - 0.5 delta^2`` (e = y_pred - y_true): as ``0.5 q^2 + delta (|e| - q)`` with
    ``q = minimum(|e|, delta)``, whose gradient is continuous at ``|e| = delta``."""
    y_true, y_pred = _prepare(y_true, y_pred, "huber")
    abs_error = tg_abs(subtract(y_pred, y_true))
    quadratic = minimum(abs_error, delta)
    values = 0.5 * square(quadratic) + delta * (abs_error - quadratic)
    return _mean_last_axis(values)


def _as_tensors(y_true, y_pred) -> tuple[Tensor, Tensor]:
    """_prepare's pair (it may pass NumPy targets on) as tensors of the predictions' dtype."""
    y_pred = convert_to_tensor(y_pred)
    return _as_tensor_like(y_true, y_pred), y_pred


def _prepare_same_shape(y_true, y_pred, fn_name: str) -> tuple[Tensor, Tensor]:
    """Targets and predictions of one shape (the fused cross-entropies take one): rank-aligned as
    _prepare does; other mismatches raise ValueError naming both shapes."""
    y_true, y_pred = _as_tensors(*_prepare(y_true, y_pred, fn_name))
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(
            f"{fn_name}: y_true shape {tuple(y_true.shape)} and y_pred shape "
            f"{tuple(y_pred.shape)} must be equal (one target distribution per prediction)"
        )
    if y_pred.ndim == 0:
        raise ValueError(f"{fn_name}: expected predictions of rank >= 1, got shape ()")
    return y_true, y_pred


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

_REDUCTIONS = ("sum_over_batch_size", "sum", "none", None)


class Loss:
    """Keras's loss classes: the per-sample function, then a reduction (default: the mean)."""

    fn = staticmethod(mean_squared_error)

    def __init__(
        self, reduction: Optional[str] = "sum_over_batch_size", name: Optional[str] = None
    ):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self.name = name or self.fn.__name__

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        if sample_weight is None and self.reduction == "sum_over_batch_size":
            total = self._mean_over_batch(y_true, y_pred)
            if total is not None:
                return total
        values = self.call(y_true, y_pred)
        if sample_weight is not None:
            weight = _as_tensor_like(sample_weight, values)
            if tuple(weight.shape) != tuple(values.shape):
                weight = (
                    reshape(weight, tuple(values.shape)) if weight.size == values.size else weight
                )
            values = multiply(values, weight)
        if self.reduction in ("none", None):
            return values
        if self.reduction == "sum":
            return reduce_sum(values)
        return reduce_mean(values) if values.size else reduce_sum(values)

    def call(self, y_true, y_pred) -> Tensor:
        """The per-sample values (subclasses with options pass them to their function)."""
        return self.fn(y_true, y_pred)

    def _mean_over_batch(self, y_true, y_pred):
        """The scalar loss by a shorter route, or None to take the per-sample one."""
        return None

    def get_config(self) -> dict:
        """The constructor arguments that rebuild this loss."""
        return {"reduction": self.reduction, "name": self.name}


class MeanSquaredError(Loss):
    fn = staticmethod(mean_squared_error)

    def _mean_over_batch(self, y_true, y_pred):
        y_true, y_pred = _prepare(y_true, y_pred, "mean_squared_error")
        if y_pred.ndim == 0 or y_pred.size == 0:
            return None
        return _mean_squared_error_total(y_true, y_pred)


class MeanAbsoluteError(Loss):
    fn = staticmethod(mean_absolute_error)


class _Crossentropy(Loss):
    """A cross-entropy loss class: ``fn(y_true, y_pred, from_logits, label_smoothing, axis)``."""

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: Optional[str] = "sum_over_batch_size",
        name: Optional[str] = None,
    ):
        super().__init__(reduction, name)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def call(self, y_true, y_pred) -> Tensor:
        return self.fn(y_true, y_pred, self.from_logits, self.label_smoothing, self.axis)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


class CategoricalCrossentropy(_Crossentropy):
    """Keras's ``CategoricalCrossentropy(from_logits, label_smoothing, axis, reduction)``."""

    fn = staticmethod(categorical_crossentropy)


class BinaryCrossentropy(_Crossentropy):
    """Keras's ``BinaryCrossentropy(from_logits, label_smoothing, axis, reduction)``."""

    fn = staticmethod(binary_crossentropy)


class Huber(Loss):
    """Keras's ``Huber(delta, reduction)``."""

    fn = staticmethod(huber)

    def __init__(
        self,
        delta: float = 1.0,
        reduction: Optional[str] = "sum_over_batch_size",
        name: Optional[str] = None,
    ):
        super().__init__(reduction, name)
        self.delta = delta

    def call(self, y_true, y_pred) -> Tensor:
        return huber(y_true, y_pred, self.delta)

    def get_config(self) -> dict:
        return {**super().get_config(), "delta": self.delta}


class SparseCategoricalCrossentropy(Loss):
    """Keras's SparseCategoricalCrossentropy: integer labels against per-class scores."""

    fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(
        self,
        from_logits: bool = False,
        reduction: Optional[str] = "sum_over_batch_size",
        name: Optional[str] = "sparse_categorical_crossentropy",
    ):
        super().__init__(reduction=reduction, name=name)
        self.from_logits = from_logits

    def call(self, y_true, y_pred) -> Tensor:
        return sparse_categorical_crossentropy(y_true, y_pred, from_logits=self.from_logits)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits}


_BY_NAME = {
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "huber": Huber,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get(identifier):
    """A loss callable ``(y_true, y_pred) -> scalar`` from a name, class instance or function."""
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown loss {identifier!r}; expected one of {sorted(_BY_NAME)}")
        return cls(name=identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"loss must be a name or a callable, got {identifier!r}")


__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Huber",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "get",
    "huber",
    "mae",
    "mean_absolute_error",
    "mean_squared_error",
    "mse",
    "sparse_categorical_crossentropy",
]
