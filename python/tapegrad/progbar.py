"""The Keras-style progress display of ``Trainer.fit`` (python/tapegrad/trainer.py).

``ProgressBar`` is a callback (Keras's ``ProgbarLogger``): ``fit`` adds one for its ``verbose``
unless ``callbacks`` already holds one, so a subclass with other ``epoch_begin``/``step``/
``epoch_end`` drawing replaces it. ``fit`` drives the bar itself rather than through
``on_train_batch_end``, so a bar never forces the compiled step back into Python every step:
``step`` is called after each run of steps the C++ replay returns (every step when a per-batch
callback is present).
"""

from __future__ import annotations

import sys
import time
from typing import Optional

from .callbacks import Callback


def in_notebook() -> bool:
    """True inside a Jupyter kernel, detected as Keras does: ipykernel is imported and IPython's
    shell is the ZMQ one (a terminal IPython is not a notebook)."""
    if "ipykernel" not in sys.modules:
        return False
    get_ipython = getattr(sys.modules.get("IPython"), "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return type(shell).__name__ == "ZMQInteractiveShell"


class ProgressBar(Callback):
    """Keras-style progress: a live bar with ETA redrawn in place on a terminal or in a Jupyter
    notebook (verbose=1), one line per epoch otherwise (verbose=2, or verbose=1 elsewhere).

    ``epochs`` and ``steps`` come from ``fit`` (``set_params``) when not given. ``stream``
    defaults to the ``sys.stdout`` of the moment each line is written (Jupyter swaps it per cell).
    """

    width = 30

    def __init__(
        self,
        verbose: int = 1,
        epochs: Optional[int] = None,
        steps: Optional[int] = None,
        stream=None,
    ):
        super().__init__()
        if verbose not in (0, 1, 2):
            raise ValueError(f"ProgressBar: verbose must be 0, 1 or 2, got {verbose!r}")
        self._stream = stream
        self.verbose = verbose
        self.epochs, self.steps = epochs, steps
        self.notebook = in_notebook()
        tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.live = verbose == 1 and (tty or self.notebook)
        # A terminal erases the rest of the line with ANSI EL; a notebook shows escape codes, so
        # there a shorter line is padded with spaces over the previous one instead.
        self._erase = "" if self.notebook and not tty else "\033[K"
        self._drawn = 0
        self._last_draw = 0.0

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stdout

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        self.epochs = params.get("epochs", self.epochs)
        self.steps = params.get("steps", self.steps)

    def _redraw(self, text: str, end: str = "") -> None:
        pad = " " * max(self._drawn - len(text), 0) if not self._erase else self._erase
        self.stream.write(f"\r{text}{pad}{end}")
        self.stream.flush()
        self._drawn = 0 if end else len(text) + len(pad) * (not self._erase)

    def epoch_begin(self, epoch: int) -> None:
        self.start = time.perf_counter()
        self._drawn = 0
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
        self._redraw(f"{self._bar(done)} - ETA: {_duration(eta)}{_format_logs(logs)}")

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
            self._redraw(f"{self._bar(steps_done)} - {timing}{_format_logs(logs)}", end="\n")
        else:
            self.stream.write(f"Epoch {epoch + 1}/{self.epochs} - {timing}{_format_logs(logs)}\n")
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


__all__ = ["ProgressBar", "in_notebook"]
