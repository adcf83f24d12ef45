"""
tapegrad's C++ engine: tensors, ops, GradientTape.
"""
from __future__ import annotations
import builtins
import collections.abc
import numpy
import numpy.typing
import tapegrad.types
import typing
from . import ops
from . import integer_ops
from . import optim
__all__: list[str] = ['CustomGradientFunction', 'DType', 'ForwardAccumulator', 'GradientTape', 'HvpScope', 'Program', 'RandomStream', 'RowBatches', 'ShuffleBuffer', 'Tensor', 'TensorSignatureCache', 'Trace', 'Variable', 'alloc_stats', 'check_finite', 'dropout_mask', 'integer_ops', 'is_traced', 'isa', 'num_threads', 'ops', 'optim', 'random_batch_indices', 'random_normal', 'random_permutation', 'random_truncated_normal', 'random_uniform', 'release_cached_memory', 'set_cache_limit', 'set_num_threads', 'tapes_recording', 'tensor_sharing_array', 'tracing_function']
class DType:
    """
    Members:
    
      float32
    
      float64
    
      int32
    
      int64
    
      bool
    """
    __members__: typing.ClassVar[dict[str, DType]]
    bool: typing.ClassVar[DType]
    float32: typing.ClassVar[DType]
    float64: typing.ClassVar[DType]
    int32: typing.ClassVar[DType]
    int64: typing.ClassVar[DType]
    @staticmethod
    def __eq__(*args, **kwargs):
        """
        Overloaded function.
        
        1. __eq__(self: tapegrad._core.DType, other: tapegrad._core.DType, /) -> bool
        
        2. __eq__(self: tapegrad._core.DType, other: object, /) -> bool
        """
    @staticmethod
    def __ne__(*args, **kwargs):
        """
        Overloaded function.
        
        1. __ne__(self: tapegrad._core.DType, other: tapegrad._core.DType, /) -> bool
        
        2. __ne__(self: tapegrad._core.DType, other: object, /) -> bool
        """
    @staticmethod
    def __repr__(*args, **kwargs):
        """
        Overloaded function.
        
        1. __repr__(self: object, /) -> str
        
        2. __repr__(self: tapegrad._core.DType) -> str
        """
    @staticmethod
    def __str__(*args, **kwargs):
        """
        Overloaded function.
        
        1. __str__(self: object, /) -> str
        
        2. __str__(self: tapegrad._core.DType) -> str
        """
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def as_numpy_dtype(self) -> type:
        ...
    @property
    def is_bool(self) -> builtins.bool:
        ...
    @property
    def is_floating(self) -> builtins.bool:
        ...
    @property
    def is_integer(self) -> builtins.bool:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class Tensor:
    """
    Tensor(value: tapegrad.types.TensorLike, dtype: tapegrad.types.DTypeLike = None)
    
    An immutable dense tensor (float32, float64, int32, int64 or bool; TensorFlow's eager Tensor).
    """
    __array_priority__: typing.ClassVar[int] = 1000
    def __init__(self, value: tapegrad.types.TensorLike, dtype: tapegrad.types.DTypeLike = None) -> None:
        ...
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape as a tuple of ints."""
    @property
    def dtype(self) -> DType:
        """tg.float32 or tg.float64."""
    @property
    def ndim(self) -> int:
        """The rank."""
    @property
    def size(self) -> int:
        """The number of elements."""
    @property
    def id(self) -> int:
        """The unique id tapes know this value by."""
    def __abs__(self) -> Tensor:
        ...
    def __add__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __and__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __array__(self, dtype: typing.Any = None, copy: bool | None = None) -> numpy.ndarray:
        """
        NumPy conversion (a read-only view unless dtype/copy ask otherwise).
        """
    def __bool__(self) -> bool:
        ...
    def __dlpack__(self, *, stream = None, max_version = None, dl_device = None, copy = None):
        """
        The DLPack capsule of this tensor's memory (CPU; shared, no copy unless ``copy=True``).
        
            A consumer that speaks DLPack >= 1.0 (``max_version``) gets the memory marked read-only. An
            older consumer cannot be told, and gets it unmarked, as TensorFlow's export does: it must not
            write into it (tensors are immutable).
        """
    def __dlpack_device__(self) -> tuple:
        """
        ``(1, 0)``: DLPack's kCPU, device 0.
        """
    def __eq__(self, value: object) -> Tensor:  # type: ignore[override]
        ...
    def __float__(self) -> float:
        ...
    def __floordiv__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __ge__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __getitem__(self, key: typing.Any) -> Tensor:
        ...
    def __gt__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __hash__(self) -> int:
        ...
    def __int__(self) -> int:
        ...
    def __invert__(self) -> Tensor:
        ...
    def __iter__(self) -> collections.abc.Iterator[Tensor]:
        ...
    def __le__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __len__(self) -> int:
        ...
    def __lt__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __matmul__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __mod__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __mul__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __ne__(self, value: object) -> Tensor:  # type: ignore[override]
        ...
    def __neg__(self) -> Tensor:
        ...
    def __or__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __pos__(self) -> Tensor:
        ...
    def __pow__(self, value: tapegrad.types.TensorLike, mod: None = None) -> Tensor:
        ...
    def __radd__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __rand__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __reduce__(self):
        ...
    def __repr__(self) -> str:
        ...
    def __rfloordiv__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __rmatmul__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __rmod__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __rmul__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __ror__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __rpow__(self, value: tapegrad.types.TensorLike, mod: None = None) -> Tensor:
        ...
    def __rsub__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __rtruediv__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __rxor__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __str__(self) -> str:
        ...
    def __sub__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __truediv__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __xor__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def numpy(self) -> numpy.ndarray:
        """
        A read-only NumPy view sharing this tensor's memory (zero-copy).
        """
class Variable:
    """
    A mutable tensor-valued state (weights): ops read its current value, tapes watch trainable variables automatically, assign/assign_add/assign_sub change it in place.
    """
    __array_priority__: typing.ClassVar[int] = 1000
    trainable: bool
    def __abs__(self) -> Tensor:
        ...
    def __add__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __and__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __array__(self, dtype: typing.Any = None, copy: typing.Any = None) -> typing.Any:
        ...
    def __bool__(self) -> bool:
        ...
    def __dlpack__(self, *, stream = None, max_version = None, dl_device = None, copy = None):
        """
        The DLPack capsule of this tensor's memory (CPU; shared, no copy unless ``copy=True``).
        
            A consumer that speaks DLPack >= 1.0 (``max_version``) gets the memory marked read-only. An
            older consumer cannot be told, and gets it unmarked, as TensorFlow's export does: it must not
            write into it (tensors are immutable).
        """
    def __dlpack_device__(self) -> tuple:
        """
        ``(1, 0)``: DLPack's kCPU, device 0.
        """
    def __eq__(self, value: object) -> Tensor:  # type: ignore[override]
        ...
    def __float__(self) -> float:
        ...
    def __floordiv__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __ge__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __getitem__(self, key: typing.Any) -> Tensor:
        ...
    def __gt__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __hash__(self) -> int:
        ...
    def __init__(self, initial_value: tapegrad.types.TensorLike, trainable: bool = True, name: typing.Any = None, dtype: tapegrad.types.DTypeLike = None) -> None:
        """
        A variable holding a copy of initial_value (in dtype when given); name defaults to 'Variable'.
        """
    def __int__(self) -> int:
        ...
    def __invert__(self) -> Tensor:
        ...
    def __iter__(self) -> collections.abc.Iterator[Tensor]:
        ...
    def __le__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __len__(self) -> int:
        ...
    def __lt__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __matmul__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __mod__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __mul__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __ne__(self, value: object) -> Tensor:  # type: ignore[override]
        ...
    def __neg__(self) -> Tensor:
        ...
    def __or__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __pos__(self) -> Tensor:
        ...
    def __pow__(self, value: tapegrad.types.TensorLike, mod: None = None) -> Tensor:
        ...
    def __radd__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __rand__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __reduce__(self):
        ...
    def __repr__(self) -> str:
        ...
    def __rfloordiv__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __rmatmul__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __rmod__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __rmul__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __ror__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __rpow__(self, value: tapegrad.types.TensorLike, mod: None = None) -> Tensor:
        ...
    def __rsub__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __rtruediv__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __rxor__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __str__(self) -> str:
        ...
    def __sub__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __truediv__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def __xor__(self, value: tapegrad.types.TensorLike) -> Tensor:
        ...
    def assign(self, value: tapegrad.types.TensorLike) -> Variable:
        """
        Sets the value to value (converted to the variable's dtype); returns the variable.
        """
    def assign_add(self, delta: tapegrad.types.TensorLike) -> Variable:
        """
        Adds delta to the value in place; returns the variable.
        """
    def assign_sub(self, delta: tapegrad.types.TensorLike) -> Variable:
        """
        Subtracts delta from the value in place; returns the variable.
        """
    def numpy(self) -> numpy.ndarray:
        """
        A copy of the current value: writing into it never changes the variable.
        """
    def read_value(self) -> Tensor:
        """
        The current value as a Tensor (TensorFlow's name for value()).
        """
    def value(self) -> Tensor:
        """
        The current value as a Tensor (a read: active tapes watch it).
        """
    @property
    def dtype(self) -> DType:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def ndim(self) -> int:
        ...
    @property
    def shape(self) -> tuple:
        ...
    @property
    def size(self) -> int:
        ...
class GradientTape:
    """
    GradientTape(persistent: bool = False, watch_accessed_variables: bool = True)
    
    Records ops on watched tensors for reverse-mode differentiation (TensorFlow's rules).
    """
    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True) -> None:
        ...
    @property
    def persistent(self) -> bool:
        """Whether gradient() may be called more than once."""
    @property
    def recording(self) -> bool:
        """Whether the tape records now (inside its with block, not paused)."""
    @property
    def num_nodes(self) -> int:
        """How many ops this tape holds (for inspection)."""
    def __enter__(self) -> GradientTape:
        """
        Starts recording on this thread.
        """
    def __exit__(self, *exc_info: typing.Any) -> bool:
        """
        Stops recording (exceptions propagate).
        """
    def __reduce__(self):
        ...
    def _graph(self) -> dict[str, typing.Any]:
        """
        The recorded graph as plain data: {'persistent', 'nodes' (op, inputs, input_shapes, input_dtypes, output, shape, dtype), 'variable_reads' (id, variable, name, trainable, shape, dtype), 'watched' (ids)}; what tapegrad.utils.tape_to_dot draws.
        """
    def batch_jacobian(self, target: tapegrad.types.TensorLike, source: tapegrad.types.TensorLike, unconnected_gradients: str = 'none', parallel_iterations: int | None = None, experimental_use_pfor: bool = True) -> Tensor | None:
        """
        For target [b, y...] and source [b, x...] whose batch rows do not interact, each row's Jacobian, [b, y..., x...].
        """
    def gradient(self, target: typing.Any, sources: typing.Any, output_gradients: typing.Any = None, unconnected_gradients: str = 'none') -> typing.Any:
        """
        Gradients of sum(target) with respect to sources, in the sources' structure (None, or zeros with unconnected_gradients='zero', for a source the target does not depend on).
        """
    def jacobian(self, target: tapegrad.types.TensorLike, sources: typing.Any, unconnected_gradients: str = 'none', parallel_iterations: int | None = None, experimental_use_pfor: bool = True) -> typing.Any:
        """
        d target / d source of shape target.shape + source.shape for each source (any nesting, returned in the same structure); the per-element sweeps run in C++.
        """
    def reset(self) -> None:
        """
        Discards everything recorded so far.
        """
    def stop_recording(self) -> _StopRecording:
        """
        A context manager that pauses recording for its block.
        """
    def watch(self, tensor: typing.Any) -> None:
        """
        Tracks a Tensor or Variable (or a nested list/tuple/dict of them).
        """
    def watched_variables(self) -> tuple[Variable, ...]:
        """
        The variables this tape watches, in the order they were first watched.
        """
class _StopRecording:
    def __enter__(self) -> None:
        ...
    def __exit__(self, *args) -> bool:
        ...
class Program:
    """
    A traced function, replayed in C++.
    """
    def __str__(self) -> str:
        ...
    def _graph(self) -> dict:
        """
        The program as plain data: {'name', 'arguments' and 'constants' (slot, shape, dtype), 'instructions' (kind, name, inputs, output, shape, dtype, variable, variable_id, trainable), 'outputs'}; what tapegrad.utils.tape_to_dot draws.
        """
    def op_names(self) -> list[str]:
        """
        The instructions' names in replay order.
        """
    def run(self, args: collections.abc.Sequence) -> list:
        """
        Runs the program on the tensor arguments; returns the output tensors.
        """
    def run_batches(self, arrays: collections.abc.Sequence, indices: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], fixed: collections.abc.Sequence | None = None) -> tuple:
        """
        Runs once per row of indices on the rows it picks of each array; returns (losses, stopped_by_non_finite).
        """
    @property
    def argument_specs(self) -> list:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def num_constants(self) -> int:
        ...
    @property
    def num_instructions(self) -> int:
        ...
class TensorSignatureCache:
    """
    tg.function's programs for all-tensor arguments, looked up in C++.
    """
    def __init__(self, miss: typing.Any, pack: typing.Any) -> None:
        ...
    def add(self, args: tuple, program: Program, result_template: typing.Any, single: bool) -> None:
        ...
    def call(self, args: tuple) -> typing.Any:
        ...
class Trace:
    """
    Records this thread's ops as a Program (tg.function's first call).
    """
    def __init__(self, function_name: str, may_create_variables: bool) -> None:
        ...
    def add_argument(self, arg0: typing.Any) -> None:
        ...
    def enter(self) -> None:
        ...
    def exit(self) -> None:
        ...
    def finish(self, arg0: collections.abc.Sequence) -> Program:
        ...
class CustomGradientFunction:
    """
    A tg.custom_gradient function (custom_gradient.py): calling it runs fn and records its outputs with fn's grad_fn as their VJP.
    """
    @staticmethod
    def __new__(type, *args, **kwargs):
        """
        Create and return a new object.  See help(type) for accurate signature.
        """
    def __call__(self, *args, **kwargs):
        """
        Call self as a function.
        """
    def __get__(self, instance, owner = None):
        """
        Return an attribute of instance, which is of type owner.
        """
    def __repr__(self):
        """
        Return repr(self).
        """
class ForwardAccumulator:
    """
    Forward-mode tangents (forward.h).
    """
    def __init__(self) -> None:
        ...
    def enter(self) -> None:
        ...
    def exit(self) -> None:
        ...
    def tangent(self, primal: tapegrad.types.TensorLike) -> Tensor:
        """
        The tangent of a tensor or variable, or None.
        """
    def watch(self, primal: tapegrad.types.TensorLike, tangent: tapegrad.types.TensorLike) -> None:
        ...
class HvpScope:
    """
    tg.hvp's accumulator and tape (functional.py).
    """
    def __init__(self, xs: collections.abc.Sequence, vs: collections.abc.Sequence) -> None:
        ...
    def close(self) -> None:
        """
        Leaves the tape and the accumulator.
        """
    def finish(self, y: tapegrad.types.TensorLike) -> list:
        """
        H v for each source, given the function's scalar output y.
        """
class RandomStream:
    """
    The draws of a stateful random op (a Dropout layer's masks); see tapegrad/random.h.
    """
    def __getstate__(self) -> tuple[int, int]:
        ...
    def __init__(self, key: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __setstate__(self, arg0: tuple) -> None:
        ...
    @property
    def calls(self) -> int:
        ...
    @property
    def key(self) -> int:
        ...
class ShuffleBuffer:
    """
    TensorFlow's shuffle buffer over int64 ids (cpp/include/tapegrad/sampling.h).
    """
    def __init__(self, capacity: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __len__(self) -> int:
        ...
    def drain(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        Returns every buffered id in random order and empties the buffer.
        """
    def push(self, ids: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> numpy.typing.NDArray[numpy.int64]:
        """
        Feeds ids; returns those that left the buffer.
        """
class RowBatches:
    """
    Batches of rows of whole arrays in a given order, as Tensors (a tuple, or the tensor itself when single).
    """
    def __init__(self, arrays: collections.abc.Sequence, order: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], batch_size: typing.SupportsInt | typing.SupportsIndex, drop_remainder: bool, single: bool) -> None:
        ...
    def __iter__(self) -> typing.Any:
        ...
    def __next__(self) -> typing.Any:
        ...
def alloc_stats() -> dict:
    """
    The tensor-storage cache: bytes and blocks held, its bound, hits and misses.
    """
def check_finite(t: typing.Any, what: str = 'value') -> None:
    """
    Raises FloatingPointError when t holds a NaN or infinity; a compiled step stops there.
    """
def dropout_mask(dtype: tapegrad.types.DTypeLike, shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], rate: typing.SupportsFloat | typing.SupportsIndex, stream: RandomStream) -> Tensor:
    """
    Inverted dropout's mask: 1/(1-rate) with probability 1-rate, else 0; traced as a stateful op.
    """
def is_traced(t: typing.Any) -> bool:
    """
    Whether t's value exists only for the call being traced.
    """
def isa() -> str:
    """
    The instruction set the kernels dispatched to.
    """
def num_threads() -> int:
    """
    Threads the kernels use (TAPEGRAD_NUM_THREADS at import, or set_num_threads).
    """
def random_batch_indices(n: typing.Any, steps: typing.Any, batch: typing.Any, seed: typing.Any) -> numpy.typing.NDArray[numpy.int64]:
    """
    steps x batch row indices in [0, n) drawn with replacement in C++, the same for a seed everywhere (what Trainer.fit(sampling='random') replays).
    """
def random_normal(shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], dtype: tapegrad.types.DTypeLike, mean: typing.SupportsFloat | typing.SupportsIndex, stddev: typing.SupportsFloat | typing.SupportsIndex, key: typing.SupportsInt | typing.SupportsIndex) -> Tensor:
    """
    Normal numbers (Box-Muller); element k depends only on (key, k).
    """
def random_permutation(n: typing.SupportsInt | typing.SupportsIndex, key: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.int64]:
    """
    A uniform random permutation of 0..n-1 as an int64 array.
    """
def random_truncated_normal(shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], dtype: tapegrad.types.DTypeLike, mean: typing.SupportsFloat | typing.SupportsIndex, stddev: typing.SupportsFloat | typing.SupportsIndex, key: typing.SupportsInt | typing.SupportsIndex) -> Tensor:
    """
    Normal numbers with draws beyond two standard deviations drawn again.
    """
def random_uniform(shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], dtype: tapegrad.types.DTypeLike, minval: typing.SupportsFloat | typing.SupportsIndex, maxval: typing.SupportsFloat | typing.SupportsIndex, key: typing.SupportsInt | typing.SupportsIndex) -> Tensor:
    """
    Uniform numbers in [minval, maxval); element k depends only on (key, k).
    """
def release_cached_memory() -> None:
    """
    Returns every cached (free) storage buffer to the system.
    """
def set_cache_limit(bytes: typing.Any) -> int:
    """
    Bounds the bytes the storage cache keeps; returns the previous bound.
    """
def set_num_threads(n: typing.Any) -> None:
    """
    Threads the kernels may use, 1 to 1024 (docs/limits.md).
    """
def tapes_recording() -> bool:
    """
    Whether a GradientTape records on this thread (bookkeeping such as a metric's update detaches its inputs only then, so a trace sees the same op twice and merges it).
    """
def tensor_sharing_array(array: numpy.ndarray) -> Tensor:
    """
    A Tensor viewing a C-contiguous NumPy array's memory, no copy (tg.from_dlpack's zero-copy path): whoever owns the memory must not write into it while the tensor lives.
    """
def tracing_function() -> typing.Any:
    """
    The name of the function being traced on this thread, or None.
    """
