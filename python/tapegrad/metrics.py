"""Keras metrics: running means over samples with ``update_state``, ``result``,
``reset_state``/``reset_states`` (the rules: tests/test_losses_metrics.py).

As in Keras (``Mean``/``MeanMetricWrapper``), the state is two non-trainable variables, ``total``
and ``count``, and ``update_state`` is tapegrad ops ending in ``assign_add``: a step traced by
``tg.function`` can replay the update. The state is float64 so that many small per-batch sums
add up without float32's rounding. Inputs pass through ``stop_gradient`` and the variables are
not trainable, so an update inside a tape changes no gradient.
"""

from __future__ import annotations

from typing import Optional

from ._core import DType, Tensor, Variable, tapes_recording
from ._core import ops as _ops
from .losses import align_ranks, binary_crossentropy, categorical_crossentropy
from .ops import abs as tg_abs
from .ops import (
    argmax,
    broadcast_to,
    cast,
    convert_to_tensor,
    divide,
    equal,
    multiply,
    reduce_mean,
    reduce_sum,
    relu,
    reshape,
    sqrt,
    stop_gradient,
    subtract,
    where,
)


def _detached(x) -> Tensor:
    """x as a tensor no recording tape tracks. With no tape recording it is x itself: a compiled
    step whose loss computed the same op on the same tensors then computes it once."""
    return stop_gradient(x) if tapes_recording() else convert_to_tensor(x)


def _aligned(y_true, y_pred) -> tuple[Tensor, Tensor]:
    """Detached targets in the predictions' dtype, ranks aligned so that (N,) against (N, 1) is
    one error per sample. Shapes that cannot broadcast make the per-sample op raise ValueError."""
    y_pred = _detached(y_pred)
    y_true = _detached(y_true)
    if not y_pred.dtype.is_floating:  # Keras converts both to the metric's dtype, float32
        y_pred = cast(y_pred, DType.float32)
    if y_true.dtype != y_pred.dtype:
        y_true = cast(y_true, y_pred.dtype)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        y_true, y_pred, _ = align_ranks(y_true, y_pred)
    return y_true, y_pred


def _as_float64_sum(x: Tensor) -> Tensor:
    """The batch's sum, then float64: the state accumulates in float64 (module docstring)."""
    return cast(reduce_sum(x), DType.float64)


def _state_variable(name: str) -> Variable:
    return Variable(0.0, trainable=False, name=name, dtype=DType.float64)


class Metric:
    """Base class of the metrics: a running value kept in float64 Variables (``total``, ``count``),
    updated by update_state and read by result."""

    def __init__(self, name: Optional[str] = None, dtype=None):
        self.name = name or _default_name(type(self).__name__)
        self.total = _state_variable("total")
        self.count = _state_variable("count")

    def reset_state(self) -> None:
        """Forgets every value seen so far (fit calls it at the start of each epoch)."""
        self.total.assign(0.0)
        self.count.assign(0.0)

    reset_states = reset_state  # tf.keras 2's name, used by the seed

    def update_state(self, *args, **kwargs) -> None:
        """Adds a batch's values to the running state; subclasses define what they take."""
        raise NotImplementedError(f"{type(self).__name__} must define update_state")

    def _mean(self) -> Tensor:
        """total / count in float64, exactly 0 while count is 0. ``where`` discards the 0/0 of an
        empty metric (a NaN computed in C++: no NumPy warning); ``maximum(count, 1)`` would not
        do, as weighted counts may lie between 0 and 1."""
        return where(self.count, divide(self.total, self.count), 0.0)

    def result(self) -> Tensor:
        """The current value as a float32 scalar Tensor (0 before any update)."""
        # float32 like Keras; a diverged run's huge total casts to inf without a warning
        return cast(self._mean(), DType.float32)

    def __call__(self, *args, **kwargs) -> Tensor:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        """The constructor arguments that rebuild this metric."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} result={float(self.result()):.6g}>"


def _default_name(cls_name: str) -> str:
    return "".join(
        "_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(cls_name)
    )


class Mean(Metric):
    """The running mean of every value passed to ``update_state`` (weighted if asked)."""

    def update_state(self, values, sample_weight=None) -> None:
        self._accumulate(_detached(values), sample_weight)

    def _accumulate(self, values: Tensor, sample_weight=None) -> None:
        """Adds detached ``values`` (each weighted by ``sample_weight``) to total and their number
        (the sum of the weights) to count. The count without weights comes from the shape alone."""
        if sample_weight is None:
            self.total.assign_add(_as_float64_sum(values))
            self.count.assign_add(values.size)
            return
        weight = _detached(sample_weight)
        if weight.dtype != values.dtype:
            weight = cast(weight, values.dtype)
        values, weight, _ = align_ranks(values, weight)  # (N,) values against (N, 1) weights
        weight = broadcast_to(weight, tuple(values.shape))
        self.total.assign_add(_as_float64_sum(multiply(values, weight)))
        self.count.assign_add(_as_float64_sum(weight))


class MeanMetricWrapper(Mean):
    """Mean over samples of a per-sample function of (y_true, y_pred)."""

    @staticmethod
    def per_sample(y_true: Tensor, y_pred: Tensor) -> Tensor:
        """One value per sample (the last axis is one sample), by tapegrad ops."""
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = _aligned(y_true, y_pred)
        self._accumulate(self.per_sample(y_true, y_pred), sample_weight)


def _mean_last_axis(values: Tensor) -> Tensor:
    return values if values.ndim == 0 else reduce_mean(values, axis=-1)


class MeanSquaredError(MeanMetricWrapper):
    # the loss's fused op (one pass): mean(square(y_true - y_pred), axis=-1)
    per_sample = staticmethod(_ops.mean_squared_error)


class MeanAbsoluteError(MeanMetricWrapper):
    @staticmethod
    def per_sample(y_true, y_pred):
        return _mean_last_axis(tg_abs(subtract(y_true, y_pred)))


class RootMeanSquaredError(MeanSquaredError):
    def result(self) -> Tensor:
        return cast(sqrt(self._mean()), DType.float32)


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels, elementwise (Keras's Accuracy: for predictions that
    are already class indices or exact values)."""

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = _detached(y_true), _detached(y_pred)
        if tuple(y_true.shape) != tuple(y_pred.shape):
            y_true, y_pred, _ = align_ranks(y_true, y_pred)
        self._accumulate(cast(equal(y_true, y_pred), DType.float32), sample_weight)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label equals the argmax of the per-class scores (N, C); labels of
    shape (N,) or (N, 1), integer or float."""

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = _detached(y_true), _detached(y_pred)
        lead = tuple(y_pred.shape[:-1])
        if tuple(y_true.shape) == (*lead, 1):
            y_true = reshape(y_true, lead)
        predicted = argmax(y_pred, axis=-1)
        if y_true.dtype.is_floating:
            predicted = cast(predicted, y_true.dtype)
        self._accumulate(cast(equal(y_true, predicted), DType.float32), sample_weight)


class CategoricalAccuracy(MeanMetricWrapper):
    """The fraction of samples whose predicted class (argmax of y_pred along the last axis) is
    the target's (argmax of the one-hot or probability y_true); ties go to the first index."""

    @staticmethod
    def per_sample(y_true, y_pred):
        return _ops._argmax_equal(y_true, y_pred, -1)


class BinaryAccuracy(MeanMetricWrapper):
    """The mean over the last axis of ``y_true == (y_pred > threshold)``, then over samples."""

    def __init__(self, name: Optional[str] = None, dtype=None, threshold: float = 0.5):
        super().__init__(name, dtype)
        self.threshold = threshold

    def per_sample(self, y_true, y_pred):
        # 1 where y_pred > threshold (relu is nonzero exactly there), then 1 where y_true equals
        # that 0/1 prediction (their difference is zero): float ops only, exact comparisons.
        predicted = where(relu(subtract(y_pred, self.threshold)), 1.0, 0.0)
        return _mean_last_axis(where(subtract(y_true, predicted), 0.0, 1.0))

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold}


class _CrossentropyMetric(MeanMetricWrapper):
    loss_fn = staticmethod(categorical_crossentropy)

    def __init__(
        self,
        name: Optional[str] = None,
        dtype=None,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
    ):
        super().__init__(name, dtype)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis

    def per_sample(self, y_true, y_pred):
        return self.loss_fn(y_true, y_pred, self.from_logits, self.label_smoothing, self.axis)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


class CategoricalCrossentropy(_CrossentropyMetric):
    """The running mean of the categorical cross-entropy (losses.categorical_crossentropy)."""


class BinaryCrossentropy(_CrossentropyMetric):
    """The running mean of the binary cross-entropy (losses.binary_crossentropy)."""

    loss_fn = staticmethod(binary_crossentropy)


_BY_NAME = {
    "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "rmse": RootMeanSquaredError,
    "root_mean_squared_error": RootMeanSquaredError,
    "accuracy": Accuracy,
    "acc": Accuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
}


def get(identifier) -> Metric:
    """A fresh metric from a name (``"mse"``, ``"mae"``, ``"rmse"``, ``"categorical_accuracy"``,
    ...: the keys of _BY_NAME) or an instance as is."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()](name=identifier)
    raise ValueError(f"unknown metric {identifier!r}; expected one of {sorted(_BY_NAME)}")


__all__ = [
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "Mean",
    "MeanAbsoluteError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "Metric",
    "RootMeanSquaredError",
    "SparseCategoricalAccuracy",
    "get",
]
