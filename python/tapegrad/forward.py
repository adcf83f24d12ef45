"""Forward mode: TensorFlow's ``tf.autodiff.ForwardAccumulator`` and JAX's ``jvp``, ``jacfwd``,
``jacrev``.

The accumulator is C++ (cpp/include/tapegrad/autograd/forward.h): while it is active, every op
one of whose inputs has a tangent computes its output's tangent by its JVP rule, which sits in the
op's block beside its VJP and is written with ops. So tangents of tangents, and tapes around or
inside an accumulator, work: ``ForwardAccumulator`` around a ``GradientTape``'s gradient gives
Hessian-vector products (``tg.hvp`` does that), a tape around an accumulator differentiates a JVP.

Which to use: ``jacfwd`` costs one forward pass per input element, ``jacrev`` (and
``GradientTape.jacobian``) one reverse sweep per output element. Few inputs and many outputs (a
tall Jacobian): ``jacfwd``; many inputs and few outputs (a loss's gradient): ``jacrev``.
"""

from __future__ import annotations

import functools
from typing import Callable

from . import _core
from ._core import GradientTape, Tensor, Variable
from .ops import convert_to_tensor, reshape, stack, zeros, zeros_like
from .tape import UnconnectedGradients

__all__ = ["ForwardAccumulator", "jacfwd", "jacrev", "jvp"]


def _leaves(value) -> list:
    kind = type(value)
    if kind is Tensor or kind is Variable:
        return [value]
    if (kind is list or kind is tuple) and all(type(v) is Tensor for v in value):
        return list(value)  # the common flat case, without the recursion
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, dict):
        return [leaf for k in sorted(value) for leaf in _leaves(value[k])]
    return [value]


def _map(fn, value):
    if isinstance(value, (list, tuple)):
        return type(value)(_map(fn, item) for item in value)
    if isinstance(value, dict):
        return {k: _map(fn, value[k]) for k in value}
    return fn(value)


def _zero_for_unconnected(unconnected_gradients) -> bool:
    if unconnected_gradients in ("zero", UnconnectedGradients.ZERO):
        return True
    if unconnected_gradients in ("none", UnconnectedGradients.NONE, None):
        return False
    raise ValueError(
        f"unconnected_gradients must be 'none' or 'zero', got {unconnected_gradients!r}"
    )


class ForwardAccumulator:
    """TensorFlow's ``tf.autodiff.ForwardAccumulator(primals, tangents)``: inside ``with acc:``
    the ops on ``primals`` (tensors or variables, any nesting) carry tangents; ``acc.jvp(y)``
    gives the Jacobian of ``y`` times ``tangents``."""

    def __init__(self, primals, tangents):
        flat_primals, flat_tangents = _leaves(primals), _leaves(tangents)
        if len(flat_primals) != len(flat_tangents):
            raise ValueError(
                f"ForwardAccumulator: {len(flat_primals)} primals but {len(flat_tangents)} tangents"
            )
        self._acc = _core.ForwardAccumulator()
        for primal, tangent in zip(flat_primals, flat_tangents):
            if not isinstance(primal, (Tensor, Variable)):
                raise TypeError(
                    "ForwardAccumulator: primals must be tensors or variables (the ones the "
                    f"computation uses), got {type(primal).__name__}"
                )
            self._acc.watch(primal, tangent)

    def __enter__(self) -> ForwardAccumulator:
        self._acc.enter()
        return self

    def __exit__(self, *exc) -> bool:
        self._acc.exit()
        return False

    def jvp(self, primals, unconnected_gradients=UnconnectedGradients.NONE):
        """The tangent of each tensor or variable in ``primals`` (same structure): ``None`` (or
        zeros with ``unconnected_gradients="zero"``) where it does not depend on the watched
        primals."""
        zero = _zero_for_unconnected(unconnected_gradients)
        if type(primals) is Tensor:  # the common case, without the structure walk
            t = self._acc.tangent(primals)
            return zeros_like(primals) if t is None and zero else t

        def tangent(value):
            t = self._acc.tangent(value)
            if t is None and zero:
                return zeros_like(value.value() if isinstance(value, Variable) else value)
            return t

        return _map(tangent, primals)


def jvp(f: Callable, primals, tangents):
    """JAX's ``jvp``: ``(f(*primals), J f(primals) @ tangents)`` in one forward pass; ``primals``
    and ``tangents`` are sequences with one entry per argument of ``f``."""
    if not isinstance(primals, (list, tuple)) or not isinstance(tangents, (list, tuple)):
        raise TypeError(
            "jvp: primals and tangents must be lists or tuples (one entry per argument)"
        )
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    xs = [p if isinstance(p, (Tensor, Variable)) else convert_to_tensor(p) for p in primals]
    acc = _core.ForwardAccumulator()  # the C++ accumulator itself: jvp is called in loops
    for x, t in zip(xs, tangents):
        acc.watch(x, t)
    acc.enter()
    try:
        y = f(*xs)
    finally:
        acc.exit()
    if type(y) is Tensor:
        t = acc.tangent(y)
        return y, zeros_like(y) if t is None else t
    return y, _map(lambda v: _tangent_or_zeros(acc, v), y)


def _tangent_or_zeros(acc, value):
    t = acc.tangent(value)
    return zeros_like(value.value() if isinstance(value, Variable) else value) if t is None else t


def _argument(args, argnums: int, transform: str):
    if not isinstance(argnums, int) or not -len(args) <= argnums < len(args):
        raise ValueError(f"{transform}: argnums={argnums!r} for a call with {len(args)} arguments")
    args = list(args)
    x = args[argnums]
    if not isinstance(x, (Tensor, Variable)):
        x = convert_to_tensor(x)
        args[argnums] = x
    return args, x


def jacfwd(f: Callable, argnums: int = 0) -> Callable:
    """JAX's ``jacfwd``: a function giving the Jacobian of ``f`` (one tensor out) with respect to
    argument ``argnums``, of shape ``y.shape + x.shape``, by one forward pass per element of x."""

    @functools.wraps(f)
    def jacobian(*args):
        args, x = _argument(args, argnums, "jacfwd")
        value = x.value() if isinstance(x, Variable) else x
        size = value.size
        columns = []
        y = None
        for k in range(size):
            basis = [0.0] * size
            basis[k] = 1.0
            tangent = reshape(convert_to_tensor(basis, dtype=value.dtype), value.shape)
            with ForwardAccumulator([x], [tangent]) as acc:
                y = f(*args)
            columns.append(acc.jvp(y, unconnected_gradients="zero"))
        if y is None:  # an empty x: an empty Jacobian
            y = f(*args)
            return zeros(tuple(y.shape) + tuple(value.shape), dtype=value.dtype)
        return reshape(stack(columns, -1), tuple(y.shape) + tuple(value.shape))

    return jacobian


def jacrev(f: Callable, argnums: int = 0) -> Callable:
    """JAX's ``jacrev``: the same Jacobian by reverse sweeps (``GradientTape.jacobian``)."""

    @functools.wraps(f)
    def jacobian(*args):
        args, x = _argument(args, argnums, "jacrev")
        with GradientTape() as tape:
            tape.watch(x)
            y = f(*args)
        return tape.jacobian(y, x, unconnected_gradients="zero")

    return jacobian
