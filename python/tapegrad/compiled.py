"""``tg.function``: TensorFlow's ``tf.function`` for tapegrad. A step is traced once and replayed
in C++.

The first call for an input signature *traces*: the Python function runs eagerly while the C++
trace (``_core.Trace``) records every op it runs - forward ops, the VJP ops a ``GradientTape``
runs, variable reads and ``assign*``, optimizer updates - as a flat program. Later calls with the
same signature replay that program in C++ with the GIL released: no Python per op. What this
module holds is structure only: the signature, the cache of programs, and the argument and
result structures (docs/compiled_steps.md says how it fits together).

The signature is the argument structure, each tensor or NumPy argument's shape and dtype, each
Variable argument's identity, and the value of every other argument (a new Python value
retraces, as in TensorFlow).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Callable, Optional, overload

import numpy as np

from . import _core
from ._core import DType, Tensor, Variable


class TensorSpec:
    """The shape and dtype an argument of a ``tg.function`` with an ``input_signature`` must
    have; a ``None`` dimension accepts any size (each size gets its own program)."""

    def __init__(self, shape, dtype=DType.float32, name: Optional[str] = None):
        self.shape = None if shape is None else tuple(None if d is None else int(d) for d in shape)
        self.dtype = _as_dtype(dtype)
        self.name = name

    def is_compatible_with(self, value) -> bool:
        """Whether ``value`` (a Tensor, array or number) has this spec's dtype and a shape it
        accepts (None dimensions match any size)."""
        shape, dtype = _shape_and_dtype(value)
        if dtype != self.dtype:
            return False
        if self.shape is None:
            return True
        return len(shape) == len(self.shape) and all(
            want is None or want == got for want, got in zip(self.shape, shape)
        )

    def __repr__(self) -> str:
        return f"TensorSpec(shape={self.shape}, dtype=tg.{self.dtype.name}, name={self.name!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, TensorSpec) and (self.shape, self.dtype, self.name) == (
            other.shape,
            other.dtype,
            other.name,
        )

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype, self.name))


@overload
def function(
    func: Callable[..., Any],
    *,
    input_signature: Optional[Sequence[TensorSpec]] = None,
    reduce_retracing: bool = False,
    jit_compile: Optional[bool] = None,
    name: Optional[str] = None,
) -> Function: ...
@overload
def function(
    func: None = None,
    *,
    input_signature: Optional[Sequence[TensorSpec]] = None,
    reduce_retracing: bool = False,
    jit_compile: Optional[bool] = None,
    name: Optional[str] = None,
) -> Callable[[Callable[..., Any]], Function]: ...
def function(
    func: Optional[Callable[..., Any]] = None,
    *,
    input_signature: Optional[Sequence[TensorSpec]] = None,
    reduce_retracing: bool = False,
    jit_compile: Optional[bool] = None,
    name: Optional[str] = None,
) -> Function | Callable[[Callable[..., Any]], Function]:
    """Compiles ``func``: ``@tg.function`` or ``@tg.function(input_signature=[...])``.

    ``reduce_retracing=True`` passes Python ``int``/``float`` arguments as float32 tensors
    instead of keying the cache on their values, so a new number does not retrace.
    ``jit_compile`` is accepted for TensorFlow compatibility; every program is compiled.
    """

    def wrap(f: Callable) -> Function:
        return Function(
            f, input_signature=input_signature, reduce_retracing=reduce_retracing, name=name
        )

    return wrap if func is None else wrap(func)


_MISS = object()  # what the C++ cache answers when Python must handle the call


class _Leaf:
    """A tensor's place in a result structure."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


class Function:
    """A compiled function: a cache of C++ programs by input signature (see ``function``)."""

    def __init__(
        self,
        func: Callable,
        input_signature: Optional[Sequence[TensorSpec]] = None,
        reduce_retracing: bool = False,
        name: Optional[str] = None,
    ):
        if not callable(func):
            raise TypeError(f"tg.function needs a callable, got {type(func).__name__}")
        functools.update_wrapper(self, func)
        self.python_function = func
        self.name = name or getattr(func, "__name__", "function")
        if input_signature is not None:
            input_signature = tuple(input_signature)
            for spec in input_signature:
                if not isinstance(spec, TensorSpec):
                    raise TypeError(
                        f"tg.function '{self.name}': input_signature holds TensorSpecs, got "
                        f"{type(spec).__name__}"
                    )
        self.input_signature = input_signature
        self.reduce_retracing = bool(reduce_retracing)
        self._programs: dict = {}  # signature -> (program, result template)
        # the same programs for all-tensor positional arguments, looked up in one C++ call
        self._tensor_programs = _core.TensorSignatureCache(_MISS, _pack)
        self.trace_count = 0

    def experimental_get_tracing_count(self) -> int:
        """How many times the function was traced (TensorFlow's name)."""
        return self.trace_count

    def __get__(self, instance, owner):
        # A method: the instance is the first argument (keyed by identity, as any object).
        return self if instance is None else functools.partial(self.__call__, instance)

    def __repr__(self) -> str:
        return f"<tg.function {self.name} traces={self.trace_count}>"

    # -- calls ---------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs:
            result = self._tensor_programs.call(args)
            if result is not _MISS:
                return result
        if _core.tracing_function() is not None:
            # Inside another function's trace: run inline, its ops join that program.
            return self.python_function(*args, **kwargs)
        if self.input_signature is not None:
            self._check_signature(args, kwargs)
        signature, tensors = self._signature(args, kwargs)
        entry = self._programs.get(signature)
        if entry is None:
            return self._trace(signature, args, kwargs, tensors)
        program, template = entry
        outputs = program.run(tensors)
        return _pack(template, outputs)

    def get_program(self, *args, **kwargs):
        """The program traced for these arguments (traces them if needed): ``str()`` prints it."""
        signature, tensors = self._signature(args, kwargs)
        if signature not in self._programs:
            self._trace(signature, args, kwargs, tensors)
        return self._programs[signature][0]

    def _signature(self, args, kwargs) -> tuple:
        """(the cache key of these arguments, their tensor leaves in order)."""
        key: list = []
        tensors: list = []
        _walk(args, key, tensors, self.reduce_retracing)
        if kwargs:
            _walk(kwargs, key, tensors, self.reduce_retracing)
        return tuple(key), tensors

    def _trace(self, signature, args, kwargs, tensors):
        trace = _core.Trace(self.name, self.trace_count == 0)
        for t in tensors:
            trace.add_argument(t)
        substitute = iter(tensors)
        call_args = _substitute(args, substitute, self.reduce_retracing)
        call_kwargs = _substitute(kwargs, substitute, self.reduce_retracing)
        trace.enter()
        try:
            result = self.python_function(*call_args, **call_kwargs)
            leaves: list = []
            template = _template(result, leaves)
            program = trace.finish(leaves)
        finally:
            trace.exit()
        self._programs[signature] = (program, template)
        if not kwargs and all(type(a) is Tensor for a in args):
            self._tensor_programs.add(args, program, template, type(template) is _Leaf)
        self.trace_count += 1
        return _pack(template, leaves)

    def _check_signature(self, args, kwargs):
        if kwargs:
            raise TypeError(
                f"tg.function '{self.name}' has an input_signature: pass its arguments "
                f"positionally, got keywords {sorted(kwargs)}"
            )
        specs = self.input_signature
        if len(args) != len(specs):
            raise TypeError(
                f"tg.function '{self.name}': input_signature has {len(specs)} arguments, "
                f"got {len(args)}"
            )
        for i, (spec, value) in enumerate(zip(specs, args)):
            if not isinstance(value, (Tensor, np.ndarray)):
                raise TypeError(
                    f"tg.function '{self.name}': argument {i} must be a tensor matching {spec}, "
                    f"got {type(value).__name__}"
                )
            if not spec.is_compatible_with(value):
                shape, dtype = _shape_and_dtype(value)
                raise TypeError(
                    f"tg.function '{self.name}': argument {i} of shape {shape} and dtype "
                    f"{dtype.name} does not match {spec}"
                )


# ---- signatures ------------------------------------------------------------------------------


def _walk(value, key: list, tensors: list, reduce_retracing: bool) -> None:
    """Appends value's signature to key and its tensor leaves to tensors."""
    kind = type(value)
    if kind is Tensor:
        key.append((value.shape, value.dtype))
        tensors.append(value)
    elif kind is tuple or kind is list:
        key.append((kind, len(value)))
        for item in value:
            _walk(item, key, tensors, reduce_retracing)
    elif kind is dict:
        names = sorted(value)
        key.append((dict, tuple(names)))
        for k in names:
            _walk(value[k], key, tensors, reduce_retracing)
    elif isinstance(value, np.ndarray):
        t = Tensor(np.ascontiguousarray(value))
        key.append((t.shape, t.dtype, "ndarray"))
        tensors.append(t)
    elif isinstance(value, Variable):
        key.append(value)  # by identity: the program reads and writes this very variable
    elif reduce_retracing and kind in (int, float):
        t = Tensor(float(value))
        key.append(((), t.dtype, "number"))
        tensors.append(t)
    else:
        try:
            hash(value)
        except TypeError:
            key.append(("object", id(value), value))  # held, so the id is never reused
        else:
            key.append((kind, value))


def _substitute(value, tensors, reduce_retracing: bool):
    """value with its tensor leaves (in _walk's order) replaced from the iterator tensors."""
    kind = type(value)
    if kind is Tensor:
        return next(tensors)
    if kind is tuple or kind is list:
        return kind(_substitute(v, tensors, reduce_retracing) for v in value)
    if kind is dict:
        return {k: _substitute(value[k], tensors, reduce_retracing) for k in sorted(value)}
    if isinstance(value, np.ndarray):
        return next(tensors)
    if reduce_retracing and kind in (int, float):
        return next(tensors)
    return value


def _template(value, leaves: list):
    """value with each tensor replaced by a _Leaf; the tensors are appended to leaves."""
    if isinstance(value, Variable):
        value = value.value()
    if type(value) is Tensor:
        leaves.append(value)
        return _Leaf(len(leaves) - 1)
    if isinstance(value, (tuple, list)):
        items = [_template(v, leaves) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, dict):
        return {k: _template(v, leaves) for k, v in value.items()}
    return value


def _pack(template, outputs: Sequence[Tensor]) -> Any:
    if type(template) is _Leaf:
        return outputs[template.index]
    if isinstance(template, (tuple, list)):
        items = [_pack(v, outputs) for v in template]
        return type(template)(*items) if hasattr(template, "_fields") else type(template)(items)
    if isinstance(template, dict):
        return {k: _pack(v, outputs) for k, v in template.items()}
    return template


def _shape_and_dtype(value):
    if isinstance(value, np.ndarray):
        value = Tensor(np.ascontiguousarray(value))
    return tuple(value.shape), value.dtype


def _as_dtype(dtype) -> DType:
    if isinstance(dtype, DType):
        return dtype
    return Tensor(np.zeros((), dtype=np.dtype(dtype))).dtype


__all__ = ["Function", "TensorSpec", "function"]
