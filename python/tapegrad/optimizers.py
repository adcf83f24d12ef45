"""Optimizers with Keras's update rules (SEMANTICS.md section 12)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

from ._core import Variable


class Optimizer:
    """Base class: ``apply_gradients`` over ``(grad, var)`` pairs, ``minimize``."""

    def __init__(self, learning_rate: float = 0.01, **kwargs):
        if "lr" in kwargs:  # tutorials written for tf.keras 2 say lr=
            learning_rate = kwargs.pop("lr")
        if kwargs:
            raise TypeError(f"unexpected arguments: {sorted(kwargs)}")
        self.learning_rate = float(learning_rate)
        self.iterations = 0

    @property
    def lr(self) -> float:
        return self.learning_rate

    def apply_gradients(self, grads_and_vars: Iterable) -> int:
        pairs = list(grads_and_vars)
        for _, var in pairs:
            if not isinstance(var, Variable):
                got = type(var).__name__
                raise TypeError(f"apply_gradients: expected (gradient, Variable) pairs, got {got}")
        missing = [var.name for grad, var in pairs if grad is None]
        present = [(grad, var) for grad, var in pairs if grad is not None]
        if not present:
            raise ValueError("No gradients provided for any variable.")
        if missing:
            warnings.warn(
                f"Gradients do not exist for variables {missing} when minimizing the loss.",
                stacklevel=2,
            )
        self._update(present)
        self.iterations += 1
        return self.iterations

    def minimize(self, loss, var_list):
        from ._core import GradientTape

        with GradientTape() as tape:
            value = loss()
        grads = tape.gradient(value, list(var_list))
        return self.apply_gradients(zip(grads, var_list))

    def _update(self, pairs) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """``w -= lr * g``; with momentum m: ``v = m*v - lr*g; w += v``.

    With nesterov: ``w += m*v - lr*g``.
    """

    def __init__(
        self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False, **kw
    ):
        super().__init__(learning_rate, **kw)
        if momentum < 0:
            raise ValueError(f"momentum must be >= 0, got {momentum}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self._velocity: dict[int, object] = {}

    def _update(self, pairs) -> None:
        lr, m = self.learning_rate, self.momentum
        for grad, var in pairs:
            if m == 0.0:
                var.assign_sub(lr * grad)
                continue
            v = self._velocity.get(id(var))
            v = -lr * grad if v is None else m * v - lr * grad
            self._velocity[id(var)] = v
            var.assign_add(m * v - lr * grad if self.nesterov else v)
