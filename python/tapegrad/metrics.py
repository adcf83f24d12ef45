"""Keras metrics (SEMANTICS.md 13.1-13.2): running means over samples with ``update_state``,
``result``, ``reset_state``/``reset_states``.

Metrics are bookkeeping, not part of the graph: they read values (zero-copy) and accumulate in
float64 NumPy, so calling one inside a tape records nothing.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import _core
from ._core import DType, Tensor, Variable
from .ops import constant


def _values(x) -> np.ndarray:
    if isinstance(x, Variable):
        return x.numpy()
    return np.asarray(x.numpy() if isinstance(x, Tensor) else x, dtype=np.float64)


def _align(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras 3's squeeze_or_expand_to_same_rank: (N,) against (N, 1) is per-sample."""
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        if y_true.ndim == 1:
            return y_true[:, None], y_pred
        return y_true, y_pred[..., 0]
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        if y_pred.ndim == 1:
            return y_true, y_pred[:, None]
        return y_true[..., 0], y_pred
    try:
        np.broadcast_shapes(y_true.shape, y_pred.shape)
    except ValueError:
        raise ValueError(
            f"metric: y_true shape {y_true.shape} and y_pred shape {y_pred.shape} cannot be "
            "broadcast together"
        ) from None
    return y_true, y_pred


class Metric:
    def __init__(self, name: Optional[str] = None, dtype=None):
        self.name = name or _default_name(type(self).__name__)
        self.reset_state()

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    reset_states = reset_state  # tf.keras 2's name, used by the seed

    def update_state(self, *args, **kwargs) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define update_state")

    def result(self) -> Tensor:
        # float32 like Keras; a diverged run's huge total gives inf without a NumPy cast warning
        return constant(self.total / self.count if self.count else 0.0, dtype=DType.float32)

    def __call__(self, *args, **kwargs) -> Tensor:
        self.update_state(*args, **kwargs)
        return self.result()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} result={float(self.result()):.6g}>"


def _default_name(cls_name: str) -> str:
    return "".join(
        "_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(cls_name)
    )


class Mean(Metric):
    """The running mean of every value passed to ``update_state`` (weighted if asked)."""

    def update_state(self, values, sample_weight=None) -> None:
        v = _values(values)
        if sample_weight is None:
            self.total += float(v.sum())
            self.count += float(v.size)
            return
        w = np.broadcast_to(_values(sample_weight), v.shape)
        self.total += float((v * w).sum())
        self.count += float(w.sum())


class MeanMetricWrapper(Mean):
    """Mean over samples of a per-sample function of (y_true, y_pred)."""

    @staticmethod
    def per_sample(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = _values(y_true), _values(y_pred)
        if y_true.shape != y_pred.shape:
            y_true, y_pred = _align(y_true, y_pred)
        if sample_weight is None:  # the per-step path: sums without per-sample arrays
            total, count = self.sum_and_count(y_true - y_pred)
            self.total += total
            self.count += count
            return
        super().update_state(self.per_sample(y_true, y_pred), sample_weight)

    def sum_and_count(self, diff: np.ndarray) -> tuple[float, float]:
        """The sum of the per-sample values and the number of samples, from y_true - y_pred."""
        values = self.per_sample(diff, np.zeros((), diff.dtype))
        return float(values.sum()), float(values.size)


def _same_dtype(y_true, y_pred: Tensor) -> bool:
    if isinstance(y_true, Tensor):
        return y_true.dtype == y_pred.dtype
    return y_true.dtype == y_pred.dtype.as_numpy_dtype


def _mean_last(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 0 else x.mean(axis=-1)


def _samples(diff: np.ndarray) -> tuple[int, int]:
    """(number of samples, values per sample) of an error array: the last axis is one sample."""
    if diff.ndim == 0:
        return 1, 1
    width = diff.shape[-1]
    return (diff.size // width if width else 0), width


class MeanSquaredError(MeanMetricWrapper):
    @staticmethod
    def per_sample(y_true, y_pred):
        return _mean_last(np.square(y_true - y_pred))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        # The per-step case (a tensor prediction and targets of its shape and dtype, e.g. the
        # seed's loop): one C++ pass with the loss's kernel, nothing recorded on a tape.
        if (
            sample_weight is None
            and isinstance(y_pred, Tensor)
            and isinstance(y_true, (Tensor, np.ndarray))
            and y_true.shape == y_pred.shape
            and _same_dtype(y_true, y_pred)
        ):
            total, count = _core.mean_squared_error_total(y_true, y_pred)
            self.total += total
            self.count += count
            return
        super().update_state(y_true, y_pred, sample_weight)

    def sum_and_count(self, diff):
        n, width = _samples(diff)
        if width == 0:
            return 0.0, float(n)
        flat = diff.reshape(-1)
        # not np.dot: a BLAS call can wake OpenBLAS's worker threads, which then spin on the
        # other core for ~0.1 s and slow the training step sharing the machine
        return float((flat * flat).sum()) / width, float(n)


class MeanAbsoluteError(MeanMetricWrapper):
    @staticmethod
    def per_sample(y_true, y_pred):
        return _mean_last(np.abs(y_true - y_pred))

    def sum_and_count(self, diff):
        n, width = _samples(diff)
        if width == 0:
            return 0.0, float(n)
        return float(np.abs(diff).sum()) / width, float(n)


class RootMeanSquaredError(MeanSquaredError):
    def result(self) -> Tensor:
        return Tensor(np.float32(np.sqrt(self.total / self.count) if self.count else 0.0))


_BY_NAME = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "rmse": RootMeanSquaredError,
    "root_mean_squared_error": RootMeanSquaredError,
}


def get(identifier) -> Metric:
    """A fresh metric from a name (``"mse"``, ``"mae"``, ``"rmse"``) or an instance as is."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()](name=identifier)
    raise ValueError(f"unknown metric {identifier!r}; expected one of {sorted(_BY_NAME)}")


__all__ = [
    "Mean",
    "MeanAbsoluteError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "Metric",
    "RootMeanSquaredError",
    "get",
]
