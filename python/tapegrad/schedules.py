"""Learning-rate schedules (``tg.optimizers.schedules``): callables from the step to a rate.

An optimizer given a schedule evaluates it at its ``iterations`` counter before every update, as
Keras does. The built-in schedules are also computed in C++ (``_core.optim.LearningRate``, the
same operations in the same order, so the same doubles), which lets an optimizer's update run with
no Python; a schedule whose ``__call__`` is not a built-in one is evaluated by Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ._core import optim as _optim


class LearningRateSchedule:
    """Base class: ``schedule(step) -> learning rate`` (step counts updates from 0)."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define __call__(step)")

    def get_config(self) -> dict:
        return dict(vars(self))

    def _to_core(self):
        """This schedule as a ``_core.optim.LearningRate``, or None when only Python can compute
        it: the C++ spec is used only if the class that defines it also defines the ``__call__``
        in effect, so a subclass that overrides ``__call__`` is never replaced by its parent's."""
        for klass in type(self).__mro__:
            if "__call__" in vars(klass):
                return klass._core_spec(self) if "_core_spec" in vars(klass) else None
        return None


class _DecayOverSteps(LearningRateSchedule):
    """What ExponentialDecay and InverseTimeDecay share: the decay's progress ``step /
    decay_steps``, floored with ``staircase``."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
    ):
        if decay_steps <= 0:
            raise ValueError(f"decay_steps must be > 0, got {decay_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = int(decay_steps)
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)

    def _progress(self, step: int) -> float:
        p = step / self.decay_steps
        return math.floor(p) if self.staircase else p


class ExponentialDecay(_DecayOverSteps):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with ``staircase`` the
    exponent is floored, so the rate drops by ``decay_rate`` every ``decay_steps`` steps."""

    def __call__(self, step: int) -> float:
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)

    def _core_spec(self):
        return _optim.LearningRate.exponential_decay(
            self.initial_learning_rate, self.decay_steps, self.decay_rate, self.staircase
        )


class StepDecay(ExponentialDecay):
    """Step decay: the rate is multiplied by ``drop`` every ``step_size`` steps
    (ExponentialDecay with ``staircase=True``)."""

    def __init__(self, initial_learning_rate: float, step_size: int, drop: float = 0.5):
        super().__init__(initial_learning_rate, step_size, drop, staircase=True)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` while ``boundaries[i-1] < step <= boundaries[i]`` (Keras's convention)."""

    def __init__(self, boundaries: Sequence[int], values: Sequence[float]):
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"values must have one more element than boundaries: got {len(values)} values "
                f"for {len(boundaries)} boundaries"
            )
        if list(boundaries) != sorted(boundaries):
            raise ValueError(f"boundaries must be increasing, got {list(boundaries)}")
        self.boundaries = list(boundaries)
        self.values = [float(v) for v in values]

    def __call__(self, step: int) -> float:
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def _core_spec(self):
        return _optim.LearningRate.piecewise_constant_decay(self.boundaries, self.values)


class InverseTimeDecay(_DecayOverSteps):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``, floored with staircase."""

    def __call__(self, step: int) -> float:
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))

    def _core_spec(self):
        return _optim.LearningRate.inverse_time_decay(
            self.initial_learning_rate, self.decay_steps, self.decay_rate, self.staircase
        )
