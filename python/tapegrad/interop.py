"""Tensor and Variable beside NumPy and other array libraries: NumPy's operator and ufunc rules,
DLPack in both directions, pickle and ``copy.deepcopy``.

NumPy, as TensorFlow's EagerTensor does it: a tensor defines no ``__array_ufunc__`` and a high
``__array_priority__``. NumPy's binary operators then return NotImplemented for a tensor operand
(``binop_should_defer`` in NumPy's ``binop_override.h``; tests/test_interop.py), so
``ndarray * tensor`` and ``np.float64(2) * tensor`` reach the tensor's reflected operator and stay
on the tape. A ufunc or array function called by name (``np.exp(t)``, ``np.sum(t)``,
``np.multiply(a, t)``) reads the tensor through the buffer protocol or ``__array__`` and returns
a NumPy array, recorded on no tape. (Setting ``__array_ufunc__ = None`` would make the operators
defer too, but turns every ufunc call into a TypeError; a real ``__array_ufunc__`` cannot tell
``a * t`` from ``np.multiply(a, t)``.)
"""

from __future__ import annotations

import numpy as np

from . import _core
from ._core import GradientTape, Tensor, Variable

_NUMPY_DTYPES = {
    np.dtype(np.float32),
    np.dtype(np.float64),
    np.dtype(np.int32),
    np.dtype(np.int64),
    np.dtype(np.bool_),
}


# NumPy exports DLPack 1.0 (with its read-only flag) from 2.1 on.
_NUMPY_EXPORTS_VERSIONED = np.lib.NumpyVersion(np.__version__) >= "2.1.0"

# ---- DLPack -------------------------------------------------------------------------------------


class _WritableAlias:
    """A writable NumPy alias of a tensor's (read-only) memory, for DLPack consumers that predate
    DLPack 1.0's read-only flag; holds the read-only view so the tensor outlives the alias."""

    def __init__(self, view: np.ndarray):
        self._view = view
        interface = dict(view.__array_interface__)
        interface["data"] = (interface["data"][0], False)
        self.__array_interface__ = interface


def _dlpack(self, *, stream=None, max_version=None, dl_device=None, copy=None):
    """The DLPack capsule of this tensor's memory (CPU; shared, no copy unless ``copy=True``).

    A consumer that speaks DLPack >= 1.0 (``max_version``) gets the memory marked read-only. An
    older consumer cannot be told, and gets it unmarked, as TensorFlow's export does: it must not
    write into it (tensors are immutable)."""
    if stream is not None and stream != -1:
        raise BufferError(f"tapegrad tensors live on the CPU: stream must be None, got {stream!r}")
    view = self.numpy()
    if copy:
        view = view.copy()
    kwargs = {}
    if dl_device is not None:
        kwargs["dl_device"] = dl_device
    if max_version is not None and max_version[0] >= 1 and _NUMPY_EXPORTS_VERSIONED:
        return view.__dlpack__(max_version=max_version, **kwargs)
    if not view.flags.writeable:
        view = np.asarray(_WritableAlias(view))
    return view.__dlpack__(**kwargs)


def _dlpack_device(self) -> tuple:
    """``(1, 0)``: DLPack's kCPU, device 0."""
    return (1, 0)


def from_dlpack(x, *, copy: bool = False) -> Tensor:
    """A Tensor from any object with ``__dlpack__`` (a NumPy array, a torch or JAX array, another
    tapegrad tensor). A C-contiguous CPU buffer of dtype float32, float64, int32, int64 or bool is
    shared, not copied (as TensorFlow's ``from_dlpack``): its owner must not write into it while
    the tensor lives; ``copy=True`` takes a snapshot instead. Strided memory is copied. Memory on
    another device, or another dtype, is a clear error (move or cast it first)."""
    if isinstance(x, Tensor):
        return x
    if not hasattr(x, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__, got {type(x).__name__}")
    if hasattr(x, "__dlpack_device__"):
        device_type = int(x.__dlpack_device__()[0])
        if device_type not in (1, 3):  # kDLCPU, kDLCUDAHost (host memory)
            raise ValueError(
                f"from_dlpack: the {type(x).__name__} lives on DLPack device type {device_type}; "
                "tapegrad reads CPU memory only (copy it to the CPU first)"
            )
    try:
        # An ndarray is its own memory (and NumPy < 2.1 cannot export a read-only one).
        arr = x if isinstance(x, np.ndarray) else np.from_dlpack(x)
    except (BufferError, RuntimeError, TypeError) as e:
        raise TypeError(f"from_dlpack: NumPy cannot read this {type(x).__name__}: {e}") from e
    if arr.dtype not in _NUMPY_DTYPES:
        raise TypeError(
            f"from_dlpack: unsupported dtype {arr.dtype}: tapegrad tensors are float32, float64, "
            "int32, int64 or bool (cast it first)"
        )
    if copy or not (arr.flags.c_contiguous and arr.flags.aligned):
        return Tensor(np.array(arr, order="C", copy=True))
    return _core.tensor_sharing_array(arr)


# ---- pickle and copy.deepcopy -------------------------------------------------------------------


def _rebuild_tensor(value: np.ndarray) -> Tensor:
    return Tensor(value)


def _rebuild_variable(value: np.ndarray, trainable: bool, name: str) -> Variable:
    return Variable(value, trainable=trainable, name=name)


def _tensor_reduce(self):
    # The value, not the identity: an unpickled tensor is a new value no tape has seen.
    return _rebuild_tensor, (self.numpy().copy(),)


def _variable_reduce(self):
    name = self.name[:-2] if self.name.endswith(":0") else self.name
    return _rebuild_variable, (self.numpy(), bool(self.trainable), name)


def _tape_reduce(self):
    raise TypeError(
        "a GradientTape cannot be pickled or copied: it records one computation's operations as "
        "they run; pickle the tensors, variables, models or optimizers instead"
    )


for _cls in (Tensor, Variable):
    _cls.__array_priority__ = 1000
    _cls.__dlpack__ = _dlpack
    _cls.__dlpack_device__ = _dlpack_device
Tensor.__reduce__ = _tensor_reduce
Variable.__reduce__ = _variable_reduce
GradientTape.__reduce__ = _tape_reduce
