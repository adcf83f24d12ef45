"""``tg.distribute``: data-parallel training over MPI, the same model on N processes.

Every rank (an MPI process started by ``mpiexec``) holds a full replica of the model. At the start
of training rank 0's variables are broadcast to the others, after a check that every rank built
the same variables. Each step's global batch is split across the ranks in rank order, each rank
computes the gradient of its share, and the gradients are averaged by one allreduce of one fused
buffer, so every rank applies the same update to the same weights. The transport is MPI's, through
mpi4py's buffer interface (``Allreduce`` on NumPy arrays); nothing here sends bytes of its own.

``import tapegrad`` does not import mpi4py: it is imported when a strategy is made, and a missing
mpi4py raises ImportError saying what to install (the ``mpi`` extra).

A hand-written loop::

    strategy = tg.distribute.MPIStrategy()
    strategy.broadcast_variables(model.variables)
    for xb, yb in my_share_of_each_batch:
        with tg.GradientTape() as tape:
            loss = loss_fn(yb, model(xb))
        grads = strategy.allreduce(tape.gradient(loss, model.trainable_variables))
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

With ``Trainer(..., strategy=strategy)``, or ``model.fit`` inside ``with strategy.scope():``, the
Trainer does all of this itself (python/tapegrad/trainer.py, ``_ReplicaStep``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Optional

import numpy as np

from ._core import Tensor, Variable

INSTALL_HINT = (
    'data-parallel training needs MPI: pip install "tapegrad[mpi]" (mpi4py and the mpich '
    "library; on a cluster, mpi4py built against the system MPI)"
)


def _mpi():
    """mpi4py's MPI module; importing it initializes MPI (once per process)."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return MPI


_scopes = threading.local()


def get_strategy() -> Optional[MPIStrategy]:
    """The strategy whose ``scope()`` is active on this thread, or None."""
    stack = getattr(_scopes, "stack", None)
    return stack[-1] if stack else None


def _describe(variables: Sequence) -> list:
    return [(v.name, tuple(v.shape), v.dtype.name) for v in variables]


class MPIStrategy:
    """Data parallelism over the ranks of an MPI communicator (``MPI.COMM_WORLD`` by default),
    with TensorFlow's strategy shape: ``scope()``, ``num_replicas_in_sync``, plus ``rank``."""

    def __init__(self, comm=None):
        MPI = _mpi()
        self._MPI = MPI
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self._fused: Optional[np.ndarray] = None  # the gradient buffer, reused every step

    @property
    def num_replicas_in_sync(self) -> int:
        return self.size

    @property
    def is_chief(self) -> bool:
        """Rank 0: the one that prints and writes files."""
        return self.rank == 0

    def __repr__(self) -> str:
        return f"<MPIStrategy rank {self.rank} of {self.size}>"

    @contextlib.contextmanager
    def scope(self):
        """Inside this block ``model.fit`` and any new ``Trainer`` train with this strategy."""
        stack = getattr(_scopes, "stack", None)
        if stack is None:
            stack = _scopes.stack = []
        stack.append(self)
        try:
            yield self
        finally:
            stack.pop()

    # -- start of training -----------------------------------------------------------------
    def check_same_variables(self, variables: Sequence) -> None:
        """Raises ValueError on every rank when the ranks' variables differ in number, shape or
        dtype, naming rank 0's and the first differing rank's. Collective: all ranks call it."""
        mine = _describe(variables)
        everyone = self.comm.allgather(mine)
        reference = everyone[0]
        for rank, theirs in enumerate(everyone):
            if theirs == reference:
                continue
            if len(theirs) != len(reference):
                raise ValueError(
                    f"the model differs between ranks: rank 0 has {len(reference)} variables, "
                    f"rank {rank} has {len(theirs)}"
                )
            for (name0, shape0, dtype0), (name, shape, dtype) in zip(reference, theirs):
                if (shape0, dtype0) != (shape, dtype):
                    raise ValueError(
                        f"the model differs between ranks: variable {name0!r} has shape "
                        f"{shape0} ({dtype0}) on rank 0 but {name!r} has shape {shape} "
                        f"({dtype}) on rank {rank}"
                    )
        # names alone may differ (layer counters): shapes and dtypes decide

    def check_same(self, what: str, value) -> None:
        """Raises ValueError on every rank when ``value`` (small, picklable) is not the same on
        every rank, naming rank 0's and the first differing rank's. Collective."""
        everyone = self.comm.allgather(value)
        for rank, theirs in enumerate(everyone):
            if theirs != everyone[0]:
                raise ValueError(
                    f"{what} differs between ranks: {everyone[0]!r} on rank 0, {theirs!r} on "
                    f"rank {rank}"
                )

    def broadcast_variables(self, variables: Sequence, root: int = 0) -> None:
        """Checks that every rank has the same variables, then gives every rank ``root``'s
        values. Collective: all ranks call it."""
        variables = list(variables)
        self.check_same_variables(variables)
        for v in variables:
            if not isinstance(v, Variable):
                raise TypeError(f"broadcast_variables: expected Variables, got {type(v).__name__}")
            value = np.array(v.numpy(), copy=True) if self.rank == root else None
            if value is None:
                value = np.empty(tuple(v.shape), dtype=v.dtype.as_numpy_dtype)
            self.comm.Bcast(value, root=root)
            if self.rank != root:
                v.assign(value)

    def broadcast_object(self, value, root: int = 0):
        """``root``'s Python value on every rank (pickled; for small things such as seeds)."""
        return self.comm.bcast(value, root=root)

    # -- every step ------------------------------------------------------------------------
    def shard(self, rows: np.ndarray) -> np.ndarray:
        """This rank's part of a global batch: the rows split into ``size`` consecutive parts
        in rank order, the first ``len(rows) % size`` parts one row longer (NumPy's
        ``array_split``), so rank 0 holds the batch's first rows."""
        n = len(rows)
        base, extra = divmod(n, self.size)
        start = self.rank * base + min(self.rank, extra)
        return rows[start : start + base + (1 if self.rank < extra else 0)]

    def allreduce(self, grads: Sequence, weight: Optional[float] = None) -> list:
        """The average over ranks of each gradient (``tape.gradient``'s list: tensors or NumPy
        arrays of one dtype; a None stays None and must be None on every rank), in one allreduce
        of one fused buffer. With ``weight`` (this rank's share of the global batch: its rows over
        the global batch size) the result is the weighted sum instead, which is the global
        batch's gradient when the shares differ. Collective: every rank calls it."""
        if weight is None:
            weight = 1.0 / self.size
        arrays = [None if g is None else np.asarray(g) for g in grads]  # views, no copies
        dtypes = {a.dtype for a in arrays if a is not None}
        if not dtypes:
            raise ValueError("allreduce: every gradient is None")
        if len(dtypes) > 1:
            raise TypeError(
                f"allreduce: gradients mix dtypes {sorted(d.name for d in dtypes)}; one fused "
                "buffer needs one dtype"
            )
        dtype = dtypes.pop()
        sizes = [0 if a is None else a.size for a in arrays]
        total = sum(sizes)
        if self._fused is None or self._fused.dtype != dtype or len(self._fused) != total:
            self._fused = np.empty(total, dtype=dtype)
        fused, offset = self._fused, 0
        for a, n in zip(arrays, sizes):
            if a is not None:
                np.multiply(a.reshape(-1), weight, out=fused[offset : offset + n])
            offset += n
        self.comm.Allreduce(self._MPI.IN_PLACE, fused, op=self._MPI.SUM)
        out, offset = [], 0
        for a, n in zip(arrays, sizes):
            part = fused[offset : offset + n]
            out.append(None if a is None else Tensor(part.reshape(a.shape)))  # one copy
            offset += n
        return out

    def sum(self, values) -> np.ndarray:
        """The elementwise sum over ranks of a float64 array (metric totals). Collective."""
        buf = np.array(values, dtype=np.float64).reshape(-1)
        self.comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM)
        return buf

    def barrier(self) -> None:
        """Waits until every rank has called it."""
        self.comm.Barrier()


def allreduce_gradients(grads: Sequence, strategy: Optional[MPIStrategy] = None) -> list:
    """The gradients averaged over the ranks of ``strategy`` (the active ``scope()``'s when
    None); see ``MPIStrategy.allreduce``."""
    strategy = strategy or get_strategy()
    if strategy is None:
        raise ValueError(
            "allreduce_gradients: no strategy given and none in scope; pass strategy= or call "
            "it inside `with strategy.scope():`"
        )
    return strategy.allreduce(grads)


__all__ = ["INSTALL_HINT", "MPIStrategy", "allreduce_gradients", "get_strategy"]
