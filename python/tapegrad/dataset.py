"""``tg.data.Dataset``: TensorFlow's input pipelines over in-memory arrays.

A Dataset is an immutable chain of stages (``from_tensor_slices(...).shuffle(...).batch(...)``);
iterating it yields tg Tensors in the element's structure (tuples, namedtuples and dicts nest;
lists and numbers are converted like ``tg.constant``). Inside the pipeline every component is a
NumPy array with its own dtype (integer labels stay integer); it becomes a Tensor only when an
element leaves the pipeline (iteration) or enters a ``map`` function, through the same
conversion as ``tg.constant(array)``.

While the elements are rows of the source arrays (slices, then any of ``shuffle``, ``repeat``,
``take``, ``skip``, ``prefetch``), a stage works on row indices only: shuffling is TensorFlow's
shuffle buffer run in C++ over the indices (``_core.ShuffleBuffer``), and ``batch`` turns the
index order into batches gathered in C++ straight into tensors (``_core.RowBatches``): no Python
runs per sample. Stages after ``batch`` or ``map`` work on whole elements.

Seeds follow ``tg.random``'s global and op seed rule (``python/tapegrad/random.py``): with a seed
(or a global seed) the order of each iteration is reproducible; ``reshuffle_each_iteration``
gives every iteration (every pass of a ``repeat``) its own order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from operator import itemgetter
from typing import Any, Callable, NamedTuple, Optional

import numpy as np

from . import _core
from . import random as tg_random
from ._core import Tensor, Variable
from .compiled import TensorSpec
from .ops import constant, convert_to_tensor

AUTOTUNE = -1  # accepted wherever TensorFlow takes tf.data.AUTOTUNE; there are no worker threads
INFINITE_CARDINALITY = -1
UNKNOWN_CARDINALITY = -2

_SHUFFLE_STREAM = 5  # keeps shuffle keys apart from tg.random's op streams


# ---- element structures: leaves in a flat tuple plus a description to rebuild them ----------

_LEAF = None  # the structure of a single component
_NOT_YET = object()  # a map's structure before its function has run


def _flatten(value) -> tuple[Any, list]:
    """(structure, leaves) of a nested tuple/namedtuple/dict value."""
    leaves: list = []

    def walk(v):
        if isinstance(v, tuple):
            return (type(v), tuple(walk(c) for c in v))
        if isinstance(v, dict):
            return (type(v), tuple(v), tuple(walk(v[k]) for k in v))
        leaves.append(v)
        return _LEAF

    return walk(value), leaves


def _pack(structure, leaves) -> Any:
    it = iter(leaves)

    def build(s):
        if s is _LEAF:
            return next(it)
        if len(s) == 2:
            kind, children = s
            items = [build(c) for c in children]
            return kind._make(items) if hasattr(kind, "_fields") else kind(items)
        kind, keys, children = s
        return kind(zip(keys, [build(c) for c in children]))

    return build(structure)


def _is_flat_tuple(structure) -> bool:
    return (
        structure is not _LEAF
        and len(structure) == 2
        and structure[0] is tuple
        and all(c is _LEAF for c in structure[1])
    )


def _path_names(structure) -> list:
    """A readable name per leaf ("[0]", "['x']", "") for error messages."""
    names: list = []

    def walk(s, prefix):
        if s is _LEAF:
            names.append(prefix)
        elif len(s) == 2:
            for i, c in enumerate(s[1]):
                walk(c, f"{prefix}[{i}]")
        else:
            for k, c in zip(s[1], s[2]):
                walk(c, f"{prefix}[{k!r}]")

    walk(structure, "")
    return names


# ---- leaf conversion at the pipeline's boundary -----------------------------------------------


def _as_array(value, what: str) -> np.ndarray:
    """A component as a NumPy array with tg.constant's dtype rule for lists and numbers."""
    if isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, (Tensor, Variable)):
        arr = np.asarray(convert_to_tensor(value))
    elif isinstance(value, np.generic):
        arr = np.asarray(value)
    else:
        try:
            arr = np.asarray(constant(value))
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"{what}: cannot convert {type(value).__name__} to a tensor: {e}"
            ) from e
    if arr.dtype.kind not in "fiub":
        raise TypeError(
            f"{what}: unsupported dtype {arr.dtype} (tapegrad tensors hold numbers: floating, "
            "integer or bool arrays)"
        )
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _to_tensor(leaf) -> Tensor:
    return leaf if isinstance(leaf, Tensor) else convert_to_tensor(leaf)


def _to_numpy(leaf) -> np.ndarray:
    return leaf if isinstance(leaf, np.ndarray) else _as_array(leaf, "Dataset")


def _tensor_dtype(np_dtype: np.dtype):
    """The dtype a component of np_dtype has as a tensor (tg.constant's rule)."""
    return constant(np.zeros((0,), np_dtype)).dtype


def _check_count(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an integer, got {type(value).__name__} {value!r}")
    return int(value)


# ---- the plan a training loop can run without the pipeline ------------------------------------


class ArrayPlan(NamedTuple):
    """A ``slices -> [shuffle] -> batch -> [repeat]`` pipeline as whole arrays plus a batch plan,
    returned by ``Dataset._as_array_plan()`` (see there)."""

    arrays: Any  # the element structure with the whole source arrays as leaves, e.g. (X, y)
    batch_size: int
    drop_remainder: bool
    shuffle_buffer: Optional[int]  # None when the rows are not shuffled
    reshuffle_each_iteration: bool
    repeat: Optional[int]  # passes per iteration of the dataset; None = forever
    order: Callable[[int], np.ndarray]  # order(epoch): the row order of pass `epoch` (int64)


# ---- the Dataset ------------------------------------------------------------------------------


class Dataset:
    """An input pipeline (``tf.data.Dataset``). Build one with ``from_tensor_slices`` or
    ``from_tensors``; each method returns a new Dataset."""

    _parent: Optional[Dataset] = None

    def __init__(self):
        raise TypeError(
            "Dataset is built with Dataset.from_tensor_slices(...) or Dataset.from_tensors(...)"
        )

    # -- sources --

    @staticmethod
    def from_tensor_slices(tensors, name=None) -> Dataset:
        """One element per row of the components' first dimension (all components must share
        it)."""
        return _Slices(tensors)

    @staticmethod
    def from_tensors(tensors, name=None) -> Dataset:
        """A single element: ``tensors`` itself."""
        return _Tensors(tensors)

    # -- stages --

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True, name=None) -> Dataset:
        """Samples each next element uniformly from a buffer of ``buffer_size`` elements that is
        refilled from the input (TensorFlow's semantics: a buffer at least the data set's size
        is a full uniform shuffle)."""
        return _Shuffle(self, buffer_size, seed, reshuffle_each_iteration)

    def batch(
        self,
        batch_size,
        drop_remainder=False,
        num_parallel_calls=None,
        deterministic=None,
        name=None,
    ) -> Dataset:
        """Stacks consecutive elements into batches of ``batch_size`` (the last one smaller
        unless ``drop_remainder``)."""
        return _Batch(self, batch_size, drop_remainder)

    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None) -> Dataset:
        """Applies ``map_func`` to each element, given as Tensors; a tuple element is passed as
        positional arguments, any other element as one argument."""
        if not callable(map_func):
            raise TypeError(f"map: map_func must be callable, got {type(map_func).__name__}")
        return _Map(self, map_func)

    def repeat(self, count=None, name=None) -> Dataset:
        """The elements ``count`` times over (``None`` or -1: forever)."""
        return _Repeat(self, count)

    def take(self, count, name=None) -> Dataset:
        """At most the first ``count`` elements (-1: all)."""
        return _Take(self, count)

    def skip(self, count, name=None) -> Dataset:
        """All but the first ``count`` elements (-1: none)."""
        return _Skip(self, count)

    def prefetch(self, buffer_size, name=None) -> Dataset:
        """Accepted for compatibility: elements are made on demand in the calling thread."""
        if buffer_size is not None:
            buffer_size = _check_count(buffer_size, "prefetch: buffer_size")
            if buffer_size < -1:
                raise ValueError(f"prefetch: buffer_size must be >= -1, got {buffer_size}")
        return _Prefetch(self)

    # -- reading --

    def __iter__(self) -> Iterator:
        return self._packed(self._iter_flat(True))

    def as_numpy_iterator(self) -> Iterator:
        """Iterates over the elements as NumPy arrays (in the element's structure)."""
        return self._packed(self._iter_flat(False))

    def _packed(self, flat: Iterator[tuple]) -> Iterator:
        structure = self._structure(peek=False)
        if structure is _LEAF:
            return map(itemgetter(0), flat)
        if structure is not _NOT_YET and _is_flat_tuple(structure):
            return flat
        return map(self._pack_flat, flat)

    def _pack_flat(self, flat: tuple):
        # A map's output structure is known once its function has run on the element, so it is
        # looked up per element rather than before the iteration starts.
        return _pack(self._structure(), flat)

    def cardinality(self) -> int:
        """The number of elements, ``INFINITE_CARDINALITY`` (-1) or ``UNKNOWN_CARDINALITY``
        (-2). A Python int (TensorFlow returns a scalar tensor)."""
        return self._cardinality()

    def __len__(self) -> int:
        n = self._cardinality()
        if n == INFINITE_CARDINALITY:
            raise TypeError("The dataset is infinite.")
        if n == UNKNOWN_CARDINALITY:
            raise TypeError("The dataset length is unknown.")
        return n

    def __bool__(self) -> bool:
        return True  # not len(): an infinite dataset is still a dataset

    @property
    def element_spec(self):
        """The element's structure with a ``tg.TensorSpec`` per component (``None`` for a
        dimension that varies, such as the batch dimension without ``drop_remainder``)."""
        specs = [TensorSpec(shape, _tensor_dtype(dtype)) for shape, dtype in self._leaf_specs()]
        return _pack(self._structure(), specs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__.lstrip('_')}Dataset element_spec={self.element_spec}>"

    def _as_array_plan(self) -> Optional[ArrayPlan]:
        """The pipeline as whole arrays plus a batch plan, for a training loop that gathers its
        own batches (the Trainer), or None unless the pipeline is exactly
        ``from_tensor_slices -> [shuffle] -> batch -> [repeat]`` (``prefetch`` anywhere).

        The plan's ``arrays`` are the source arrays in the element's structure (read-only NumPy
        arrays of their own dtypes); ``order(epoch)`` returns the int64 row order of pass
        ``epoch`` (0, 1, ...), which is what iterating the dataset would use for that pass:
        the same for every epoch unless ``reshuffle_each_iteration``, and independent of how
        often the dataset itself was iterated. Batch i of a pass is rows
        ``order[i * batch_size : (i + 1) * batch_size]``, the last one dropped when shorter and
        ``drop_remainder``; ``repeat`` is the number of passes (None = forever)."""
        node = self._skip_prefetch()
        repeat: Optional[int] = 1
        if isinstance(node, _Repeat):
            repeat = node._count
            node = node._parent._skip_prefetch()
        if not isinstance(node, _Batch):
            return None
        batch = node
        node = batch._parent._skip_prefetch()
        shuffle = None
        if isinstance(node, _Shuffle):
            shuffle = node
            node = node._parent._skip_prefetch()
        if not isinstance(node, _Slices):
            return None
        source = node
        if shuffle is None:
            rows = source._rows()
            order = lambda epoch: rows  # noqa: E731
        else:
            order = lambda epoch: shuffle._order_of_pass(source._rows(), epoch)  # noqa: E731
        return ArrayPlan(
            arrays=_pack(source._structure(), source._arrays),
            batch_size=batch._batch_size,
            drop_remainder=batch._drop_remainder,
            shuffle_buffer=None if shuffle is None else shuffle._buffer_size,
            reshuffle_each_iteration=shuffle is not None and shuffle._reshuffle,
            repeat=repeat,
            order=order,
        )

    # -- what each stage implements --

    def _structure(self, peek: bool = True):
        """The element structure; _NOT_YET when it depends on a map function that has not run
        and ``peek`` is false."""
        return self._parent._structure(peek)

    def _leaf_specs(self) -> list:
        return self._parent._leaf_specs()

    def _cardinality(self) -> int:
        return self._parent._cardinality()

    def _rows_source(self) -> Optional[_Slices]:
        """The slices source when this stage's elements are rows of its arrays, else None."""
        return None

    def _index_stream(self) -> Iterator[np.ndarray]:
        """The row indices of one iteration, in chunks (only when _rows_source() is not None)."""
        raise NotImplementedError(type(self).__name__)

    def _iter_flat(self, as_tensors: bool) -> Iterator[tuple]:
        """One iteration's elements as flat tuples of components (Tensors or NumPy arrays)."""
        source = self._rows_source()
        if source is None:
            raise NotImplementedError(type(self).__name__)
        return source._rows_of(self._index_stream(), as_tensors)

    def _skip_prefetch(self) -> Dataset:
        node = self
        while isinstance(node, _Prefetch):
            node = node._parent
        return node

    def _ancestors(self) -> Iterator[Dataset]:
        node = self
        while node is not None:
            yield node
            node = node._parent


class _Slices(Dataset):
    def __init__(self, tensors):
        structure, leaves = _flatten(tensors)
        if not leaves:
            raise ValueError("from_tensor_slices: the structure holds no components")
        names = _path_names(structure)
        arrays = []
        for name, leaf in zip(names, leaves):
            arr = _as_array(leaf, f"from_tensor_slices: component {name or '0'}")
            if arr.ndim == 0:
                raise ValueError(
                    f"from_tensor_slices: component {name or '0'} is a scalar; every component "
                    "needs a first dimension to slice"
                )
            arr = np.array(arr, order="C", copy=True)  # the dataset keeps its own values
            arr.setflags(write=False)
            arrays.append(arr)
        sizes = {a.shape[0] for a in arrays}
        if len(sizes) > 1:
            shapes = ", ".join(f"{n or '0'}: {a.shape}" for n, a in zip(names, arrays))
            raise ValueError(
                "from_tensor_slices: all components must have the same size in their first "
                f"dimension, got shapes {shapes}"
            )
        self._structure_ = structure
        self._arrays = tuple(arrays)
        self._n = arrays[0].shape[0]
        self._arange = None

    def _structure(self, peek: bool = True):
        return self._structure_

    def _leaf_specs(self) -> list:
        return [(a.shape[1:], a.dtype) for a in self._arrays]

    def _cardinality(self) -> int:
        return self._n

    def _rows_source(self) -> _Slices:
        return self

    def _rows(self) -> np.ndarray:
        if self._arange is None:
            self._arange = np.arange(self._n, dtype=np.int64)
            self._arange.setflags(write=False)
        return self._arange

    def _index_stream(self) -> Iterator[np.ndarray]:
        if self._n:
            yield self._rows()

    def _rows_of(self, chunks: Iterator[np.ndarray], as_tensors: bool) -> Iterator[tuple]:
        arrays = self._arrays
        for chunk in chunks:
            for i in chunk.tolist():
                if as_tensors:
                    yield tuple(constant(a[i]) for a in arrays)
                else:
                    yield tuple(a[i] for a in arrays)


class _Tensors(Dataset):
    def __init__(self, tensors):
        structure, leaves = _flatten(tensors)
        names = _path_names(structure)
        arrays = []
        for name, leaf in zip(names, leaves):
            arr = np.array(_as_array(leaf, f"from_tensors: component {name or '0'}"), copy=True)
            arr.setflags(write=False)
            arrays.append(arr)
        self._structure_ = structure
        self._arrays = tuple(arrays)

    def _structure(self, peek: bool = True):
        return self._structure_

    def _leaf_specs(self) -> list:
        return [(a.shape, a.dtype) for a in self._arrays]

    def _cardinality(self) -> int:
        return 1

    def _iter_flat(self, as_tensors: bool) -> Iterator[tuple]:
        yield tuple(constant(a) for a in self._arrays) if as_tensors else self._arrays


class _Shuffle(Dataset):
    def __init__(self, parent: Dataset, buffer_size, seed, reshuffle: bool):
        buffer_size = _check_count(buffer_size, "shuffle: buffer_size")
        if buffer_size <= 0:
            raise ValueError(f"shuffle: buffer_size must be greater than zero, got {buffer_size}")
        global_seed, op_seed = tg_random.get_seed(seed)
        self._parent = parent
        self._buffer_size = buffer_size
        self._reshuffle = bool(reshuffle)
        self._key = (
            tg_random.entropy_key()
            if global_seed is None
            else tg_random.mix_seeds(_SHUFFLE_STREAM, global_seed, op_seed)
        )
        self._iterations = 0  # passes started so far (each gets its own order when reshuffling)

    def _buffer(self, epoch: int):
        return _core.ShuffleBuffer(
            self._buffer_size, tg_random.mix_seeds(self._key, epoch if self._reshuffle else 0)
        )

    def _next_buffer(self):
        buffer = self._buffer(self._iterations)
        self._iterations += 1
        return buffer

    def _order_of_pass(self, rows: np.ndarray, epoch: int) -> np.ndarray:
        buffer = self._buffer(epoch)
        return np.concatenate([buffer.push(rows), buffer.drain()])

    def _rows_source(self) -> Optional[_Slices]:
        return self._parent._rows_source()

    def _index_stream(self) -> Iterator[np.ndarray]:
        buffer = self._next_buffer()
        for chunk in self._parent._index_stream():
            out = buffer.push(chunk)
            if len(out):
                yield out
        rest = buffer.drain()
        if len(rest):
            yield rest

    def _iter_flat(self, as_tensors: bool) -> Iterator[tuple]:
        if self._rows_source() is not None:
            return super()._iter_flat(as_tensors)
        return self._shuffle_elements(as_tensors)

    def _shuffle_elements(self, as_tensors: bool) -> Iterator[tuple]:
        # Whole elements (after batch or map): the same buffer runs over their sequence numbers.
        buffer = self._next_buffer()
        pending: dict = {}
        elements = self._parent._iter_flat(as_tensors)
        for start in itertools.count(0, 64):
            group = list(itertools.islice(elements, 64))
            pending.update(zip(range(start, start + len(group)), group))
            ids = buffer.push(np.arange(start, start + len(group), dtype=np.int64))
            if len(group) < 64:
                ids = np.concatenate([ids, buffer.drain()])
            for i in ids.tolist():
                yield pending.pop(i)
            if len(group) < 64:
                return


class _Batch(Dataset):
    def __init__(self, parent: Dataset, batch_size, drop_remainder: bool):
        batch_size = _check_count(batch_size, "batch: batch_size")
        if batch_size <= 0:
            raise ValueError(f"batch: batch_size must be greater than zero, got {batch_size}")
        self._parent = parent
        self._batch_size = batch_size
        self._drop_remainder = bool(drop_remainder)

    def _leaf_specs(self) -> list:
        outer = self._batch_size if self._drop_remainder else None
        return [((outer, *shape), dtype) for shape, dtype in self._parent._leaf_specs()]

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        if n < 0:
            return n
        b = self._batch_size
        return n // b if self._drop_remainder else -(-n // b)

    def _iter_flat(self, as_tensors: bool) -> Iterator[tuple]:
        source = self._parent._rows_source()
        if source is None:
            return self._stack_elements(as_tensors)
        chunks = self._parent._index_stream()
        if self._parent._cardinality() >= 0:
            chunks = list(chunks)
            order = (
                chunks[0] if len(chunks) == 1 else np.concatenate(chunks or [np.empty(0, np.int64)])
            )
            return self._gather(source, order, self._drop_remainder, as_tensors)
        return self._gather_stream(source, chunks, as_tensors)

    def _gather(self, source: _Slices, order, drop_remainder: bool, as_tensors: bool):
        if as_tensors:
            return _core.RowBatches(source._arrays, order, self._batch_size, drop_remainder, False)
        b = self._batch_size
        stop = len(order) - len(order) % b if drop_remainder else len(order)
        return (tuple(a[order[i : i + b]] for a in source._arrays) for i in range(0, stop, b))

    def _gather_stream(self, source: _Slices, chunks, as_tensors: bool) -> Iterator[tuple]:
        # An unbounded index stream (a repeat without count before batch): batches are cut from
        # the chunks as they come, the leftover rows carried into the next chunk.
        b = self._batch_size
        carry = np.empty(0, np.int64)
        for chunk in chunks:
            order = np.concatenate([carry, chunk]) if len(carry) else chunk
            whole = len(order) - len(order) % b
            yield from self._gather(source, order[:whole], True, as_tensors)
            carry = order[whole:]
        if len(carry) and not self._drop_remainder:
            yield from self._gather(source, carry, False, as_tensors)

    def _stack_elements(self, as_tensors: bool) -> Iterator[tuple]:
        elements = self._parent._iter_flat(False)
        while True:
            group = list(itertools.islice(elements, self._batch_size))
            if not group or (self._drop_remainder and len(group) < self._batch_size):
                return
            stacked = []
            for j in range(len(group[0])):
                parts = [np.asarray(e[j]) for e in group]
                shapes = {p.shape for p in parts}
                if len(shapes) > 1:
                    name = _path_names(self._parent._structure())[j] or "0"
                    raise ValueError(
                        f"batch: cannot batch elements whose component {name} has different "
                        f"shapes {sorted(shapes)}"
                    )
                stacked.append(np.stack(parts))
            yield tuple(constant(s) for s in stacked) if as_tensors else tuple(stacked)


class _Map(Dataset):
    def __init__(self, parent: Dataset, fn: Callable):
        self._parent = parent
        self._fn = fn
        self._out_structure = _NOT_YET
        self._out_specs: Optional[list] = None

    def _call(self, flat: tuple) -> tuple:
        element = _pack(self._parent._structure(), flat)
        out = self._fn(*element) if type(element) is tuple else self._fn(element)
        if isinstance(out, list):
            out = tuple(out)  # TensorFlow's map returns a list result as a tuple
        structure, leaves = _flatten(out)
        if self._out_structure is _NOT_YET:
            self._out_structure = structure
        elif structure != self._out_structure:
            raise ValueError(
                "map: map_func returned elements of different structures: "
                f"{_describe(self._out_structure)} and then {_describe(structure)}"
            )
        return tuple(leaves)

    def _peek(self) -> None:
        # The output structure is known once map_func has run: run it on the first element,
        # leaving the shuffles upstream as they were (their next pass keeps its order).
        if self._out_specs is not None:
            return
        shuffles = [n for n in self._ancestors() if isinstance(n, _Shuffle)]
        started = [s._iterations for s in shuffles]
        try:
            for flat in self._iter_flat(False):
                self._out_specs = [(a.shape, a.dtype) for a in flat]
                return
        finally:
            for s, n in zip(shuffles, started):
                s._iterations = n
        raise ValueError("map: the input dataset is empty, so the output structure is unknown")

    def _structure(self, peek: bool = True):
        if self._out_structure is _NOT_YET and peek:
            self._peek()
        return self._out_structure

    def _leaf_specs(self) -> list:
        self._peek()
        return self._out_specs

    def _iter_flat(self, as_tensors: bool) -> Iterator[tuple]:
        convert = _to_tensor if as_tensors else _to_numpy
        for flat in self._parent._iter_flat(True):
            yield tuple(convert(leaf) for leaf in self._call(flat))


class _Repeat(Dataset):
    def __init__(self, parent: Dataset, count):
        count = -1 if count is None else _check_count(count, "repeat: count")
        if count < -1:
            raise ValueError(f"repeat: count must be >= -1 (-1 or None: forever), got {count}")
        self._parent = parent
        self._count = None if count == -1 else count

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        if n == 0 or self._count == 0:
            return 0
        if n < 0 or self._count is None:
            return n if n == UNKNOWN_CARDINALITY else INFINITE_CARDINALITY
        return n * self._count

    def _passes(self):
        return itertools.count() if self._count is None else range(self._count)

    def _rows_source(self) -> Optional[_Slices]:
        return self._parent._rows_source()

    def _index_stream(self) -> Iterator[np.ndarray]:
        for _ in self._passes():
            empty = True
            for chunk in self._parent._index_stream():
                empty = False
                yield chunk
            if empty:
                return  # repeating nothing gives nothing, not an endless loop

    def _iter_flat(self, as_tensors: bool) -> Iterator[tuple]:
        if self._rows_source() is not None:
            return super()._iter_flat(as_tensors)
        return self._repeat_elements(as_tensors)

    def _repeat_elements(self, as_tensors: bool) -> Iterator[tuple]:
        for _ in self._passes():
            empty = True
            for element in self._parent._iter_flat(as_tensors):
                empty = False
                yield element
            if empty:
                return


class _Take(Dataset):
    def __init__(self, parent: Dataset, count):
        self._parent = parent
        self._count = _check_count(count, "take: count")
        if self._count < -1:
            raise ValueError(f"take: count must be >= -1 (-1: all), got {self._count}")

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        if self._count == -1:
            return n
        if n == INFINITE_CARDINALITY:
            return self._count
        return n if n == UNKNOWN_CARDINALITY else min(n, self._count)

    def _rows_source(self) -> Optional[_Slices]:
        return self._parent._rows_source()

    def _index_stream(self) -> Iterator[np.ndarray]:
        left = self._count
        for chunk in self._parent._index_stream():
            if left == 0:
                return
            if left > 0:
                chunk = chunk[:left]
                left -= len(chunk)
            yield chunk

    def _iter_flat(self, as_tensors: bool) -> Iterator[tuple]:
        if self._rows_source() is not None:
            return super()._iter_flat(as_tensors)
        elements = self._parent._iter_flat(as_tensors)
        return elements if self._count == -1 else itertools.islice(elements, self._count)


class _Skip(Dataset):
    def __init__(self, parent: Dataset, count):
        self._parent = parent
        self._count = _check_count(count, "skip: count")
        if self._count < -1:
            raise ValueError(f"skip: count must be >= -1 (-1: all), got {self._count}")

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        if n < 0:
            return n
        return 0 if self._count == -1 else max(0, n - self._count)

    def _rows_source(self) -> Optional[_Slices]:
        return self._parent._rows_source()

    def _index_stream(self) -> Iterator[np.ndarray]:
        if self._count == -1:
            return
        left = self._count
        for chunk in self._parent._index_stream():
            if left >= len(chunk):
                left -= len(chunk)
                continue
            yield chunk[left:]
            left = 0

    def _iter_flat(self, as_tensors: bool) -> Iterator[tuple]:
        if self._rows_source() is not None:
            return super()._iter_flat(as_tensors)
        if self._count == -1:
            return iter(())
        return itertools.islice(self._parent._iter_flat(as_tensors), self._count, None)


class _Prefetch(Dataset):
    def __init__(self, parent: Dataset):
        self._parent = parent

    def _rows_source(self) -> Optional[_Slices]:
        return self._parent._rows_source()

    def _index_stream(self) -> Iterator[np.ndarray]:
        return self._parent._index_stream()

    def _iter_flat(self, as_tensors: bool) -> Iterator[tuple]:
        return self._parent._iter_flat(as_tensors)


def _describe(structure) -> str:
    if structure is _LEAF:
        return "a single component"
    if len(structure) == 2:
        return f"a {structure[0].__name__} of {len(structure[1])}"
    return f"a {structure[0].__name__} with keys {list(structure[1])}"


__all__ = [
    "AUTOTUNE",
    "INFINITE_CARDINALITY",
    "UNKNOWN_CARDINALITY",
    "ArrayPlan",
    "Dataset",
]
