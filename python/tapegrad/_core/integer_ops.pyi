"""
Ops with integer or bool results and ops on bools: never differentiable (tests/test_integer.py has a row for each).
"""
from __future__ import annotations
import tapegrad._core
import tapegrad.types
import typing
__all__: list[str] = ['argmax', 'argmin', 'equal', 'floor_div', 'floor_mod', 'greater', 'greater_equal', 'less', 'less_equal', 'logical_and', 'logical_not', 'logical_or', 'logical_xor', 'not_equal', 'one_hot', 'reduce_all', 'reduce_any']
def argmax(x: tapegrad.types.TensorLike, axis: typing.SupportsIndex = 0, output_type: tapegrad.types.DTypeLike = None) -> tapegrad._core.Tensor:
    """
    The index of the largest value along axis.
    """
def argmin(x: tapegrad.types.TensorLike, axis: typing.SupportsIndex = 0, output_type: tapegrad.types.DTypeLike = None) -> tapegrad._core.Tensor:
    """
    The index of the smallest value along axis.
    """
def equal(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x == y elementwise, as a bool tensor.
    """
def floor_div(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x // y elementwise (rounds toward negative infinity, as Python).
    """
def floor_mod(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x % y elementwise, with the sign of y (as Python).
    """
def greater(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x > y elementwise, as a bool tensor.
    """
def greater_equal(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x >= y elementwise, as a bool tensor.
    """
def less(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x < y elementwise, as a bool tensor.
    """
def less_equal(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x <= y elementwise, as a bool tensor.
    """
def logical_and(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x and y elementwise on bools.
    """
def logical_not(x: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    not x elementwise on bools.
    """
def logical_or(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x or y elementwise on bools.
    """
def logical_xor(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x xor y elementwise on bools.
    """
def not_equal(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x != y elementwise, as a bool tensor.
    """
def one_hot(indices: tapegrad.types.TensorLike, depth: typing.SupportsIndex, on_value: tapegrad.types.TensorLike = 1.0, off_value: tapegrad.types.TensorLike = 0.0, axis: typing.SupportsIndex = -1, dtype: tapegrad.types.DTypeLike = None) -> tapegrad._core.Tensor:
    """
    on_value at each index's position along a new axis of length depth, off_value elsewhere.
    """
def reduce_all(x: tapegrad.types.TensorLike, axis: tapegrad.types.ShapeLike | None = None, keepdims: bool = False) -> tapegrad._core.Tensor:
    """
    Whether every element is true over axis (all axes when None).
    """
def reduce_any(x: tapegrad.types.TensorLike, axis: tapegrad.types.ShapeLike | None = None, keepdims: bool = False) -> tapegrad._core.Tensor:
    """
    Whether any element is true over axis (all axes when None).
    """
