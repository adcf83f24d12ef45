"""tapegrad: reverse-mode automatic differentiation with a C++ tape and vectorized kernels.

Written to be used the way TensorFlow's GradientTape is taught: ``import tapegrad as tf``.
This module only re-exports; the engine is the C++ extension ``tapegrad._core``.
"""

from . import (
    activations,
    autodiff,
    callbacks,
    data,
    initializers,
    keras,
    layers,
    losses,
    math,
    metrics,
    models,
    nn,
    optimizers,
    random,
    train,
    utils,
)
from ._core import DType, GradientTape, Tensor, Variable, num_threads, set_num_threads
from ._core import isa as _isa
from .compiled import Function, TensorSpec, function
from .custom_gradient import custom_gradient, custom_vjp
from .forward import jacfwd, jacrev, jvp
from .functional import grad, hessian, hvp, value_and_grad
from .initializers import set_random_seed
from .ops import (
    abs,
    add,
    broadcast_to,
    cast,
    concat,
    constant,
    convert_to_tensor,
    divide,
    exp,
    gather,
    log,
    matmul,
    maximum,
    minimum,
    multiply,
    negative,
    ones,
    ones_like,
    pow,
    reduce_max,
    reduce_mean,
    reduce_sum,
    relu,
    reshape,
    sigmoid,
    sqrt,
    square,
    stack,
    stop_gradient,
    subtract,
    tanh,
    transpose,
    where,
    zeros,
    zeros_like,
)
from .tape import UnconnectedGradients, approximate_derivative, gradient_check

float32 = DType.float32
float64 = DType.float64
__version__ = "0.1.0"


def config() -> dict:
    """The instruction set and thread count the kernels use."""
    return {"isa": _isa(), "num_threads": num_threads()}


__all__ = [
    "DType",
    "Function",
    "GradientTape",
    "Tensor",
    "TensorSpec",
    "UnconnectedGradients",
    "Variable",
    "abs",
    "activations",
    "add",
    "approximate_derivative",
    "autodiff",
    "broadcast_to",
    "callbacks",
    "cast",
    "concat",
    "config",
    "constant",
    "convert_to_tensor",
    "custom_gradient",
    "custom_vjp",
    "data",
    "divide",
    "exp",
    "float32",
    "float64",
    "function",
    "gather",
    "grad",
    "gradient_check",
    "hessian",
    "hvp",
    "initializers",
    "jacfwd",
    "jacrev",
    "jvp",
    "keras",
    "layers",
    "log",
    "losses",
    "math",
    "matmul",
    "maximum",
    "metrics",
    "minimum",
    "models",
    "multiply",
    "negative",
    "nn",
    "num_threads",
    "ones",
    "ones_like",
    "optimizers",
    "pow",
    "random",
    "reduce_max",
    "reduce_mean",
    "reduce_sum",
    "relu",
    "reshape",
    "set_num_threads",
    "set_random_seed",
    "sigmoid",
    "sqrt",
    "square",
    "stack",
    "stop_gradient",
    "subtract",
    "tanh",
    "train",
    "transpose",
    "utils",
    "value_and_grad",
    "where",
    "zeros",
    "zeros_like",
]
