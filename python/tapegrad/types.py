"""``tg.types``: the names the signatures use for what an argument may be (as ``tf.types``).

The C++ bindings print these names in their signatures (``help(tg.matmul)``) and the stub
``tapegrad/_core.pyi`` imports them from here; ``cpp/bindings/convert.h`` lists which binding
argument takes which.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from ._core import DType, Tensor, Variable

# What ops convert with tg.convert_to_tensor: a Tensor, a Variable (read, so tapes watch it), a
# NumPy array or scalar, a Python number or bool, or a nested list/tuple of those. Only the outer
# level of a nested sequence is checked (Sequence[Any]): a recursive alias would be exact, but
# mypy would then infer list literals such as [[1.0, 2.0]] element by element for every call.
TensorLike = Union[Tensor, Variable, np.ndarray[Any, Any], np.generic, float, int, Sequence[Any]]

# Shapes, axes and permutations: an int, a sequence of ints, or an integer array or tensor.
ShapeLike = Union[int, Sequence[int], np.ndarray[Any, Any], Tensor]

# A dtype as the ops accept it: tg.float32, its name, a NumPy dtype or scalar type, or None
# (the default for the op).
DTypeLike = Union[DType, str, np.dtype[Any], type, None]

__all__ = ["DTypeLike", "ShapeLike", "TensorLike"]
