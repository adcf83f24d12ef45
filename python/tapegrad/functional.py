"""Function transforms built on tapes, beyond TensorFlow's tape API: Hessians, Hessian-vector
products (tests/test_higher_order.py), and JAX-style ``grad`` / ``value_and_grad``.

Each transform only arranges tapes; every derivative is an ordinary tape sweep, so the results
are Tensors that an enclosing tape records too (``grad(grad(f))`` is a second derivative).
Unlike ``GradientTape.gradient``, these return zeros, never ``None``, for an input the output
does not depend on: a derivative of a function is a value, as in JAX.
"""

from __future__ import annotations

import functools
from typing import Callable

from . import _core
from ._core import GradientTape, Tensor, Variable
from .ops import convert_to_tensor

__all__ = ["grad", "hessian", "hvp", "value_and_grad"]


def _as_source(x):
    """A differentiable input: Tensors and Variables as they are, lists, tuples and dicts leaf by
    leaf, anything else (numbers, arrays) as a Tensor (Python numbers become float32)."""
    if isinstance(x, (Tensor, Variable)):
        return x
    kind = type(x)
    if (kind is list or kind is tuple) and all(type(e) is Tensor or type(e) is Variable for e in x):
        return x  # the common case (a model's weights), without rebuilding the list
    if isinstance(x, dict):
        return {k: _as_source(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(_as_source(v) for v in x)
    return convert_to_tensor(x)


def _scalar_output(y, transform: str) -> Tensor:
    if isinstance(y, Variable):
        y = y.value()
    elif not isinstance(y, Tensor):
        try:
            y = convert_to_tensor(y)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"{transform}: the function must return a scalar Tensor, got an object of type "
                f"{type(y).__name__}"
            ) from err
    if tuple(y.shape) != ():
        raise TypeError(
            f"{transform}: only defined for scalar-output functions; the output had shape "
            f"{tuple(y.shape)} (reduce it, e.g. with tg.reduce_sum or tg.reduce_mean)"
        )
    return y


def hessian(f: Callable, x) -> Tensor:
    """The full Hessian of a scalar function ``f`` at ``x``, of shape ``x.shape + x.shape``.

    ``outer.jacobian(inner.gradient(f(x), x), x)`` with nested tapes: one reverse
    sweep per element of ``x``, so meant for small ``x``; use ``hvp`` for large ones.
    """
    x = _as_source(x)
    if not isinstance(x, (Tensor, Variable)):
        raise TypeError(f"hessian: x must be one tensor-like value, got a {type(x).__name__}")
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape() as inner:
            inner.watch(x)
            y = _scalar_output(f(x), "hessian")
        g = inner.gradient(y, x, unconnected_gradients="zero")
    return outer.jacobian(g, x, unconnected_gradients="zero")


def hvp(f: Callable, x, v):
    """The Hessian of a scalar function ``f`` at ``x`` times ``v``, without forming the Hessian.

    ``x`` is one tensor-like value or a list/tuple of them (``f`` is called with ``x`` in that
    structure, e.g. a model's weights); ``v`` has the same structure and shapes. Forward over
    reverse: a ForwardAccumulator with tangent ``v`` around the gradient's tape, so H v is the
    gradient's tangent (the cost of about one gradient and its forward-mode pass).
    """
    x = _as_source(x)
    structured = isinstance(x, (list, tuple))
    xs, vs = (x, v) if structured else ([x], [v])
    if structured and not (isinstance(v, (list, tuple)) and len(v) == len(xs)):
        raise ValueError(
            f"hvp: x is a {type(x).__name__} of {len(xs)} tensors, so v must be a list or tuple "
            f"of {len(xs)} tensors, got a {type(v).__name__}"
            + (f" of {len(v)}" if isinstance(v, (list, tuple)) else "")
        )
    # Forward over reverse: the gradient's tangent along v is H v, one forward-mode pass over the
    # gradient's ops instead of a second reverse sweep over them (forward.py). The scope (C++)
    # checks v against x, enters the accumulator and the tape, and reads the tangents back.
    scope = _core.HvpScope(xs, vs)
    try:
        hv = scope.finish(_scalar_output(f(x), "hvp"))
    finally:
        scope.close()
    return type(x)(hv) if structured else hv[0]


def _argnums(argnums, n_args: int, transform: str) -> tuple:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums or not all(isinstance(i, int) for i in nums):
        raise TypeError(f"{transform}: argnums must be an int or a non-empty tuple of ints")
    for i in nums:
        if not -n_args <= i < n_args:
            raise ValueError(
                f"{transform}: argnums {argnums} refers to argument {i}, but the function was "
                f"called with {n_args} positional arguments"
            )
    return tuple(i % n_args for i in nums)


def value_and_grad(f: Callable, argnums: int | tuple = 0, has_aux: bool = False) -> Callable:
    """``f`` transformed to return ``(f(*args), df/dargs[argnums])`` (JAX's ``value_and_grad``).

    ``f`` must return a scalar (or ``(scalar, aux)`` with ``has_aux=True``, giving
    ``((value, aux), grad)``). Differentiated arguments may be Tensors, Variables, arrays,
    numbers, or lists/tuples/dicts of them; the gradient has the argument's structure. With a
    tuple ``argnums`` the gradients come as a tuple. Unconnected arguments get zeros.
    """
    transform = "value_and_grad"

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        nums = _argnums(argnums, len(args), transform)
        args = list(args)
        for i in nums:
            args[i] = _as_source(args[i])
        sources = [args[i] for i in nums]
        with GradientTape() as tape:
            tape.watch(sources)
            out = f(*args, **kwargs)
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError(
                    f"{transform}: with has_aux=True the function must return a pair "
                    f"(value, aux), got a {type(out).__name__}"
                )
            out, aux = out
        value = _scalar_output(out, transform)
        grads = tape.gradient(value, sources, unconnected_gradients="zero")
        g = grads[0] if isinstance(argnums, int) else tuple(grads)
        return ((value, aux) if has_aux else value), g

    return wrapped


def grad(f: Callable, argnums: int | tuple = 0, has_aux: bool = False) -> Callable:
    """``f`` transformed to return the gradient of its scalar output with respect to
    ``args[argnums]`` (JAX's ``grad``; ``(grad, aux)`` with ``has_aux=True``). Nests:
    ``grad(grad(f))`` is the second derivative."""
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapped
