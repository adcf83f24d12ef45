"""GradientTape's Python-side companions: unconnected-gradient options, the seed's central
difference, a gradient checker, and the repr of Tensor and Variable (their NumPy interop, DLPack
and pickling: interop.py)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import _core
from ._core import GradientTape, Tensor, Variable


class UnconnectedGradients(enum.Enum):
    """What ``gradient`` returns for a source with no path to the target."""

    NONE = "none"
    ZERO = "zero"


def approximate_derivative(f: Callable, x, eta: float = 1e-3, eps: float | None = None):
    """The seed's central difference ``(f(x + eta) - f(x - eta)) / (2 eta)``."""
    if eps is not None:
        eta = eps
    return (f(x + eta) - f(x - eta)) / (2 * eta)


@dataclass
class GradientCheckResult:
    ok: bool
    max_abs_error: float
    max_rel_error: float
    analytic: list
    numeric: list


def _as_float64(x) -> np.ndarray:
    return np.array(x, dtype=np.float64)


def gradient_check(
    f: Callable,
    inputs: Sequence,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    seed: int = 0,
    max_full: int = 64,
) -> GradientCheckResult:
    """Compares tape gradients of ``f(*inputs)`` with float64 central differences.

    The output is projected on a fixed random direction ``u`` (so any output shape works): the
    tape's gradient of ``sum(f * u)`` is checked element by element for inputs of at most
    ``max_full`` elements, and along three random directions for larger ones.
    """
    rng = np.random.default_rng(seed)
    xs = [_as_float64(x) for x in inputs]
    out = np.asarray(f(*[Tensor(x) for x in xs]))
    u = rng.standard_normal(out.shape)

    def projected(values) -> float:
        return float(np.sum(np.asarray(f(*[Tensor(v) for v in values]), dtype=np.float64) * u))

    sources = [Tensor(x) for x in xs]
    with GradientTape() as tape:
        for s in sources:
            tape.watch(s)
        y = f(*sources)
        target = (y * Tensor(u)) if np.ndim(u) else y * float(u)
    grads = tape.gradient(target, sources, unconnected_gradients="zero")

    analytic, numeric = [], []
    max_abs = max_rel = 0.0
    ok = True
    for i, (x, g) in enumerate(zip(xs, grads)):
        g = np.asarray(g, dtype=np.float64)
        if x.size <= max_full:
            directions = [np.eye(x.size)[k].reshape(x.shape) for k in range(x.size)]
        else:
            directions = [rng.standard_normal(x.shape) for _ in range(3)]
        a_vals, n_vals = [], []
        for d in directions:
            plus = [v + eps * d if j == i else v for j, v in enumerate(xs)]
            minus = [v - eps * d if j == i else v for j, v in enumerate(xs)]
            n_vals.append((projected(plus) - projected(minus)) / (2 * eps))
            a_vals.append(float(np.sum(g * d)))
        a_arr, n_arr = np.array(a_vals), np.array(n_vals)
        err = np.abs(a_arr - n_arr)
        if err.size:
            max_abs = max(max_abs, float(err.max()))
            max_rel = max(max_rel, float((err / np.maximum(np.abs(n_arr), 1e-12)).max()))
            ok = ok and bool(np.all(err <= atol + rtol * np.abs(n_arr)))
        analytic.append(a_arr)
        numeric.append(n_arr)
    return GradientCheckResult(ok, max_abs, max_rel, analytic, numeric)


# ---- repr of Tensor and Variable ------------------------------------------------------------


def _value_str(arr: np.ndarray, as_repr: bool) -> str:
    if arr.ndim == 0:
        return str(arr[()])
    return repr(arr) if as_repr else str(arr)


def _tensor_str(self) -> str:
    if _core.is_traced(self):  # inside tg.function's trace: the value is this call's only
        return _tensor_repr(self)
    return (
        f"tg.Tensor({_value_str(self.numpy(), False)}, shape={self.shape}, dtype={self.dtype.name})"
    )


def _tensor_repr(self) -> str:
    if _core.is_traced(self):
        return f"<tg.Tensor: shape={self.shape}, dtype={self.dtype.name}, traced>"
    value = _value_str(self.numpy(), True)
    return f"<tg.Tensor: shape={self.shape}, dtype={self.dtype.name}, numpy={value}>"


def _variable_repr(self) -> str:
    if _core.tracing_function() is not None:
        return f"<tg.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}>"
    return (
        f"<tg.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}, "
        f"numpy={_value_str(self.numpy(), True)}>"
    )


Tensor.__str__ = _tensor_str
Tensor.__repr__ = _tensor_repr
Variable.__str__ = _variable_repr
Variable.__repr__ = _variable_repr
