"""Optimizers with Keras's update rules (the rules: tests/test_optimizers.py).

Every optimizer's state lives in its C++ object (``_core.optim``): the ``iterations`` counter, the
learning rate or built-in schedule, clipping and the per-variable slots. ``apply_gradients`` only
sorts the ``(grad, var)`` pairs and makes one C++ call that updates every parameter through the
variables' copy-on-write rule (a tape that saved a variable's old value keeps it) and counts the
update, so a compiled replay of a training step, which calls the same C++ update, is seen here.

A learning rate that is a plain Python callable (not one of ``schedules``' built-ins) is evaluated
by Python before each eager update; a compiled replay cannot call it and keeps the last rate set.

Pickling (and ``copy.deepcopy``) keeps the whole state: settings, ``iterations`` and every slot,
stored beside the variable it belongs to. Pickle the optimizer together with its model (one
``pickle.dumps((model, optimizer))``) so the slots come back attached to the model's copies.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Callable, Union

import numpy as np

from . import schedules
from ._core import GradientTape, Variable
from ._core import optim as _optim

LearningRate = Union[float, schedules.LearningRateSchedule, Callable[[int], float]]


def _clip_property(field: str) -> property:
    """A clip setting stored on the C++ object (0 there means off, None here)."""

    def get(self):
        return getattr(self._impl, field) or None

    def set_(self, value):
        setattr(self._impl, field, value)

    return property(get, set_, doc=f"``{field}`` (None when off).")


def warn_missing_gradients(names: list, stacklevel: int = 2) -> None:
    """Keras's warning for variables whose gradient is None (they are left out of the update)."""
    warnings.warn(
        f"Gradients do not exist for variables {names} when minimizing the loss. "
        "If using `model.compile()`, did you forget to provide a `loss` argument?",
        stacklevel=stacklevel + 1,
    )


class Optimizer:
    """Base class: ``apply_gradients`` over ``(grad, var)`` pairs, ``minimize``, clipping,
    learning-rate schedules and the ``iterations`` counter. A subclass passes its C++ object
    (``_impl``, a ``_core.optim.Optimizer``) and adds its own settings."""

    def __init__(
        self,
        impl,
        learning_rate: LearningRate = 0.01,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs,
    ):
        if "lr" in kwargs:  # tutorials written for tf.keras 2 say lr=
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
        self._impl = impl
        self._updated_variables: dict = {}  # every variable with slots, for pickling
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.learning_rate = learning_rate
        self.name = name or type(self).__name__

    clipnorm = _clip_property("clipnorm")
    clipvalue = _clip_property("clipvalue")
    global_clipnorm = _clip_property("global_clipnorm")

    @property
    def iterations(self) -> int:
        """Updates applied so far (the C++ counter, which compiled replays advance too)."""
        return self._impl.iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        self._impl.iterations = int(value)

    @property
    def learning_rate(self) -> LearningRate:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: LearningRate) -> None:
        if callable(value):
            core = value._to_core() if isinstance(value, schedules.LearningRateSchedule) else None
            self._python_rate = core is None
            if core is not None:
                self._impl.learning_rate = core
        else:
            value = float(value)
            if not value >= 0:
                raise ValueError(f"learning_rate must be >= 0, got {value}")
            self._python_rate = False
            self._impl.learning_rate = value
        self._learning_rate = value

    lr = learning_rate  # the tf.keras 2 name

    def current_learning_rate(self) -> float:
        """The rate the next update uses (a schedule is evaluated at ``iterations``)."""
        if self._python_rate:
            return float(self._learning_rate(self.iterations))
        return self._impl.current_learning_rate()

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
            warn_missing_gradients(missing, stacklevel=2)
        return self._apply_all(grads, variables)

    def _apply_all(self, grads: list, variables: list) -> int:
        """apply_gradients for a trusted caller (the Trainer) holding a gradient for every
        variable: no per-pair checks beyond the C++ ones."""
        self._prepare_step()
        for var in variables:
            self._updated_variables[var] = None
        return self._impl.apply(grads, variables)

    @property
    def _needs_python_per_step(self) -> bool:
        """Whether only Python can compute the next rate: a compiled training step must then
        return to Python before each update (the Trainer does)."""
        return self._python_rate

    def _prepare_step(self) -> None:
        """Hands C++ the next update's rate when only Python can evaluate it."""
        if self._python_rate:
            self._impl.learning_rate = self.current_learning_rate()

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

    # -- saving and restoring the state -------------------------------------------------------
    def save_state(self, variables, path) -> None:
        """Writes the state that training changes (``iterations`` and every slot of
        ``variables``, by their position) to an ``.npz`` file at ``path``: with the model's
        weights it lets training resume exactly. The settings (rate, betas) are not saved: the
        optimizer made to resume carries them."""
        variables = list(variables)
        arrays = {
            "__class__": np.array(type(self).__name__),
            "__iterations__": np.array(self.iterations, dtype=np.int64),
            "__shapes__": np.array(json.dumps([list(v.shape) for v in variables])),
        }
        for name in self._impl.slot_names:
            for i, var in enumerate(variables):
                value = self._impl.get_slot(name, var)
                if value is not None:
                    arrays[f"{name}/{i:04d}"] = value
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        Path(path).write_bytes(buf.getvalue())

    def load_state(self, variables, path) -> None:
        """Restores what ``save_state`` wrote into this optimizer, for ``variables`` in the
        order they were saved. ValueError when the file is another optimizer's or its slots do
        not fit the variables (naming both shapes); nothing changes then."""
        variables = list(variables)
        where = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                saved = {k: data[k] for k in data.files}
        except (OSError, ValueError) as e:
            raise ValueError(
                f"{where}: not an optimizer state written by save_state: {e}"
            ) from None
        kind = str(saved.get("__class__", ""))
        if kind != type(self).__name__:
            raise ValueError(
                f"{where} holds the state of {kind or 'no optimizer'}; this optimizer is "
                f"{type(self).__name__}"
            )
        shapes = [tuple(s) for s in json.loads(str(saved["__shapes__"]))]
        ours = [tuple(v.shape) for v in variables]
        if shapes != ours:
            raise ValueError(
                f"{where} was saved for variables of shapes {shapes}; these have shapes {ours}"
            )
        slots = []
        for key, value in saved.items():
            if key.startswith("__"):
                continue
            name, _, index = key.rpartition("/")
            if name not in self._impl.slot_names or not index.isdigit() or int(index) >= len(ours):
                raise ValueError(f"{where}: {key!r} is no slot of {type(self).__name__}")
            var = variables[int(index)]
            slots.append((name, var, np.asarray(value, dtype=var.dtype.as_numpy_dtype)))
        for name, var, value in slots:
            self._impl.set_slot(name, var, value)
        self.iterations = int(saved["__iterations__"])

    def _new_impl(self):
        """A fresh C++ optimizer with this one's rule settings (no state)."""
        raise NotImplementedError(f"{type(self).__name__} must define _new_impl")

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("_impl", "_updated_variables")}
        state["_clips"] = (self.clipnorm, self.clipvalue, self.global_clipnorm)
        state["_iterations"] = self.iterations
        names = self._impl.slot_names
        state["_slots"] = [
            (var, {name: self._impl.get_slot(name, var) for name in names})
            for var in self._updated_variables
        ]
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        clips, iterations = state.pop("_clips"), state.pop("_iterations")
        slots = state.pop("_slots")
        self.__dict__.update(state)
        self._impl = self._new_impl()
        self._updated_variables = {}
        self.clipnorm, self.clipvalue, self.global_clipnorm = clips
        self.learning_rate = self._learning_rate
        self.iterations = iterations
        for var, values in slots:
            self._updated_variables[var] = None
            for name, value in values.items():
                if value is not None:
                    self._impl.set_slot(name, var, value)

    def get_config(self) -> dict:
        """The optimizer's settings as plain data (name, learning rate or its schedule's class,
        clipping)."""
        lr = self._learning_rate
        return {
            "name": self.name,
            "learning_rate": lr if not callable(lr) else type(lr).__name__,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
        }


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
        if not momentum >= 0:
            raise ValueError(f"momentum must be >= 0, got {momentum}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        super().__init__(self._new_impl(), learning_rate, **kwargs)

    def _new_impl(self):
        return _optim.SGD(self.momentum, self.nesterov)

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
        if amsgrad:
            raise ValueError(f"{type(self).__name__}: amsgrad=True is not supported")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        super().__init__(self._new_impl(), learning_rate, **kwargs)

    def _new_impl(self):
        return _optim.Adam(self.beta_1, self.beta_2, self.epsilon)

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


class AdamW(Adam):
    """Adam with Keras's decoupled weight decay: ``w -= w * weight_decay * lr`` before the Adam
    step (on every variable it updates)."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs,
    ):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a float, got None")
        self.weight_decay = float(weight_decay)
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, **kwargs)

    def _new_impl(self):
        return _optim.AdamW(self.weight_decay, self.beta_1, self.beta_2, self.epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "weight_decay": self.weight_decay}


class RMSprop(Optimizer):
    """Keras's RMSprop: ``v = rho*v + (1-rho)*g^2``; centered: ``a = rho*a + (1-rho)*g`` and
    ``d = v - a^2 + epsilon``, else ``d = v + epsilon``; ``u = lr*g/sqrt(d)``; ``w -= u``, or
    with momentum: ``p = momentum*p + u; w -= p`` (slots start at 0)."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        **kwargs,
    ):
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)
        super().__init__(self._new_impl(), learning_rate, **kwargs)

    def _new_impl(self):
        return _optim.RMSprop(self.rho, self.momentum, self.epsilon, self.centered)

    def slots(self, var: Variable) -> dict:
        """``velocity``, ``momentum`` and ``average_gradient`` of ``var`` as NumPy copies (None
        before its first update, or when the setting that uses the slot is off)."""
        return {
            "velocity": self._impl.velocity(var),
            "momentum": self._impl.momentum(var),
            "average_gradient": self._impl.average_gradient(var),
        }

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adagrad(Optimizer):
    """Keras's Adagrad: ``acc += g^2`` (from ``initial_accumulator_value``), then
    ``w -= lr*g/sqrt(acc + epsilon)``."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        **kwargs,
    ):
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)
        super().__init__(self._new_impl(), learning_rate, **kwargs)

    def _new_impl(self):
        return _optim.Adagrad(self.initial_accumulator_value, self.epsilon)

    def accumulator(self, var: Variable):
        """The accumulator of ``var`` as a NumPy copy (None before its first update)."""
        return self._impl.accumulator(var)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier) -> Optimizer:
    """An optimizer from an instance or a name (``"sgd"``, ``"adam"``, ``"adamw"``,
    ``"rmsprop"``, ``"adagrad"``) with default settings."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"unknown optimizer {identifier!r}; expected one of {sorted(_BY_NAME)}")


__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "get", "schedules"]
