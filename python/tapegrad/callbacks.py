"""Training callbacks (Keras's protocol): History, EarlyStopping, ModelCheckpoint, CSVLogger,
JSONLogger, TerminateOnNaN.

Hooks: ``on_train_begin/end(logs)``, ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``
and ``on_train_batch_end(step, logs)``; the Trainer calls the per-step hook only for callbacks that
override it, so an idle callback costs nothing per step. Set ``model.stop_training = True`` to
stop after the current epoch.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from pathlib import Path
from typing import Optional

import numpy as np

OPTIMIZER_FILE = "optimizer.npz"  # in a checkpoint folder: Optimizer.save_state's file
CHECKPOINT_FILE = "checkpoint.json"  # in a checkpoint folder: {"epochs_done": n, "callbacks": []}


class Callback:
    """Base class of the callbacks ``fit`` calls (Keras's): override the hooks you need."""

    # Under a distribution strategy (python/tapegrad/distribute.py) a chief_only callback runs on
    # rank 0 alone: the ones that write files. The others run on every rank with the same logs.
    chief_only = False

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        """Called by ``fit`` with the model being trained (``self.model``)."""
        self.model = model

    def set_params(self, params: dict) -> None:
        """Called by ``fit`` with the run's settings (epochs, steps, verbose) as ``self.params``."""
        self.params = params

    def on_train_begin(self, logs=None):
        """Called once before the first epoch."""

    def on_train_end(self, logs=None):
        """Called once after the last epoch (also after Ctrl-C or an early stop)."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of each epoch (0-based)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called after each epoch with its logs (loss, metrics, val_* values)."""

    def on_train_batch_end(self, step, logs=None):
        """Called after each training step with the running logs."""


class History(Callback):
    """Per-epoch logs: ``history.history["loss"]``, ``history.epoch``; ``interrupted`` is True
    when Ctrl-C stopped the run, ``stopped_epoch`` is the epoch training ended in."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []
        self.interrupted = False
        self.stopped_epoch: Optional[int] = None

    def on_train_begin(self, logs=None):
        self.history, self.epoch = {}, []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))

    def to_dict(self) -> dict:
        """The run as plain data: epochs, per-epoch logs, fit's params and whether Ctrl-C ended
        it."""
        return {
            "epoch": list(self.epoch),
            "history": {k: list(v) for k, v in self.history.items()},
            "params": dict(self.params),
            "interrupted": self.interrupted,
        }

    def save(self, path) -> None:
        """Writes the history as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    def __repr__(self) -> str:
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v}
        return f"<History epochs={len(self.epoch)} last={last}>"


class TerminateOnNaN(Callback):
    """Keras's soft form: stops training after a step whose loss is NaN or infinite, without an
    error. The Trainer's default (``fit(terminate_on_nan=True)``) is stricter: it raises
    ``TrainingDiverged`` before applying that step's update."""

    def on_train_batch_end(self, step, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {step}: invalid loss {loss}, terminating training")
            self.model.stop_training = True


class EarlyStopping(Callback):
    """Stops when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs; with
    ``restore_best_weights`` the model gets the best epoch's weights back at the end."""

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        restore_best_weights: bool = False,
        baseline: Optional[float] = None,
        start_from_epoch: int = 0,
    ):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.maximize = mode == "max" or (mode == "auto" and _higher_is_better(monitor))
        self.restore_best_weights = restore_best_weights
        self.baseline = baseline
        self.start_from_epoch = start_from_epoch
        self._restored: Optional[tuple] = None  # set_state's values, for on_train_begin

    def _improved(self, value: float, reference: float) -> bool:
        if self.maximize:
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = (
            self.baseline
            if self.baseline is not None
            else (-math.inf if self.maximize else math.inf)
        )
        self.best_weights = None
        self.best_epoch = 0
        if self._restored is not None:  # a resumed run goes on counting where it stopped
            counters, weights = self._restored
            self._restored = None
            self.wait, self.best = int(counters["wait"]), float(counters["best"])
            self.best_epoch = int(counters["best_epoch"])
            self.best_weights = [np.array(w) for w in weights] if weights else None

    def get_state(self) -> tuple[dict, list]:
        """(counters, best weights or []): what a checkpoint keeps (``ModelCheckpoint``'s
        ``state_of``) so that a resumed run stops, and restores, where an unbroken one would."""
        counters = {"wait": self.wait, "best": self.best, "best_epoch": self.best_epoch}
        return counters, list(self.best_weights or [])

    def set_state(self, counters: dict, best_weights: list) -> None:
        """Takes ``get_state()``'s values back; the next ``on_train_begin`` applies them."""
        self._restored = (dict(counters), list(best_weights))

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(
                f"EarlyStopping: monitor {self.monitor!r} is not in the epoch logs "
                f"{sorted(logs or {})}; pass validation_data to monitor val_* values"
            )
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._improved(float(value), self.best):
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def _higher_is_better(monitor: str) -> bool:
    return any(k in monitor for k in ("acc", "auc", "precision", "recall"))


class ModelCheckpoint(Callback):
    """Saves the model after each epoch (or only when ``monitor`` improves with
    ``save_best_only``). ``filepath`` may hold ``{epoch}`` and log keys, e.g.
    ``"ckpt/{epoch:02d}-{val_loss:.3f}"``; a path ending in ``.npz`` (or ``save_weights_only``)
    writes weights only, anything else a model folder (``model.save``).

    A model folder also gets the optimizer's state (``optimizer`` given, or the compiled model's;
    ``OPTIMIZER_FILE``) and the epochs completed (``CHECKPOINT_FILE``): ``resume_from`` reads
    them back so that ``fit(initial_epoch=...)`` continues exactly where the run stopped, and
    the state of the callbacks in ``state_of`` (those with ``get_state``/``set_state``, such as
    EarlyStopping; list them before the checkpoint in ``callbacks`` so that their update for the
    epoch is in it), which ``restore_callback_states`` gives back. The folder is written beside
    the old one and then swapped in, so a run killed while saving leaves the previous checkpoint
    whole."""

    chief_only = True

    def __init__(
        self,
        filepath,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        optimizer=None,
        state_of=(),
    ):
        super().__init__()
        self.optimizer = optimizer
        self.state_of = list(state_of)
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only or self.filepath.endswith(".npz")
        self.maximize = mode == "max" or (mode == "auto" and _higher_is_better(monitor))
        self.best = -math.inf if self.maximize else math.inf
        self.saved: list[str] = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                raise ValueError(
                    f"ModelCheckpoint: monitor {self.monitor!r} is not in the logs {sorted(logs)}"
                )
            better = value > self.best if self.maximize else value < self.best
            if not better:
                return
            self.best = float(value)
        path = self.filepath.format(epoch=epoch + 1, **logs)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self._save_folder(Path(path), epoch + 1)
        self.saved.append(path)

    def _save_folder(self, path: Path, epochs_done: int) -> None:
        fresh = path.with_name(path.name + ".tmp")
        shutil.rmtree(fresh, ignore_errors=True)
        self.model.save(fresh)
        optimizer = self.optimizer or getattr(self.model, "optimizer", None)
        if optimizer is not None:
            optimizer.save_state(self.model.trainable_variables, fresh / OPTIMIZER_FILE)
        states = []
        for i, callback in enumerate(self.state_of):
            counters, weights = callback.get_state()
            np.savez(fresh / f"callback_{i}.npz", *weights)
            states.append({"class": type(callback).__name__, "state": counters})
        (fresh / CHECKPOINT_FILE).write_text(
            json.dumps({"epochs_done": epochs_done, "callbacks": states})
        )
        old = path.with_name(path.name + ".old")
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(fresh, path)
        shutil.rmtree(old, ignore_errors=True)


def _checkpoint_folder(directory) -> Path:
    """The folder ModelCheckpoint wrote at ``directory``, or under its ``.old`` name when a kill
    interrupted its swap."""
    path = Path(directory)
    if not path.exists() and path.with_name(path.name + ".old").exists():
        path = path.with_name(path.name + ".old")
    if not (path / CHECKPOINT_FILE).exists():
        raise FileNotFoundError(
            f"no {CHECKPOINT_FILE} in {os.fspath(path)!r}: not a checkpoint written by "
            "ModelCheckpoint"
        )
    return path


def resume_from(directory, optimizer=None):
    """(model, epochs_done) from a folder ModelCheckpoint wrote; with ``optimizer`` its state
    is restored from the folder too (ValueError when the folder has none). A folder whose swap
    a kill interrupted is found under its ``.old`` name."""
    from .models import load_model

    path = _checkpoint_folder(directory)
    epochs_done = int(json.loads((path / CHECKPOINT_FILE).read_text())["epochs_done"])
    model = load_model(path)
    if optimizer is not None:
        if not (path / OPTIMIZER_FILE).exists():
            raise ValueError(f"{os.fspath(path)!r} holds no optimizer state ({OPTIMIZER_FILE})")
        optimizer.load_state(model.trainable_variables, path / OPTIMIZER_FILE)
    return model, epochs_done


def restore_callback_states(directory, callbacks) -> int:
    """Gives each of ``callbacks`` the state a ModelCheckpoint's ``state_of`` saved in the
    folder for a callback of its class (the i-th of that class for the i-th given); those with
    none saved start afresh. Returns how many were restored."""
    path = _checkpoint_folder(directory)
    saved = json.loads((path / CHECKPOINT_FILE).read_text()).get("callbacks", [])
    used: set = set()
    restored = 0
    for callback in callbacks:
        name = type(callback).__name__
        index = next(
            (i for i, e in enumerate(saved) if e.get("class") == name and i not in used), None
        )
        if index is None:
            continue
        used.add(index)
        with np.load(path / f"callback_{index}.npz", allow_pickle=False) as f:
            weights = [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]
        callback.set_state(saved[index]["state"], weights)
        restored += 1
    return restored


class CSVLogger(Callback):
    """Appends one row per epoch (``epoch`` then the sorted log keys) to a CSV file."""

    chief_only = True

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = append
        self._keys: Optional[list[str]] = None

    def on_train_begin(self, logs=None):
        self._keys = None
        if not self.append and os.path.exists(self.filename):
            os.remove(self.filename)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        new_file = not os.path.exists(self.filename)
        if self._keys is None:
            self._keys = sorted(logs)
        with open(self.filename, "a", newline="") as f:
            writer = csv.writer(f, delimiter=self.separator)
            if new_file:
                writer.writerow(["epoch", *self._keys])
            writer.writerow([epoch, *(_fmt(logs.get(k)) for k in self._keys)])


def _fmt(value) -> str:
    return "" if value is None else repr(float(np.float64(value)))


class JSONLogger(Callback):
    """Rewrites a JSON file with the whole history after every epoch (safe to read mid-run)."""

    chief_only = True

    def __init__(self, filename):
        super().__init__()
        self.filename = os.fspath(filename)
        self.history: dict[str, list] = {}
        self.epochs: list[int] = []

    def on_train_begin(self, logs=None):
        self.history, self.epochs = {}, []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        tmp = self.filename + ".tmp"
        Path(tmp).write_text(json.dumps({"epoch": self.epochs, "history": self.history}, indent=2))
        os.replace(tmp, self.filename)


class LambdaCallback(Callback):
    """Callbacks from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_end=None,
    ):
        super().__init__()
        for name, fn in [
            ("on_epoch_begin", on_epoch_begin),
            ("on_epoch_end", on_epoch_end),
            ("on_train_begin", on_train_begin),
            ("on_train_end", on_train_end),
            ("on_train_batch_end", on_train_batch_end),
        ]:
            if fn is not None:
                setattr(self, name, fn)


__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "JSONLogger",
    "LambdaCallback",
    "ModelCheckpoint",
    "TerminateOnNaN",
    "restore_callback_states",
    "resume_from",
]
