"""The Trainer (public as ``tg.train.Trainer``): the seed's minibatch loop, run for the user.

One training step is one Python function (``_step_function``: forward and loss under a
GradientTape, the finiteness check, the gradient, the optimizer's update, the metrics). By
default it is compiled with ``tg.function``: its first call traces it, and the rest of the epoch
replays the C++ program over chunks of batches in one call each (``Program.run_batches`` gathers
every batch in C++), returning to Python only where a per-batch callback, a Python-callable
learning rate or Ctrl-C needs it. ``Trainer(..., compiled=False)`` calls the same function
eagerly every step; both give bitwise the same weights. Every step's loss is checked: the first
non-finite one stops training with ``TrainingDiverged`` naming the epoch and step (Keras's
TerminateOnNaN, on by default) before that step's update is applied. Ctrl-C stops after the
current step and returns the history so far (``history.interrupted``).
"""

from __future__ import annotations

import math
import signal
import threading
from typing import Optional

import numpy as np

from . import _core, distribute, initializers, losses
from . import callbacks as callbacks_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from ._core import GradientTape, Tensor
from .compiled import function
from .ops import gather, reduce_mean
from .progbar import ProgressBar, _format_logs

# Compiled steps per C++ call: small enough that Ctrl-C and the live bar respond at once, large
# enough that the call's own cost is noise (docs/performance.md).
_STEPS_PER_CALL = 256


def _uniform_run(batches, start: int, limit: int) -> np.ndarray:
    """Up to ``limit`` batches from ``start`` that share the first one's size, as one
    (steps, batch) index matrix (a shuffled pass ends in a short batch of its own)."""
    size = len(batches[start])
    stop = start + 1
    while stop < len(batches) and stop - start < limit and len(batches[stop]) == size:
        stop += 1
    return np.asarray(np.stack(batches[start:stop]), dtype=np.int64)


def _non_finite_value(error: FloatingPointError) -> float:
    """The value a check_finite error names ("loss became nan")."""
    try:
        return float(str(error).rsplit(" ", 1)[-1])
    except ValueError:
        return float("nan")


class _StepRunner:
    """Runs the training step over a (steps, batch) index matrix: eagerly one step at a time,
    or compiled, where the first step of each batch size traces and the rest replay in C++."""

    def __init__(self, train_step, compiled: bool):
        self.step = function(train_step, name="train_step") if compiled else train_step
        self.compiled = compiled
        self.programs: dict = {}  # batch size -> the traced program

    def run(self, arrays: list, group: np.ndarray) -> tuple[np.ndarray, bool]:
        """(losses of the steps run, whether the last one was non-finite and not applied);
        ``arrays`` are the step's per-sample inputs (x, y and, when weighted, the weights)."""
        program = self.programs.get(group.shape[1]) if self.compiled else None
        if program is not None:
            return program.run_batches(arrays, group)
        batch = [gather(a, group[0]) for a in arrays]
        try:
            loss = self.step(*batch)
        except FloatingPointError as e:  # check_finite, eager or while tracing
            return np.array([_non_finite_value(e)]), True
        except TypeError as e:
            _explain_trace_error(e, self.compiled)
            raise
        if self.compiled:
            self.programs[group.shape[1]] = self.step.get_program(*batch)
        return np.array([float(loss)]), False

    def should_stop(self, interrupt) -> bool:
        return interrupt.raised


def _explain_trace_error(error: TypeError, compiled: bool) -> None:
    if compiled and "while tracing" in str(error):
        raise TypeError(
            f"{error}\nThe Trainer compiles its training step with tg.function; to run a "
            "model that reads tensor values in Python, train eagerly: "
            "Trainer(..., compiled=False) or model.compile(..., run_eagerly=True)."
        ) from error


class _ReplicaStep:
    """The training step of one rank under a strategy (python/tapegrad/distribute.py): this
    rank's share of each global batch through forward and backward, then one allreduce that sums
    the scaled gradients, the loss and the Ctrl-C flag over the ranks, then the same update on
    every rank (Note [A data-parallel update] in cpp/bindings/optim.cpp). Compiled, the allreduce
    is an effect of the replayed program, so many steps still run per C++ call."""

    def __init__(self, train_step, compiled: bool, strategy, variables: list, optimizer):
        self.step = function(train_step, name="replica_step") if compiled else train_step
        self.compiled = compiled
        self.strategy, self.variables, self.optimizer = strategy, variables, optimizer
        self.programs: dict = {}  # (local rows, global rows) -> the traced program
        self.interrupt = None  # the fit's _InterruptFlag, whose state every step shares
        self.stop_agreed = False  # some rank saw Ctrl-C by the last step: all stop together
        self.loss_sums: list = []  # the global loss sum of each step run, from reduce
        comm, MPI = strategy.comm, strategy._MPI

        def reduce(buffer: np.ndarray) -> None:
            buffer[-1] = 1.0 if self.interrupt is not None and self.interrupt.raised else 0.0
            comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
            self.loss_sums.append(float(buffer[-2]))
            self.stop_agreed = self.stop_agreed or bool(buffer[-1] > 0)

        self.reduce = reduce

    def run(self, arrays: list, group: np.ndarray) -> tuple[np.ndarray, bool]:
        """(global mean losses of the steps run, whether the last was non-finite and not
        applied), as _StepRunner.run; ``group`` holds global batches, this rank runs its share."""
        rows = group.shape[1]
        local = group[:, self.strategy.shard(np.arange(rows))]
        self.loss_sums = []
        stopped = False
        program = self.programs.get((local.shape[1], rows)) if self.compiled else None
        if program is not None:
            _, stopped = program.run_batches(arrays, np.ascontiguousarray(local))
        elif local.shape[1] == 0:  # more ranks than rows: this rank only joins the allreduce
            zeros = [np.zeros(tuple(v.shape), v.dtype.as_numpy_dtype) for v in self.variables]
            try:
                self.optimizer._impl.apply_allreduced(
                    zeros, self.variables, 0.0, 0, rows, self.reduce
                )
            except FloatingPointError:
                stopped = True
        else:
            batch = [gather(a, local[0]) for a in arrays]
            try:
                self.step(*batch, global_rows=rows)
            except FloatingPointError:
                stopped = True
            except TypeError as e:
                _explain_trace_error(e, self.compiled)
                raise
            if self.compiled and not stopped:
                key = (local.shape[1], rows)
                self.programs[key] = self.step.get_program(*batch, global_rows=rows)
        return np.asarray(self.loss_sums, dtype=np.float64) / rows, stopped

    def should_stop(self, interrupt) -> bool:
        return self.stop_agreed


def _interrupted(interrupt, strategy) -> bool:
    """Whether Ctrl-C came; under a strategy, whether it came on any rank (collective: every
    rank then stops at the same point)."""
    if strategy is not None:
        anywhere = strategy.sum([1.0 if interrupt.raised else 0.0])[0] > 0
        interrupt.raised = interrupt.raised or bool(anywhere)
    return interrupt.raised


def _sum_over_ranks(metrics: list, strategy, extras=()) -> np.ndarray:
    """Adds each metric's state (total, count) over the ranks in place, and the numbers in
    ``extras`` alongside (one allreduce); returns the extras' sums."""
    values = [*extras]
    for m in metrics:
        values += [float(m.total.numpy()), float(m.count.numpy())]
    sums = strategy.sum(values)
    for i, m in enumerate(metrics):
        m.total.assign(sums[len(extras) + 2 * i])
        m.count.assign(sums[len(extras) + 2 * i + 1])
    return sums[: len(extras)]


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; ``history`` holds the epochs completed before."""

    def __init__(self, message: str, epoch: int, step: int, history=None):
        super().__init__(message)
        self.epoch, self.step, self.history = epoch, step, history


def _as_float_array(x, name: str) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.numpy()
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got an array of dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{name} must have a batch dimension, got a scalar")
    return arr


# Keras's compile turns "accuracy" into the accuracy that fits the loss.
_ACCURACY_FOR_LOSS = {
    "SparseCategoricalCrossentropy": "SparseCategoricalAccuracy",
    "CategoricalCrossentropy": "CategoricalAccuracy",
    "BinaryCrossentropy": "BinaryAccuracy",
}


def _resolve_metric(identifier, loss_fn):
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        cls_name = _ACCURACY_FOR_LOSS.get(type(loss_fn).__name__, "Accuracy")
        return getattr(metrics_module, cls_name)(name=identifier)
    return metrics_module.get(identifier)


def _sample_weights(y, n: int, sample_weight, class_weight, dtype) -> Optional[Tensor]:
    """One weight per sample, the product of ``sample_weight`` and ``class_weight`` (Keras's
    fit arguments), or None when neither is given."""
    if sample_weight is None and class_weight is None:
        return None
    weights = np.ones(n, dtype=np.float64)
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64)
        if sw.ndim == 2 and sw.shape[1] == 1:
            sw = sw[:, 0]
        if sw.shape != (n,):
            raise ValueError(
                f"sample_weight has shape {sw.shape}; expected one weight per sample, ({n},)"
            )
        weights *= sw
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise TypeError(
                "class_weight must be a dict from class index to weight, got "
                f"{type(class_weight).__name__}"
            )
        labels = np.asarray(y.numpy() if isinstance(y, Tensor) else y)
        if labels.ndim == 2 and labels.shape[1] > 1:
            labels = labels.argmax(axis=1)  # one-hot targets
        labels = labels.reshape(n)
        if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
            raise ValueError("class_weight needs integer class labels (or one-hot targets)")
        labels = labels.astype(np.int64)
        missing = sorted(set(np.unique(labels).tolist()) - set(int(k) for k in class_weight))
        if missing:
            raise ValueError(f"class_weight has no weight for classes {missing}")
        table = np.zeros(max(int(k) for k in class_weight) + 1)
        for k, w in class_weight.items():
            table[int(k)] = float(w)
        weights *= table[labels]
    return Tensor(weights.astype(dtype))


def _diverged(loss_value: float, epoch: int, step: int, steps: int, history) -> TrainingDiverged:
    return TrainingDiverged(
        f"loss became {loss_value} at epoch {epoch + 1}, step {step + 1} (of {steps}); training "
        "stopped before applying that step's update (TerminateOnNaN). Try a smaller learning "
        "rate, gradient clipping (clipnorm=1.0) or Adam.",
        epoch=epoch,
        step=step,
        history=history,
    )


def _epoch_batches(rng, n: int, batch_size: int, steps: int, sampling: str, shuffle: bool):
    """The row indices of one epoch's batches: ``steps`` draws with replacement (``"random"``),
    else consecutive slices of one pass over the ``n`` samples (shuffled when ``shuffle``)."""
    if sampling == "random":  # drawn in C++ from a seed the epoch's generator picks
        return _core.random_batch_indices(n, steps, batch_size, int(rng.integers(2**63)))
    order = rng.permutation(n) if shuffle else np.arange(n)
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(steps)]


# ---- Datasets and other iterables of batches ---------------------------------------------------


def _is_batch_source(x) -> bool:
    """A tg.data.Dataset or another iterable of (x, y[, sample_weight]) batches (not an array,
    tensor or nested list of numbers)."""
    from .dataset import Dataset

    if isinstance(x, Dataset):
        return True
    if isinstance(x, (np.ndarray, Tensor, _core.Variable, list, tuple, str, bytes, dict)):
        return False
    return hasattr(x, "__iter__")


def _element_parts(element, what: str) -> tuple:
    if isinstance(element, dict) or not isinstance(element, (tuple, list)):
        raise ValueError(
            f"{what}: a dataset for fit/evaluate must yield (x, y) or (x, y, sample_weight) "
            f"tuples, got {type(element).__name__}"
        )
    if len(element) not in (2, 3):
        raise ValueError(
            f"{what}: expected (x, y) or (x, y, sample_weight), got {len(element)} parts"
        )
    return tuple(np.asarray(part) for part in element)


def _dataset_steps(epoch_source, steps_per_epoch: Optional[int]) -> int:
    """Steps per epoch over a dataset: its batches in one pass, or fewer when asked."""
    n_batches = len(epoch_source[1](0))
    if steps_per_epoch is None:
        return n_batches
    if not 0 < steps_per_epoch <= n_batches:
        raise ValueError(
            f"steps_per_epoch={steps_per_epoch}: the dataset has {n_batches} batches per pass"
        )
    return int(steps_per_epoch)


def _chunks(order: np.ndarray, size: int, drop_remainder: bool) -> list:
    out = [order[i : i + size] for i in range(0, len(order), size)]
    if drop_remainder and out and len(out[-1]) < size:
        out.pop()
    return out


def _one_pass(source, what: str):
    """(x, y, sample_weight or None, batches) of one pass over ``source``: its batches joined
    into whole arrays, and each batch's rows as an index array (the batch boundaries kept)."""
    plan = getattr(source, "_as_array_plan", lambda: None)()
    if plan is not None and isinstance(plan.arrays, tuple) and len(plan.arrays) in (2, 3):
        parts = tuple(np.asarray(a) for a in plan.arrays)

        def batches(epoch: int) -> list:
            return _chunks(plan.order(epoch), plan.batch_size, plan.drop_remainder)

        return parts, batches, True
    elements = [_element_parts(e, what) for e in source]
    if not elements:
        raise ValueError(f"{what}: the dataset yielded no batches")
    widths = {len(e) for e in elements}
    if len(widths) != 1:
        raise ValueError(f"{what}: batches mix (x, y) and (x, y, sample_weight) elements")
    parts = tuple(np.concatenate([e[k] for e in elements]) for k in range(widths.pop()))
    sizes = np.cumsum([0] + [len(e[0]) for e in elements])
    fixed = [np.arange(sizes[i], sizes[i + 1]) for i in range(len(elements))]
    return parts, (lambda epoch: fixed), False


class _MeanOf:
    """A per-sample loss function reduced to its mean, as Keras's compile does."""

    def __init__(self, fn):
        self.fn = fn
        self.name = getattr(fn, "__name__", "loss")

    def __call__(self, y_true, y_pred):
        values = self.fn(y_true, y_pred)
        return reduce_mean(values) if getattr(values, "ndim", 0) else values


class _InterruptFlag:
    """Turns the first Ctrl-C during fit into a flag checked after each step (a second Ctrl-C
    interrupts at once). Only the main thread can own signal handlers; elsewhere KeyboardInterrupt
    is caught instead."""

    def __init__(self):
        self.raised = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.raised = True
        signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class Trainer:
    """Fits ``model`` (any callable with ``trainable_variables``) with ``loss`` and
    ``optimizer``; ``metrics`` are reported per epoch (train and ``val_`` forms)."""

    def __init__(
        self, model, loss="mse", optimizer="adam", metrics=(), compiled: bool = True, strategy=None
    ):
        """``compiled``: train by a ``tg.function`` step replayed in C++ (default), or call the
        same step eagerly through GradientTape every step (False). ``strategy``: a
        ``tg.distribute.MPIStrategy`` to train data-parallel (by default the one whose
        ``scope()`` is active when ``fit`` or ``evaluate`` runs, if any)."""
        self.model = model
        self.strategy = strategy
        self.compiled = bool(compiled)
        loss_fn = losses.get(loss if loss is not None else "mse")
        if not isinstance(loss_fn, losses.Loss):  # a per-sample function: Keras reduces by mean
            loss_fn = _MeanOf(loss_fn)
        self.loss_fn = loss_fn
        self.optimizer = optimizers_module.get(optimizer)
        self.metrics = [_resolve_metric(m, loss_fn) for m in (metrics or [])]
        self.loss_name = "loss"

    # -- data preparation ------------------------------------------------------------------
    def _dtype(self):
        variables = getattr(self.model, "trainable_variables", [])
        return variables[0].dtype.as_numpy_dtype if variables else np.float32

    def _prepare(self, x, y, what: str) -> tuple[Tensor, Tensor]:
        x = _as_float_array(x, f"{what} x")
        y = _as_float_array(y, f"{what} y")
        if len(x) != len(y):
            raise ValueError(f"{what}: x has {len(x)} samples but y has {len(y)}")
        if len(x) == 0:
            raise ValueError(f"{what}: no samples")
        dtype = self._dtype()
        width = self._output_width(x)
        if y.dtype.kind in "iu" and width not in (None, 1) and y.ndim <= 2:
            # Integer class labels for an (N, C) model: kept integers (int64), as the sparse
            # losses and accuracies want them.
            return Tensor(np.ascontiguousarray(x, dtype=dtype)), Tensor(y.astype(np.int64))
        if y.ndim == 1 and width == 1:
            y = y[:, None]  # targets (N,) for an (N, 1) model: align once, not every step
        return (
            Tensor(np.ascontiguousarray(x, dtype=dtype)),
            Tensor(np.ascontiguousarray(y, dtype=dtype)),
        )

    def _output_width(self, x: np.ndarray) -> Optional[int]:
        shape = getattr(self.model, "output_shape", None)
        if shape is None:
            shape = tuple(self.model(x[:1]).shape)
        return shape[-1] if len(shape) > 1 else None

    # -- one step --------------------------------------------------------------------------
    def _step_function(self, variables: list, terminate_on_nan: bool, strategy=None):
        """The training step as one function of a batch: what is compiled, or run eagerly.
        Under a strategy the step averages the gradients over the ranks before the update and
        always refuses a non-finite loss (all ranks must agree to skip an update)."""
        model, loss_fn, optimizer, metrics = self.model, self.loss_fn, self.optimizer, self.metrics
        if strategy is not None:

            def replica_step(xb, yb, wb=None, *, global_rows: int):
                with GradientTape() as tape:
                    pred = model(xb, training=True)
                    loss = loss_fn(yb, pred) if wb is None else loss_fn(yb, pred, sample_weight=wb)
                grads = tape.gradient(loss, variables)
                missing = [v.name for g, v in zip(grads, variables) if g is None]
                if missing:  # sent as zeros; left out of the update where no rank has one
                    optimizers_module.warn_missing_gradients(missing)
                optimizer._impl.apply_allreduced(
                    grads, variables, loss, xb.shape[0], global_rows, runner.reduce
                )
                for m in metrics:
                    m.update_state(yb, pred)
                return loss

            runner = _ReplicaStep(replica_step, self.compiled, strategy, variables, optimizer)
            return runner

        def train_step(xb, yb, wb=None):
            with GradientTape() as tape:
                pred = model(xb, training=True)
                loss = loss_fn(yb, pred) if wb is None else loss_fn(yb, pred, sample_weight=wb)
            if terminate_on_nan:  # stops before the update: a diverged step changes nothing
                _core.check_finite(loss, "loss")
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables))
            for m in metrics:
                m.update_state(yb, pred)
            return loss

        return _StepRunner(train_step, self.compiled)

    # -- one epoch -------------------------------------------------------------------------
    def _run_epoch(
        self,
        arrays: list,
        batches,
        epoch: int,
        *,
        step_fn,
        step_hooks: list,
        progress: ProgressBar,
        interrupt: _InterruptFlag,
        history: callbacks_module.History,
    ) -> tuple[float, int, int]:
        """Steps over ``batches`` (row-index arrays), stopping after the step during which
        Ctrl-C came or ``stop_training`` was set. Returns (loss_sum, seen, steps_done): the loss
        summed over samples, the samples seen and the steps run. A non-finite loss raises
        ``TrainingDiverged`` before that step's update."""
        loss_sum, seen, step = 0.0, 0, 0
        # Python between steps: eager steps, per-batch callbacks, a learning rate only Python
        # can compute.
        per_step = not self.compiled or bool(step_hooks) or self.optimizer._needs_python_per_step
        chunk = 1 if per_step else _STEPS_PER_CALL
        while step < len(batches):
            group = _uniform_run(batches, step, chunk)
            self.optimizer._prepare_step()
            losses_run, stopped = step_fn.run(arrays, group)
            rows = group.shape[1]
            if stopped:
                bad = step + len(losses_run) - 1
                progress.epoch_end(epoch, {"loss": float(losses_run[-1])}, bad + 1)
                raise _diverged(float(losses_run[-1]), epoch, bad, len(batches), history)
            loss_sum += float(np.sum(losses_run)) * rows
            seen += rows * len(losses_run)
            step += len(losses_run)
            if step_hooks or progress.live:
                logs = {"loss": loss_sum / seen}
                for cb in step_hooks:
                    cb.on_train_batch_end(step - 1, logs)
                progress.step(step - 1, logs)
            if step_fn.should_stop(interrupt) or self.model.stop_training:
                break
        return loss_sum, seen, step

    # -- fit -------------------------------------------------------------------------------
    def fit(
        self,
        x,
        y,
        epochs: int = 1,
        batch_size: int = 32,
        validation_data=None,
        shuffle: bool = True,
        sampling: str = "epoch",
        callbacks=(),
        verbose="auto",
        seed: Optional[int] = None,
        initial_epoch: int = 0,
        terminate_on_nan: bool = True,
        steps_per_epoch: Optional[int] = None,
        validation_split: float = 0.0,
        sample_weight=None,
        class_weight: Optional[dict] = None,
    ):
        """Trains for ``epochs`` epochs and returns a ``History``.

        ``sampling="epoch"`` visits every sample once per epoch (shuffled when ``shuffle``);
        ``sampling="random"`` draws ``len(x) // batch_size`` batches with replacement (the seed's
        ``random_batch``). ``verbose`` 0 is silent, 1 a live bar (one line per epoch when not on
        a terminal or in a notebook), 2 one line per epoch; a ``tg.train.ProgressBar`` (or a
        subclass drawing otherwise) among ``callbacks`` replaces that display. ``sample_weight``
        (one weight per sample) and ``class_weight`` (a dict from class index to weight, looked up
        by each sample's integer label, or by the argmax of a one-hot target) weight each sample's
        loss, as in Keras; the metrics stay unweighted.
        """
        if sampling not in ("epoch", "random"):
            raise ValueError(f"sampling must be 'epoch' or 'random', got {sampling!r}")
        if batch_size is None:
            batch_size = 32
        if not (isinstance(batch_size, (int, np.integer)) and batch_size > 0):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if verbose == "auto":
            verbose = 1
        strategy = self.strategy or distribute.get_strategy()
        if strategy is not None and not strategy.is_chief:
            verbose = 0  # one progress bar: rank 0's
        epoch_source = None  # a Dataset or iterable of batches: epoch -> its (arrays, batches)
        if _is_batch_source(x):
            if y is not None:
                raise ValueError("fit: y must be None when x is a dataset (it yields (x, y) pairs)")
            if validation_split:
                raise ValueError("fit: validation_split is not supported for datasets")
            parts, dataset_batches, planned = _one_pass(x, "fit")
            epoch_source = (x, dataset_batches, planned)
            x, y = parts[0], parts[1]
            if len(parts) == 3:
                sample_weight = parts[2]
        if validation_split and validation_data is None:  # Keras: the last fraction, unshuffled
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
            x, y = _as_float_array(x, "fit x"), _as_float_array(y, "fit y")
            cut = len(x) - round(len(x) * validation_split)
            if not 0 < cut < len(x):
                raise ValueError(f"validation_split={validation_split} leaves no samples on a side")
            x, y, validation_data = x[:cut], y[:cut], (x[cut:], y[cut:])
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight)[:cut]
        X, Y = self._prepare(x, y, "fit")
        n = X.shape[0]
        arrays = [X, Y]
        weights = _sample_weights(y, n, sample_weight, class_weight, self._dtype())
        if weights is not None:
            arrays.append(weights)
        val = None
        if validation_data is not None and _is_batch_source(validation_data):
            parts, _, _ = _one_pass(validation_data, "validation_data")
            validation_data = parts[:2]
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("validation_data must be a (x_val, y_val) pair")
            val = self._prepare(*validation_data, "validation_data")
        batch_size = min(int(batch_size), n)
        if epoch_source is not None:
            batch_size = max(len(b) for b in epoch_source[1](0))
            steps_per_epoch = _dataset_steps(epoch_source, steps_per_epoch)
        elif steps_per_epoch is not None and sampling == "epoch":
            if not 0 < steps_per_epoch <= math.ceil(n / batch_size):
                raise ValueError(
                    f"steps_per_epoch={steps_per_epoch}: a pass over {n} samples in batches of "
                    f"{batch_size} has at most {math.ceil(n / batch_size)} steps "
                    "(sampling='random' draws any number)"
                )
        if steps_per_epoch is None:
            if sampling == "random":
                steps_per_epoch = max(n // batch_size, 1)
            else:
                steps_per_epoch = math.ceil(n / batch_size)
        seed = seed if seed is not None else int(initializers.generator().integers(2**63))
        if strategy is not None:
            strategy.check_same(
                "fit's (samples, batch_size, epochs, steps per epoch)",
                (n, batch_size, epochs, steps_per_epoch),
            )
            seed = strategy.broadcast_object(seed)
        rng = np.random.default_rng(seed)

        history = callbacks_module.History()
        cbs = [*list(callbacks or []), history]
        if strategy is not None and not strategy.is_chief:  # files are written by rank 0 only
            cbs = [cb for cb in cbs if not getattr(cb, "chief_only", False)]
        params = {
            "epochs": epochs,
            "steps": steps_per_epoch,
            "batch_size": batch_size,
            "samples": n,
            "sampling": sampling,
        }
        step_hooks = [
            cb
            for cb in cbs
            if getattr(cb.on_train_batch_end, "__func__", None)
            is not callbacks_module.Callback.on_train_batch_end
        ]
        # Keras's ProgbarLogger rule: a progress bar among the callbacks replaces the default one.
        bars = [cb for cb in cbs if isinstance(cb, ProgressBar)]
        if len(bars) > 1:
            raise ValueError(f"fit: callbacks hold {len(bars)} progress bars; give at most one")
        progress = bars[0] if bars else ProgressBar(verbose, epochs, steps_per_epoch)
        for cb in cbs:
            cb.set_model(self.model)
            cb.set_params(params)
        variables = list(self.model.trainable_variables)
        if not variables:
            raise ValueError("the model has no trainable variables")
        if strategy is not None:
            strategy.broadcast_variables(getattr(self.model, "variables", variables))
        step_fn = self._step_function(variables, terminate_on_nan, strategy)
        self.model.stop_training = False
        if epoch_source is None:  # the batches of the epochs before initial_epoch: a resumed
            for _ in range(initial_epoch):  # run draws the same batches as an unbroken one
                _epoch_batches(rng, n, batch_size, steps_per_epoch, sampling, shuffle)

        for cb in cbs:
            cb.on_train_begin()
        interrupted = False
        with _InterruptFlag() as interrupt:
            step_fn.interrupt = interrupt
            try:
                for epoch in range(initial_epoch, epochs):
                    if _interrupted(interrupt, strategy):  # during validation or a callback
                        interrupted = True
                        break
                    for cb in cbs:
                        cb.on_epoch_begin(epoch)
                    progress.epoch_begin(epoch)
                    for m in self.metrics:
                        m.reset_state()
                    if epoch_source is not None:
                        arrays, batches = self._dataset_epoch(
                            epoch_source, epoch, arrays, class_weight
                        )
                        batches = batches[:steps_per_epoch]
                    else:
                        batches = _epoch_batches(
                            rng, n, batch_size, steps_per_epoch, sampling, shuffle
                        )
                    if strategy is not None:  # rank 0's batches are every rank's
                        batches = strategy.broadcast_object(batches)
                    loss_sum, seen, steps_done = self._run_epoch(
                        arrays,
                        batches,
                        epoch,
                        step_fn=step_fn,
                        step_hooks=step_hooks,
                        progress=progress,
                        interrupt=interrupt,
                        history=history,
                    )
                    logs = {"loss": loss_sum / max(seen, 1)}
                    if strategy is not None:
                        _sum_over_ranks(self.metrics, strategy)
                    for m in self.metrics:
                        logs[m.name] = float(m.result())
                    if _interrupted(interrupt, strategy):
                        interrupted = True
                        if progress.verbose:
                            print(
                                f"\nInterrupted at epoch {epoch + 1}, step {steps_done}; "
                                "keeping the history of the completed epochs."
                            )
                        break
                    if val is not None:
                        val_logs = self._evaluate_tensors(
                            *val, batch_size=max(batch_size, 4096), strategy=strategy
                        )
                        logs.update({f"val_{k}": v for k, v in val_logs.items()})
                    progress.epoch_end(epoch, logs, steps_done)
                    for cb in cbs:
                        cb.on_epoch_end(epoch, logs)
                    if getattr(self.model, "stop_training", False):
                        history.stopped_epoch = epoch
                        break
            except KeyboardInterrupt:  # outside the main thread, or a second Ctrl-C
                interrupted = True
        history.interrupted = interrupted
        for cb in cbs:
            cb.on_train_end()
        self.history = history
        return history

    def _dataset_epoch(self, epoch_source, epoch: int, arrays: list, class_weight) -> tuple:
        """(arrays, batches) of one epoch of a dataset: a planned pipeline keeps its arrays and
        takes the epoch's row order; any other iterable is read again (it may differ per pass)."""
        source, batches_of, planned = epoch_source
        if planned or epoch == 0:
            return arrays, batches_of(epoch)
        parts, batches_of, _ = _one_pass(source, "fit")
        X, Y = self._prepare(parts[0], parts[1], "fit")
        new_arrays = [X, Y]
        sample_weight = parts[2] if len(parts) == 3 else None
        weights = _sample_weights(
            parts[1], len(parts[0]), sample_weight, class_weight, self._dtype()
        )
        if weights is not None:
            new_arrays.append(weights)
        return new_arrays, batches_of(epoch)

    # -- evaluate / predict ------------------------------------------------------------
    def _evaluate_tensors(self, X: Tensor, Y: Tensor, batch_size: int, strategy=None) -> dict:
        """Under a strategy each rank evaluates its share of the rows and the sums are added
        over the ranks: every rank returns the same logs."""
        n = X.shape[0]
        rows = np.arange(n) if strategy is None else strategy.shard(np.arange(n))
        metrics = [type(m)(name=m.name) for m in self.metrics]
        loss_sum = 0.0
        for start in range(0, len(rows), batch_size):
            idx = rows[start : start + batch_size]
            xb, yb = gather(X, idx), gather(Y, idx)
            pred = self.model(xb, training=False)
            loss_sum += float(self.loss_fn(yb, pred)) * len(idx)
            for m in metrics:
                m.update_state(yb, pred)
        if strategy is not None:
            loss_sum = float(_sum_over_ranks(metrics, strategy, [loss_sum])[0])
        logs = {"loss": loss_sum / n}
        for m in metrics:
            logs[m.name] = float(m.result())
        return logs

    def evaluate(self, x, y, batch_size: int = 4096, return_dict: bool = False, verbose=0):
        """The loss (and metrics) over all of ``x``, averaged over samples. Returns the loss alone
        without metrics, else ``[loss, *metrics]`` (or a dict with ``return_dict``)."""
        if _is_batch_source(x):
            if y is not None:
                raise ValueError("evaluate: y must be None when x is a dataset")
            parts, _, _ = _one_pass(x, "evaluate")
            x, y = parts[0], parts[1]
        strategy = self.strategy or distribute.get_strategy()
        logs = self._evaluate_tensors(
            *self._prepare(x, y, "evaluate"), batch_size=batch_size, strategy=strategy
        )
        if verbose and (strategy is None or strategy.is_chief):
            print("evaluate" + _format_logs(logs))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size: int = 4096) -> np.ndarray:
        return predict(self.model, x, batch_size=batch_size)


def predict(model, x, batch_size: int = 4096) -> np.ndarray:
    """The model's outputs for ``x`` computed in batches, as one NumPy array."""
    if _is_batch_source(x):  # a dataset of inputs, or of (x, y[, w]) tuples: their x
        batches = [e[0] if isinstance(e, (tuple, list)) else e for e in x]
        if not batches:
            raise ValueError("predict: the dataset yielded no batches")
        x = np.concatenate([np.asarray(b) for b in batches])
    x = _as_float_array(x, "predict x")
    if not (isinstance(batch_size, (int, np.integer)) and batch_size > 0):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    outs = []
    for start in range(0, len(x), batch_size):
        outs.append(np.array(model(x[start : start + batch_size], training=False)))
    if not outs:
        raise ValueError("predict: no samples")
    return np.concatenate(outs, axis=0)


__all__ = ["Trainer", "TrainingDiverged", "predict"]
