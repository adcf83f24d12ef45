"""Optimizers with Keras's update rules (SEMANTICS.md section 12).

Python only sorts the ``(grad, var)`` pairs and picks the step's learning rate; the update of
every parameter is one call into the fused C++ kernels (``_core.optim``), which write through the
variables' copy-on-write rule, so a tape that saved a variable's old value keeps it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Callable, Union

from . import schedules
from ._core import GradientTape, Variable
from ._core import optim as _optim

LearningRate = Union[float, schedules.LearningRateSchedule, Callable[[int], float]]


class Optimizer:
    """Base class: ``apply_gradients`` over ``(grad, var)`` pairs, ``minimize``, clipping,
    learning-rate schedules and the ``iterations`` counter."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.01,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs,
    ):
        if "lr" in kwargs:  # tutorials written for tf.keras 2 say lr= (SEMANTICS 12.1)
            learning_rate = kwargs.pop("lr")
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(kwargs)}")
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        set_clips = sorted(k for k, v in clips.items() if v is not None)
        if len(set_clips) > 1:
            raise ValueError(
                f"only one of clipnorm, clipvalue and global_clipnorm can be set, got {set_clips}"
            )
        for label in set_clips:
            if not clips[label] > 0:
                raise ValueError(f"{label} must be > 0, got {clips[label]}")
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.learning_rate = learning_rate
        self.name = name or type(self).__name__
        self.iterations = 0

    @property
    def learning_rate(self) -> LearningRate:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: LearningRate) -> None:
        if not callable(value):
            value = float(value)
            if not value >= 0:
                raise ValueError(f"learning_rate must be >= 0, got {value}")
        self._learning_rate = value

    lr = learning_rate  # the tf.keras 2 name

    def current_learning_rate(self) -> float:
        """The rate the next update uses (a schedule is called with ``iterations``)."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    def _clip_args(self) -> tuple[float, float, float]:
        return (self.clipnorm or 0.0, self.global_clipnorm or 0.0, self.clipvalue or 0.0)

    def apply_gradients(self, grads_and_vars: Iterable) -> int:
        """One update of every variable with a gradient; returns the new ``iterations``.

        ``None`` gradients are skipped with a warning naming the variables; if all are ``None``
        this raises ``ValueError("No gradients provided for any variable.")``.
        """
        grads, variables, missing = [], [], []
        for pair in grads_and_vars:
            try:
                grad, var = pair
            except (TypeError, ValueError):
                raise TypeError(
                    f"apply_gradients expects (gradient, variable) pairs, got {pair!r}"
                ) from None
            if not isinstance(var, Variable):
                raise TypeError(
                    f"apply_gradients: expected (gradient, Variable) pairs, got a "
                    f"{type(var).__name__} as the variable"
                )
            if grad is None:
                missing.append(var.name)
                continue
            grads.append(grad)
            variables.append(var)
        if not variables:
            raise ValueError("No gradients provided for any variable.")
        if missing:
            warnings.warn(
                f"Gradients do not exist for variables {missing} when minimizing the loss. "
                "If using `model.compile()`, did you forget to provide a `loss` argument?",
                stacklevel=2,
            )
        self._apply(grads, variables, self.current_learning_rate())
        self.iterations += 1
        return self.iterations

    def _apply_all(self, grads: list, variables: list) -> None:
        """apply_gradients for a trusted caller (the Trainer) holding a gradient for every
        variable: no per-pair checks beyond the C++ kernels' own."""
        self._apply(grads, variables, self.current_learning_rate())
        self.iterations += 1

    def minimize(self, loss: Callable, var_list) -> int:
        """One ``apply_gradients`` step on the gradient of ``loss()`` (a zero-argument callable,
        or a tensor already computed under a tape is not accepted: Keras's rule)."""
        if not callable(loss):
            raise TypeError("minimize: loss must be a callable returning the loss tensor")
        var_list = list(var_list() if callable(var_list) else var_list)
        with GradientTape() as tape:
            value = loss()
        grads = tape.gradient(value, var_list)
        return self.apply_gradients(zip(grads, var_list))

    def get_config(self) -> dict:
        lr = self._learning_rate
        return {
            "name": self.name,
            "learning_rate": lr if not callable(lr) else type(lr).__name__,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
        }

    def _apply(self, grads: list, variables: list, lr: float) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define _apply")


class SGD(Optimizer):
    """``w -= lr * g``; with momentum m: ``v = m*v - lr*g; w += v``; with nesterov:
    ``w += m*v - lr*g`` after the velocity update (Keras's rules, velocity starts at 0)."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        if not momentum >= 0:
            raise ValueError(f"momentum must be >= 0, got {momentum}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self._impl = _optim.SGD(self.momentum, self.nesterov)

    def _apply(self, grads, variables, lr) -> None:
        self._impl.apply(grads, variables, lr, *self._clip_args())

    def velocity(self, var: Variable):
        """The momentum slot of ``var`` as a NumPy copy (None before its first update)."""
        return self._impl.velocity(var)

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Keras's Adam: ``alpha = lr*sqrt(1-b2^t)/(1-b1^t)``, ``m += (g-m)(1-b1)``,
    ``v += (g^2-v)(1-b2)``, ``w -= alpha*m/(sqrt(v)+epsilon)`` with ``t = iterations + 1``."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs,
    ):
        super().__init__(learning_rate, **kwargs)
        if amsgrad:
            raise ValueError("Adam: amsgrad=True is not supported")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self._impl = _optim.Adam(self.beta_1, self.beta_2, self.epsilon)

    def _apply(self, grads, variables, lr) -> None:
        self._impl.apply(grads, variables, lr, self.iterations + 1, *self._clip_args())

    def moments(self, var: Variable):
        """``(m, v)`` of ``var`` as NumPy copies (None before its first update)."""
        return self._impl.first_moment(var), self._impl.second_moment(var)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


_BY_NAME = {"sgd": SGD, "adam": Adam}


def get(identifier) -> Optimizer:
    """An optimizer from an instance or a name (``"sgd"``, ``"adam"``) with default settings."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"unknown optimizer {identifier!r}; expected one of {sorted(_BY_NAME)}")


__all__ = ["SGD", "Adam", "Optimizer", "get", "schedules"]
