"""``tg.math``: TensorFlow's math namespace, the same functions as the top level."""

from .nn import log_softmax, softmax  # noqa: F401
from .ops import (  # noqa: F401
    abs,
    add,
    divide,
    exp,
    log,
    maximum,
    minimum,
    multiply,
    negative,
    pow,
    reduce_logsumexp,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_sum,
    sigmoid,
    sqrt,
    square,
    subtract,
    tanh,
)
