"""User-supplied gradients: TensorFlow's ``tf.custom_gradient`` and JAX's ``custom_vjp``.

``@tg.custom_gradient`` on ``f(*x) -> (y, grad_fn)``: the tapes record ``y`` as one op of ``x``
(and of the trainable variables ``f`` reads) whose VJP is ``grad_fn(*upstream)``; it returns one
gradient per input (``None`` for none), and, when ``f`` read variables, is called as
``grad_fn(*upstream, variables=[...])`` and returns ``(input_grads, variable_grads)``. ``f``'s own
ops stay recorded, so a ``grad_fn`` written with tapegrad ops is differentiated again by an outer
tape (second derivatives of a custom gradient), and inside ``tg.function`` the ops ``grad_fn``
runs are recorded like any others. The C++ side is ``custom_gradient`` in cpp/src/ops/custom.cpp
and its binding cpp/bindings/custom_gradient.cpp, which checks what ``grad_fn`` returns.
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable

from . import _core

__all__ = ["custom_gradient", "custom_vjp"]


def custom_gradient(f: Callable) -> Callable:
    """Decorates ``f(*x) -> (y, grad_fn)`` (see the module docstring)."""
    if not callable(f):
        raise TypeError(f"custom_gradient needs a callable, got {type(f).__name__}")
    # A C++ callable (cpp/bindings/custom_gradient.cpp): the call runs f under a variable watcher
    # and checks and records its (outputs, grad_fn), with no Python frame of its own. A Variable
    # passed as an input is an input (its value), not one of `variables`.
    decorated = _core.CustomGradientFunction(
        f, str(getattr(f, "__name__", "function")), _accepts_variables
    )
    return functools.update_wrapper(decorated, f)


def _accepts_variables(fn: Callable) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin: let the call itself decide
        return True
    return any(p.name == "variables" or p.kind is p.VAR_KEYWORD for p in parameters)


class custom_vjp:  # JAX's lower-case name
    """JAX's ``custom_vjp``: ``f = tg.custom_vjp(f); f.defvjp(fwd, bwd)`` where
    ``fwd(*x) -> (y, residuals)`` and ``bwd(residuals, g) -> tuple`` with one gradient per input
    (``g`` is a tuple when ``y`` is). Built on ``custom_gradient``."""

    def __init__(self, fun: Callable):
        if not callable(fun):
            raise TypeError(f"custom_vjp needs a callable, got {type(fun).__name__}")
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.fwd = self.bwd = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """Sets the forward (``fwd(*x) -> (y, residuals)``) and backward (``bwd(residuals, g) ->
        gradients``) functions."""
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args):
        if self.fwd is None:
            raise TypeError(f"custom_vjp '{self.__name__}': call defvjp(fwd, bwd) first")
        fwd, bwd, name = self.fwd, self.bwd, self.__name__

        def forward(*xs):
            y, residuals = fwd(*xs)

            def grad_fn(*upstream):
                grads = bwd(residuals, upstream[0] if len(upstream) == 1 else upstream)
                if not isinstance(grads, (tuple, list)):
                    raise TypeError(
                        f"custom_vjp '{name}': bwd must return a tuple with one gradient per "
                        f"input, got {type(grads).__name__}"
                    )
                return list(grads)

            return y, grad_fn

        forward.__name__ = name
        return custom_gradient(forward)(*args)
