"""``tg.math``: TensorFlow's math namespace, the same functions as the top level."""

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
    reduce_max,
    reduce_mean,
    reduce_sum,
    sigmoid,
    sqrt,
    square,
    subtract,
    tanh,
)
