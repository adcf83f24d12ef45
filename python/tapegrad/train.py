"""``tg.train.Trainer``: the seed's minibatch loop, run for the user.

Per step Python does only structure: the batch rows are gathered by one C++ op per array (index
tensors come from one NumPy call per epoch), the forward and backward run on the C++ tape, and
the update of every parameter is one fused C++ call. Every step's loss is checked: the first
non-finite one stops training with ``TrainingDiverged`` naming the epoch and step (Keras's
TerminateOnNaN, on by default) before that step's update is applied. Ctrl-C stops after the
current step and returns the history so far (``history.interrupted``).
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from typing import Optional

import numpy as np

from . import activations, initializers, losses
from . import callbacks as callbacks_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from ._core import GradientTape, Tensor
from .ops import gather, reduce_mean


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


def _diverged(loss_value: float, epoch: int, step: int, steps: int, history) -> TrainingDiverged:
    return TrainingDiverged(
        f"loss became {loss_value} at epoch {epoch + 1}, step {step + 1} (of {steps}); training "
        "stopped before applying that step's update (TerminateOnNaN). Try a smaller learning "
        "rate, gradient clipping (clipnorm=1.0) or Adam.",
        epoch=epoch,
        step=step,
        history=history,
    )


class _MeanOf:
    """A per-sample loss function reduced to its mean, as Keras's compile does."""

    def __init__(self, fn):
        self.fn = fn
        self.name = getattr(fn, "__name__", "loss")

    def __call__(self, y_true, y_pred):
        values = self.fn(y_true, y_pred)
        return reduce_mean(values) if getattr(values, "ndim", 0) else values


class ProgressBar:
    """Keras-style progress: a live bar with ETA on a terminal (verbose=1), one line per epoch
    otherwise (verbose=2, or verbose=1 when the output is not a terminal)."""

    width = 30

    def __init__(self, verbose: int, epochs: int, steps: int, stream=None):
        self.stream = stream or sys.stdout
        self.verbose = verbose
        self.live = verbose == 1 and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.epochs, self.steps = epochs, steps
        self._last_draw = 0.0

    def epoch_begin(self, epoch: int) -> None:
        self.start = time.perf_counter()
        if self.live:
            self.stream.write(f"Epoch {epoch + 1}/{self.epochs}\n")

    def step(self, step: int, logs: dict) -> None:
        if not self.live:
            return
        now = time.perf_counter()
        if now - self._last_draw < 0.1 and step + 1 < self.steps:
            return
        self._last_draw = now
        done = step + 1
        elapsed = now - self.start
        eta = elapsed / done * (self.steps - done)
        self.stream.write(f"\r{self._bar(done)} - ETA: {_duration(eta)}{_format_logs(logs)}\033[K")
        self.stream.flush()

    def _bar(self, done: int) -> str:
        n = len(str(self.steps))
        filled = int(self.width * done / max(self.steps, 1))
        arrow = ">" if done < self.steps else "="
        bar = "=" * max(filled - 1, 0) + (arrow if filled else "") + "." * (self.width - filled)
        return f"{done:>{n}}/{self.steps} [{bar}]"

    def epoch_end(self, epoch: int, logs: dict, steps_done: int) -> None:
        if self.verbose == 0:
            return
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / max(steps_done, 1)
        timing = f"{_duration(elapsed)} {per_step * 1e3:.2f}ms/step"
        if self.live:
            line = f"\r{self._bar(steps_done)} - {timing}{_format_logs(logs)}\033[K\n"
        else:
            line = f"Epoch {epoch + 1}/{self.epochs} - {timing}{_format_logs(logs)}\n"
        self.stream.write(line)
        self.stream.flush()


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    if seconds >= 1:
        return f"{seconds:.0f}s"
    return f"{seconds * 1e3:.0f}ms"


def _format_logs(logs: dict) -> str:
    return "".join(f" - {k}: {v:.4f}" for k, v in logs.items())


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
        self, model, loss="mse", optimizer="adam", metrics=(), fused: Optional[bool] = None
    ):
        """``fused``: the fused C++ steps were removed, so None (default) and False train through
        GradientTape and True raises ValueError at fit."""
        self.model = model
        loss_fn = losses.get(loss if loss is not None else "mse")
        if not isinstance(loss_fn, losses.Loss):  # a per-sample function: Keras reduces by mean
            loss_fn = _MeanOf(loss_fn)
        self.loss_fn = loss_fn
        self.optimizer = optimizers_module.get(optimizer)
        self.metrics = [metrics_module.get(m) for m in (metrics or [])]
        self.loss_name = "loss"
        self.fused = fused

    # -- the fused path ------------------------------------------------------------------------
    def _fused_plan(self, Y: Tensor, step_hooks: list):
        """Why the fused C++ steps cannot train the model: they were removed, so every model
        trains through GradientTape."""
        return "the fused C++ steps were removed; every model trains through GradientTape"

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
        if y.ndim == 1 and self._output_width(x) == 1:
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
    def _train_step(
        self, xb: Tensor, yb: Tensor, variables: list, skip_non_finite: bool
    ) -> tuple[float, Tensor]:
        with GradientTape() as tape:
            pred = self.model(xb, training=True)
            loss = self.loss_fn(yb, pred)
        loss_value = float(loss)
        if skip_non_finite and not math.isfinite(loss_value):
            return loss_value, pred
        grads = tape.gradient(loss, variables)
        if any(g is None for g in grads):  # the warning path names the variables
            self.optimizer.apply_gradients(zip(grads, variables))
        else:
            self.optimizer._apply_all(grads, variables)
        return loss_value, pred

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
    ):
        """Trains for ``epochs`` epochs and returns a ``History``.

        ``sampling="epoch"`` visits every sample once per epoch (shuffled when ``shuffle``);
        ``sampling="random"`` draws ``len(x) // batch_size`` batches with replacement (the seed's
        ``random_batch``). ``verbose`` 0 is silent, 1 a live bar (one line per epoch when not on
        a terminal), 2 one line per epoch.
        """
        if sampling not in ("epoch", "random"):
            raise ValueError(f"sampling must be 'epoch' or 'random', got {sampling!r}")
        if batch_size is None:
            batch_size = 32
        if not (isinstance(batch_size, (int, np.integer)) and batch_size > 0):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if verbose == "auto":
            verbose = 1
        if validation_split and validation_data is None:  # Keras: the last fraction, unshuffled
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
            x, y = _as_float_array(x, "fit x"), _as_float_array(y, "fit y")
            cut = len(x) - round(len(x) * validation_split)
            if not 0 < cut < len(x):
                raise ValueError(f"validation_split={validation_split} leaves no samples on a side")
            x, y, validation_data = x[:cut], y[:cut], (x[cut:], y[cut:])
        X, Y = self._prepare(x, y, "fit")
        n = X.shape[0]
        val = None
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("validation_data must be a (x_val, y_val) pair")
            val = self._prepare(*validation_data, "validation_data")
        batch_size = min(int(batch_size), n)
        if steps_per_epoch is not None and sampling == "epoch":
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
        rng = np.random.default_rng(
            seed if seed is not None else initializers.generator().integers(2**63)
        )

        history = callbacks_module.History()
        cbs = [*list(callbacks or []), history]
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
        for cb in cbs:
            cb.set_model(self.model)
            cb.set_params(params)
        progress = ProgressBar(verbose, epochs, steps_per_epoch)
        variables = list(self.model.trainable_variables)
        if not variables:
            raise ValueError("the model has no trainable variables")
        plan = None if self.fused is False else self._fused_plan(Y, step_hooks)
        if isinstance(plan, str):
            if self.fused:
                raise ValueError(f"fused=True cannot train this model: {plan}")
            plan = None
        self.model.stop_training = False

        for cb in cbs:
            cb.on_train_begin()
        interrupted = False
        with _InterruptFlag() as interrupt:
            try:
                for epoch in range(initial_epoch, epochs):
                    if interrupt.raised:  # Ctrl-C came during validation or a callback
                        interrupted = True
                        break
                    for cb in cbs:
                        cb.on_epoch_begin(epoch)
                    progress.epoch_begin(epoch)
                    for m in self.metrics:
                        m.reset_state()
                    if sampling == "random":
                        batches = rng.integers(0, n, size=(steps_per_epoch, batch_size))
                    else:
                        order = rng.permutation(n) if shuffle else np.arange(n)
                        batches = [
                            order[i * batch_size : (i + 1) * batch_size]
                            for i in range(steps_per_epoch)
                        ]
                    loss_sum = 0.0
                    seen = 0
                    steps_done = 0
                    for step, idx in enumerate(batches):
                        xb, yb = gather(X, idx), gather(Y, idx)
                        loss_value, pred = self._train_step(xb, yb, variables, terminate_on_nan)
                        if terminate_on_nan and not math.isfinite(loss_value):
                            progress.epoch_end(epoch, {"loss": loss_value}, step + 1)
                            raise _diverged(loss_value, epoch, step, steps_per_epoch, history)
                        rows = len(idx)
                        loss_sum += loss_value * rows
                        seen += rows
                        steps_done = step + 1
                        for m in self.metrics:
                            m.update_state(yb, pred)
                        if step_hooks or progress.live:
                            logs = {"loss": loss_sum / seen}
                            for cb in step_hooks:
                                cb.on_train_batch_end(step, logs)
                            progress.step(step, logs)
                        if interrupt.raised or self.model.stop_training:
                            break
                    logs = {"loss": loss_sum / max(seen, 1)}
                    for m in self.metrics:
                        logs[m.name] = float(m.result())
                    if interrupt.raised:
                        interrupted = True
                        if progress.verbose:
                            print(
                                f"\nInterrupted at epoch {epoch + 1}, step {steps_done}; "
                                "keeping the history of the completed epochs."
                            )
                        break
                    if val is not None:
                        val_logs = self._evaluate_tensors(*val, batch_size=max(batch_size, 4096))
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

    # -- evaluate / predict ------------------------------------------------------------
    def _evaluate_tensors(self, X: Tensor, Y: Tensor, batch_size: int) -> dict:
        n = X.shape[0]
        metrics = [type(m)(name=m.name) for m in self.metrics]
        loss_sum = 0.0
        forward = _forward_fn(self.model)
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(start + batch_size, n))
            xb, yb = gather(X, idx), gather(Y, idx)
            pred = forward(xb)
            loss_sum += float(self.loss_fn(yb, pred)) * len(idx)
            for m in metrics:
                m.update_state(yb, pred)
        logs = {"loss": loss_sum / n}
        for m in metrics:
            logs[m.name] = float(m.result())
        return logs

    def evaluate(self, x, y, batch_size: int = 4096, return_dict: bool = False, verbose=0):
        """The loss (and metrics) over all of ``x``, averaged over samples. Returns the loss alone
        without metrics, else ``[loss, *metrics]`` (or a dict with ``return_dict``)."""
        logs = self._evaluate_tensors(*self._prepare(x, y, "evaluate"), batch_size=batch_size)
        if verbose:
            print("evaluate" + _format_logs(logs))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size: int = 4096) -> np.ndarray:
        return predict(self.model, x, batch_size=batch_size)


def predict(model, x, batch_size: int = 4096) -> np.ndarray:
    """The model's outputs for ``x`` computed in batches, as one NumPy array."""
    x = _as_float_array(x, "predict x")
    if not (isinstance(batch_size, (int, np.integer)) and batch_size > 0):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    forward = _forward_fn(model)
    outs = []
    for start in range(0, len(x), batch_size):
        outs.append(np.array(forward(x[start : start + batch_size])))
    if not outs:
        raise ValueError("predict: no samples")
    return np.concatenate(outs, axis=0)


def dense_stack(model):
    """(Normalization prefix, Dense layers, activation names) of a Sequential that is exactly
    that (built, built-in activations, one dtype), else a string saying why not."""
    from .layers import Dense, Normalization
    from .models import Sequential

    if not isinstance(model, Sequential):
        return "only Sequential models"
    prefix, dense, names = [], [], []
    for layer in model.layers:
        if isinstance(layer, Normalization) and not dense:
            prefix.append(layer)
        elif type(layer) is Dense and layer.built:
            name = activations.name_of(layer.activation)
            if name is None:
                return f"layer {layer.name!r} has a custom activation"
            dense.append(layer)
            names.append(name)
        else:
            return f"layer {layer.name!r} ({type(layer).__name__}) is not a built Dense layer"
    if not dense:
        return "no Dense layers"
    if len({layer.dtype for layer in dense}) != 1:
        return "the Dense layers must share one dtype"
    return prefix, dense, names


def _forward_fn(model):
    """The model's forward for evaluation (no tape)."""
    return lambda x: model(x, training=False)


__all__ = ["ProgressBar", "Trainer", "TrainingDiverged", "dense_stack", "predict"]
