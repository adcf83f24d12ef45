"""``tg.nn``: neural-network functions under TensorFlow's names."""

from .ops import relu, sigmoid, tanh  # noqa: F401
