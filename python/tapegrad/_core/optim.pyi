"""
Optimizers with Keras's update rules, state owned by C++.
"""
from __future__ import annotations
import collections.abc
import tapegrad._core
import typing
__all__: list[str] = ['Adagrad', 'Adam', 'AdamW', 'LearningRate', 'Optimizer', 'RMSprop', 'SGD']
class LearningRate:
    """
    A learning rate from the step counter: a constant or a built-in schedule.
    """
    @staticmethod
    def constant(value: typing.SupportsFloat | typing.SupportsIndex) -> LearningRate:
        ...
    @staticmethod
    def exponential_decay(initial_learning_rate: typing.SupportsFloat | typing.SupportsIndex, decay_steps: typing.SupportsInt | typing.SupportsIndex, decay_rate: typing.SupportsFloat | typing.SupportsIndex, staircase: bool = False) -> LearningRate:
        ...
    @staticmethod
    def inverse_time_decay(initial_learning_rate: typing.SupportsFloat | typing.SupportsIndex, decay_steps: typing.SupportsInt | typing.SupportsIndex, decay_rate: typing.SupportsFloat | typing.SupportsIndex, staircase: bool = False) -> LearningRate:
        ...
    @staticmethod
    def piecewise_constant_decay(boundaries: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], values: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> LearningRate:
        ...
    def __call__(self, step: typing.SupportsInt | typing.SupportsIndex) -> float:
        """
        The rate at `step` (updates applied so far).
        """
    def __repr__(self) -> str:
        ...
    @property
    def is_constant(self) -> bool:
        ...
class Optimizer:
    def apply(self, grads: collections.abc.Sequence, vars: collections.abc.Sequence) -> int:
        """
        Updates every variable in place with its gradient (one call) and counts the update; returns the new iterations.
        """
    def apply_allreduced(self, grads: collections.abc.Sequence, vars: collections.abc.Sequence, loss: typing.Any, local_rows: typing.SupportsInt | typing.SupportsIndex, global_rows: typing.SupportsInt | typing.SupportsIndex, reduce: typing.Any) -> None:
        """
        A data-parallel update (see Note [A data-parallel update] in cpp/bindings/optim.cpp); recorded on an active trace as one effect.
        """
    def current_learning_rate(self) -> float:
        """
        The rate the next apply uses: learning_rate(iterations).
        """
    def get_slot(self, name: str, var: tapegrad._core.Variable) -> typing.Any:
        """
        The slot `name` of `var` as a NumPy copy (None before its first update).
        """
    def set_slot(self, name: str, var: tapegrad._core.Variable, value: typing.Any) -> None:
        """
        Restores the slot `name` of `var` from a saved array of the variable's shape and dtype.
        """
    @property
    def clipnorm(self) -> float:
        ...
    @clipnorm.setter
    def clipnorm(self, arg1: typing.Any) -> None:
        ...
    @property
    def clipvalue(self) -> float:
        ...
    @clipvalue.setter
    def clipvalue(self, arg1: typing.Any) -> None:
        ...
    @property
    def global_clipnorm(self) -> float:
        ...
    @global_clipnorm.setter
    def global_clipnorm(self, arg1: typing.Any) -> None:
        ...
    @property
    def iterations(self) -> int:
        ...
    @iterations.setter
    def iterations(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def learning_rate(self) -> LearningRate:
        """
        A LearningRate; a float sets a constant rate.
        """
    @learning_rate.setter
    def learning_rate(self, arg1: typing.Any) -> None:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def slot_names(self) -> list[str]:
        """
        The names of the per-variable slots this optimizer keeps (Keras's names).
        """
class SGD(Optimizer):
    def __init__(self, momentum: typing.SupportsFloat | typing.SupportsIndex = 0.0, nesterov: bool = False) -> None:
        ...
    def velocity(self, arg0: tapegrad._core.Variable) -> typing.Any:
        ...
class Adam(Optimizer):
    def __init__(self, beta_1: typing.SupportsFloat | typing.SupportsIndex = 0.9, beta_2: typing.SupportsFloat | typing.SupportsIndex = 0.999, epsilon: typing.SupportsFloat | typing.SupportsIndex = 1e-07) -> None:
        ...
    def first_moment(self, arg0: tapegrad._core.Variable) -> typing.Any:
        ...
    def second_moment(self, arg0: tapegrad._core.Variable) -> typing.Any:
        ...
class AdamW(Adam):
    def __init__(self, weight_decay: typing.SupportsFloat | typing.SupportsIndex = 0.004, beta_1: typing.SupportsFloat | typing.SupportsIndex = 0.9, beta_2: typing.SupportsFloat | typing.SupportsIndex = 0.999, epsilon: typing.SupportsFloat | typing.SupportsIndex = 1e-07) -> None:
        ...
class RMSprop(Optimizer):
    def __init__(self, rho: typing.SupportsFloat | typing.SupportsIndex = 0.9, momentum: typing.SupportsFloat | typing.SupportsIndex = 0.0, epsilon: typing.SupportsFloat | typing.SupportsIndex = 1e-07, centered: bool = False) -> None:
        ...
    def average_gradient(self, arg0: tapegrad._core.Variable) -> typing.Any:
        ...
    def momentum(self, arg0: tapegrad._core.Variable) -> typing.Any:
        ...
    def velocity(self, arg0: tapegrad._core.Variable) -> typing.Any:
        ...
class Adagrad(Optimizer):
    def __init__(self, initial_accumulator_value: typing.SupportsFloat | typing.SupportsIndex = 0.1, epsilon: typing.SupportsFloat | typing.SupportsIndex = 1e-07) -> None:
        ...
    def accumulator(self, arg0: tapegrad._core.Variable) -> typing.Any:
        ...
