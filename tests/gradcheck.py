"""A generic gradient checker for tapegrad (Stan's ``expect_ad``, JAX's / HIPS' ``check_grads``).

``check_grads(f, inputs, order=2)`` checks a function ``f(*tensors) -> Tensor`` at float64 NumPy
``inputs`` against float64 central differences:

- order 1: the tape gradient of ``phi(x) = sum(f(x) * u)`` for a fixed random ``u`` is compared
  with ``(phi(x + eps d) - phi(x - eps d)) / 2 eps``: for every unit vector ``d`` (the full
  vector-Jacobian product) when an input has at most ``max_full`` elements, otherwise along a few
  random directions (``<J^T u, d>`` against the directional difference).
- order 2: inside an outer tape that watches the inputs, an inner tape computes
  ``g = inner.gradient(phi, xs)``; then ``outer.gradient(sum_i <g_i, w_i>, xs)`` for random
  ``w`` is compared with central differences of ``psi(x) = sum_i <g_i(x), w_i>``, where ``g`` is
  again the tape's first-order gradient.

A second derivative that is identically zero may come back as ``None``: the caller says so with
``none_is_zero`` (linear and piecewise-linear functions); otherwise ``None`` is a failure.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

import numpy as np

import tapegrad as tg

__all__ = ["Tolerance", "check_first_order", "check_grads", "check_second_order", "rng_for"]


@dataclass(frozen=True)
class Tolerance:
    """``|analytic - numeric| <= atol + rtol * |numeric|`` with central differences of step eps."""

    eps: float = 1e-6
    rtol: float = 1e-5
    atol: float = 1e-6


FIRST = Tolerance(1e-6, 1e-5, 1e-6)
SECOND = Tolerance(1e-5, 1e-5, 1e-6)


def rng_for(key: str) -> np.random.Generator:
    """A generator seeded from a test id, so every case is reproducible on its own."""
    return np.random.default_rng(zlib.crc32(key.encode()))


def _const(x: np.ndarray) -> tg.Tensor:
    # np.asarray keeps 0-d arrays as arrays (a NumPy float64 *scalar* would become float32).
    return tg.constant(np.asarray(x, dtype=np.float64))


def _numpy(t, what: str) -> np.ndarray:
    if not isinstance(t, (tg.Tensor, tg.Variable)):
        raise AssertionError(f"{what} is a {type(t).__name__}, not a tapegrad Tensor")
    return np.asarray(t.numpy(), dtype=np.float64)


def evaluate(f: Callable, xs: Sequence[np.ndarray]) -> np.ndarray:
    """f at float64 inputs, as float64 NumPy (no tape active)."""
    return _numpy(f(*[_const(x) for x in xs]), "f(...)")


def _project(y, u: np.ndarray):
    return tg.reduce_sum(tg.multiply(y, _const(u)))


def tape_gradient(f: Callable, xs: Sequence[np.ndarray], u: np.ndarray) -> list:
    """The tape's gradient of sum(f(x) * u) with respect to every input (None kept)."""
    srcs = [_const(x) for x in xs]
    with tg.GradientTape() as tape:
        for s in srcs:
            tape.watch(s)
        target = _project(f(*srcs), u)
    return list(tape.gradient(target, srcs))


def _directions(x: np.ndarray, rng: np.random.Generator, max_full: int, n_random: int):
    if x.size <= max_full:
        for k in range(x.size):
            d = np.zeros(x.size)
            d[k] = 1.0
            index = tuple(int(i) for i in np.unravel_index(k, x.shape))
            yield f"at {index}", d.reshape(x.shape)
    else:
        for k in range(n_random):
            yield f"<random direction {k}>", rng.standard_normal(x.shape)


def _shifted(xs, i, delta):
    return [x + delta if j == i else x for j, x in enumerate(xs)]


def _report(kind: str, rows: list, tol: Tolerance) -> str:
    rows = sorted(rows, key=lambda r: -r[4])[:8]
    lines = [f"{kind} mismatch (eps={tol.eps:g}, rtol={tol.rtol:g}, atol={tol.atol:g}); worst:"]
    for i, where, a, n, _excess in rows:
        lines.append(
            f"  input {i} {where}: tape {a!r} vs central difference {n!r} (|diff| {abs(a - n):.3g})"
        )
    return "\n".join(lines)


def _compare(kind, results, tol):
    bad = []
    for i, where, a, n in results:
        limit = tol.atol + tol.rtol * abs(n)
        if not (abs(a - n) <= limit):  # NaN fails
            bad.append((i, where, a, n, abs(a - n) - limit if np.isfinite(a - n) else np.inf))
    if bad:
        raise AssertionError(_report(kind, bad, tol))


def _check_shapes(grads, xs, what):
    for i, (g, x) in enumerate(zip(grads, xs)):
        if g is None:
            continue
        if not isinstance(g, tg.Tensor):
            raise AssertionError(f"{what} of input {i} is a {type(g).__name__}, not a Tensor")
        if tuple(g.shape) != x.shape:
            raise AssertionError(
                f"{what} of input {i} has shape {tuple(g.shape)}, expected the "
                f"input's shape {x.shape}"
            )
        if g.dtype != tg.float64:
            raise AssertionError(f"{what} of input {i} has dtype {g.dtype}, expected float64")


def check_first_order(
    f: Callable,
    xs: Sequence[np.ndarray],
    rng: np.random.Generator,
    tol: Tolerance = FIRST,
    max_full: int = 40,
    n_random: int = 3,
) -> None:
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    u = rng.standard_normal(evaluate(f, xs).shape)
    grads = tape_gradient(f, xs, u)
    if len(grads) != len(xs):
        raise AssertionError(f"gradient returned {len(grads)} entries for {len(xs)} sources")
    for i, g in enumerate(grads):
        if g is None:
            raise AssertionError(
                f"first-order gradient of input {i} is None, but the output depends on it"
            )
    _check_shapes(grads, xs, "first-order gradient")

    def phi(values):
        return float(np.sum(evaluate(f, values) * u))

    results = []
    for i, (x, g) in enumerate(zip(xs, grads)):
        g = _numpy(g, "gradient")
        for where, d in _directions(x, rng, max_full, n_random):
            plus, minus = _shifted(xs, i, tol.eps * d), _shifted(xs, i, -tol.eps * d)
            num = (phi(plus) - phi(minus)) / (2 * tol.eps)
            results.append((i, where, float(np.sum(g * d)), num))
    _compare("first-order gradient", results, tol)


def check_second_order(
    f: Callable,
    xs: Sequence[np.ndarray],
    rng: np.random.Generator,
    tol: Tolerance = SECOND,
    none_is_zero: bool = False,
    max_full: int = 40,
    n_random: int = 3,
) -> None:
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    u = rng.standard_normal(evaluate(f, xs).shape)
    ws = [rng.standard_normal(x.shape) for x in xs]

    def psi(values) -> float:
        total = 0.0
        for g, w in zip(tape_gradient(f, values, u), ws):
            if g is None:
                raise AssertionError("first-order gradient is None")
            total += float(np.sum(_numpy(g, "gradient") * w))
        return total

    srcs = [_const(x) for x in xs]
    with tg.GradientTape() as outer:
        for s in srcs:
            outer.watch(s)
        with tg.GradientTape() as inner:
            for s in srcs:
                inner.watch(s)
            target = _project(f(*srcs), u)
        firsts = inner.gradient(target, srcs)
        if any(g is None for g in firsts):
            raise AssertionError("first-order gradient is None inside the outer tape")
        terms = [tg.reduce_sum(tg.multiply(g, _const(w))) for g, w in zip(firsts, ws)]
        second_target = terms[0]
        for t in terms[1:]:
            second_target = tg.add(second_target, t)
    seconds = list(outer.gradient(second_target, srcs))
    _check_shapes(seconds, xs, "second-order gradient")

    results = []
    for i, (x, h) in enumerate(zip(xs, seconds)):
        if h is None:
            if not none_is_zero:
                raise AssertionError(
                    f"second-order gradient of input {i} is None, but the function is not flagged "
                    "linear or piecewise linear (the outer tape lost the path through the VJP)"
                )
            h = np.zeros(x.shape)
        else:
            h = _numpy(h, "second-order gradient")
        for where, d in _directions(x, rng, max_full, n_random):
            plus, minus = _shifted(xs, i, tol.eps * d), _shifted(xs, i, -tol.eps * d)
            num = (psi(plus) - psi(minus)) / (2 * tol.eps)
            results.append((i, where, float(np.sum(h * d)), num))
    _compare("second-order gradient", results, tol)


def check_grads(
    f: Callable,
    xs: Sequence[np.ndarray],
    order: int = 2,
    *,
    seed: str = "",
    first: Tolerance = FIRST,
    second: Tolerance = SECOND,
    none_is_zero: bool = False,
    max_full: int = 40,
) -> None:
    """First (and, for order 2, second) derivatives of f at xs against central differences."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_first_order(f, xs, rng_for(seed + "/1"), first, max_full)
        if order >= 2:
            check_second_order(f, xs, rng_for(seed + "/2"), second, none_is_zero, max_full)
