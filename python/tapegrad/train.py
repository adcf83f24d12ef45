"""``tg.train``: the public names of the training loop.

The Trainer and ``predict`` live in python/tapegrad/trainer.py, the progress display in
python/tapegrad/progbar.py and the callbacks (``History`` among them) in
python/tapegrad/callbacks.py; this module keeps ``tg.train.Trainer`` and
``from tapegrad.train import ...`` working.
"""

from __future__ import annotations

from .progbar import ProgressBar
from .trainer import Trainer, TrainingDiverged, predict

__all__ = ["ProgressBar", "Trainer", "TrainingDiverged", "predict"]
