"""``tg.nn``: neural-network functions under TensorFlow's names."""

from ._core.ops import mean_squared_error  # noqa: F401  (fused: one pass forward, one backward)
from .ops import relu, sigmoid, tanh  # noqa: F401
