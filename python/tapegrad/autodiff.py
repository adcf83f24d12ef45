"""``tg.autodiff``: TensorFlow's ``tf.autodiff`` namespace (forward mode lives in forward.py)."""

from .forward import ForwardAccumulator

__all__ = ["ForwardAccumulator"]
