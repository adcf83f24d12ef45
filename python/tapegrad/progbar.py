"""The Keras-style progress display of ``Trainer.fit`` (python/tapegrad/trainer.py)."""

from __future__ import annotations

import sys
import time


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


__all__ = ["ProgressBar"]
