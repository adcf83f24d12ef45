"""
The differentiable ops, one binding each.
"""
from __future__ import annotations
import collections.abc
import tapegrad._core
import tapegrad.types
import typing
__all__: list[str] = ['abs', 'add', 'broadcast_to', 'cast', 'clip_by_value', 'concat', 'dense', 'divide', 'exp', 'gather', 'log', 'log_softmax', 'log_softmax_grad', 'matmul', 'matmul_tangent', 'maximum', 'mean_squared_error', 'mean_squared_error_grad', 'minimum', 'multiply', 'negative', 'pow', 'reduce_logsumexp', 'reduce_max', 'reduce_mean', 'reduce_min', 'reduce_sum', 'relu', 'relu_grad', 'reshape', 'scatter_add', 'sigmoid', 'sigmoid_cross_entropy_with_logits', 'sigmoid_cross_entropy_with_logits_grad', 'slice_grad', 'softmax', 'softmax_cross_entropy_with_logits', 'softmax_cross_entropy_with_logits_grad', 'softmax_grad', 'sparse_softmax_cross_entropy_grad', 'sparse_softmax_cross_entropy_with_logits', 'sqrt', 'square', 'stack', 'stop_gradient', 'strided_slice', 'subtract', 'tanh', 'transpose', 'where']
def _argmax_equal(y_true: tapegrad.types.TensorLike, y_pred: tapegrad.types.TensorLike, axis: typing.SupportsInt | typing.SupportsIndex = -1) -> tapegrad._core.Tensor:
    """
    1.0 where argmax(y_true) == argmax(y_pred) along axis, else 0.0 (no gradient): categorical accuracy.
    """
def abs(x: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    |x| elementwise.
    """
def add(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x + y elementwise, with NumPy broadcasting.
    """
def broadcast_to(x: tapegrad.types.TensorLike, shape: tapegrad.types.ShapeLike) -> tapegrad._core.Tensor:
    """
    x broadcast to shape (NumPy's rules).
    """
def cast(x: tapegrad.types.TensorLike, dtype: tapegrad.types.DTypeLike) -> tapegrad._core.Tensor:
    """
    x converted to dtype.
    """
def clip_by_value(t: tapegrad.types.TensorLike, clip_value_min: tapegrad.types.TensorLike, clip_value_max: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    t limited to [clip_value_min, clip_value_max] elementwise.
    """
def concat(values: collections.abc.Sequence[tapegrad.types.TensorLike], axis: typing.SupportsIndex) -> tapegrad._core.Tensor:
    """
    The tensors joined along an existing axis.
    """
def dense(x: tapegrad.types.TensorLike, kernel: tapegrad.types.TensorLike, bias: tapegrad.types.TensorLike | None = None, activation: typing.Any = None) -> tapegrad._core.Tensor:
    """
    activation(x @ kernel + bias) as one op (activation None, 'linear' or 'relu').
    """
def divide(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x / y elementwise, with NumPy broadcasting.
    """
def exp(x: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    e ** x elementwise.
    """
def gather(x: tapegrad.types.TensorLike, indices: tapegrad.types.TensorLike, axis: typing.SupportsIndex = 0) -> tapegrad._core.Tensor:
    """
    The slices of x at indices along axis.
    """
def log(x: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    The natural logarithm elementwise.
    """
def log_softmax(logits: tapegrad.types.TensorLike, axis: typing.SupportsInt | typing.SupportsIndex = -1) -> tapegrad._core.Tensor:
    """
    logits - logsumexp(logits) along axis.
    """
def log_softmax_grad(g: tapegrad.types.TensorLike, z: tapegrad.types.TensorLike, axis: typing.SupportsInt | typing.SupportsIndex = -1) -> tapegrad._core.Tensor:
    """
    log_softmax's VJP for output z: g - exp(z) * sum(g) along axis.
    """
def matmul(a: tapegrad.types.TensorLike, b: tapegrad.types.TensorLike, transpose_a: bool = False, transpose_b: bool = False) -> tapegrad._core.Tensor:
    """
    The matrix product a @ b (batched over leading axes), each side optionally transposed.
    """
def matmul_tangent(da: tapegrad.types.TensorLike, b: tapegrad.types.TensorLike, a: tapegrad.types.TensorLike, db: tapegrad.types.TensorLike, transpose_a: bool = False, transpose_b: bool = False) -> tapegrad._core.Tensor:
    """
    op(da) @ op(b) + op(a) @ op(db) in one op (matmul's tangent; op transposes when asked).
    """
def maximum(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    The larger of x and y elementwise, with broadcasting.
    """
def mean_squared_error(y_true: tapegrad.types.TensorLike, y_pred: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    mean((y_true - y_pred) ** 2) over the last axis (Keras's loss).
    """
def mean_squared_error_grad(g: tapegrad.types.TensorLike, y_true: tapegrad.types.TensorLike, y_pred: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    mean_squared_error's VJP with respect to y_true and y_pred.
    """
def minimum(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    The smaller of x and y elementwise, with broadcasting.
    """
def multiply(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x * y elementwise, with NumPy broadcasting.
    """
def negative(x: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    -x elementwise.
    """
def pow(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x ** y; a Python number y uses the scalar-exponent kernel.
    """
def reduce_logsumexp(x: tapegrad.types.TensorLike, axis: tapegrad.types.ShapeLike | None = None, keepdims: bool = False) -> tapegrad._core.Tensor:
    """
    log(sum(exp(x))) over axis, computed stably (all axes when None).
    """
def reduce_max(x: tapegrad.types.TensorLike, axis: tapegrad.types.ShapeLike | None = None, keepdims: bool = False) -> tapegrad._core.Tensor:
    """
    The maximum over axis (all axes when None).
    """
def reduce_mean(x: tapegrad.types.TensorLike, axis: tapegrad.types.ShapeLike | None = None, keepdims: bool = False) -> tapegrad._core.Tensor:
    """
    The mean over axis (all axes when None), the reduced axes kept as 1 with keepdims.
    """
def reduce_min(x: tapegrad.types.TensorLike, axis: tapegrad.types.ShapeLike | None = None, keepdims: bool = False) -> tapegrad._core.Tensor:
    """
    The minimum over axis (all axes when None).
    """
def reduce_sum(x: tapegrad.types.TensorLike, axis: tapegrad.types.ShapeLike | None = None, keepdims: bool = False) -> tapegrad._core.Tensor:
    """
    The sum over axis (all axes when None), the reduced axes kept as 1 with keepdims.
    """
def relu(x: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    max(x, 0) elementwise.
    """
def relu_grad(g: tapegrad.types.TensorLike, x: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    g where x > 0, else 0: relu's VJP, differentiable again.
    """
def reshape(x: tapegrad.types.TensorLike, shape: tapegrad.types.ShapeLike) -> tapegrad._core.Tensor:
    """
    x with a new shape of the same size (one dimension may be -1).
    """
def scatter_add(g: tapegrad.types.TensorLike, indices: tapegrad.types.TensorLike, axis: typing.SupportsIndex, axis_len: typing.SupportsIndex) -> tapegrad._core.Tensor:
    """
    gather's VJP: g's slices summed into zeros with axis_len entries along axis.
    """
def sigmoid(x: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    1 / (1 + exp(-x)) elementwise.
    """
def sigmoid_cross_entropy_with_logits(labels: tapegrad.types.TensorLike, logits: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    max(x, 0) - x * z + log1p(exp(-|x|)) for labels z and logits x.
    """
def sigmoid_cross_entropy_with_logits_grad(g: tapegrad.types.TensorLike, labels: tapegrad.types.TensorLike, logits: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    The VJP of sigmoid_cross_entropy_with_logits with respect to labels and logits.
    """
def slice_grad(g: tapegrad.types.TensorLike, shape: tapegrad.types.ShapeLike, begin: tapegrad.types.ShapeLike, step: tapegrad.types.ShapeLike) -> tapegrad._core.Tensor:
    """
    strided_slice's VJP: g placed into zeros of shape.
    """
def softmax(logits: tapegrad.types.TensorLike, axis: typing.SupportsInt | typing.SupportsIndex = -1) -> tapegrad._core.Tensor:
    """
    exp(logits) / sum(exp(logits)) along axis, computed stably.
    """
def softmax_cross_entropy_with_logits(labels: tapegrad.types.TensorLike, logits: tapegrad.types.TensorLike, axis: typing.SupportsInt | typing.SupportsIndex = -1) -> tapegrad._core.Tensor:
    """
    -sum(labels * log_softmax(logits)) along axis, in one stable op.
    """
def softmax_cross_entropy_with_logits_grad(g: tapegrad.types.TensorLike, labels: tapegrad.types.TensorLike, logits: tapegrad.types.TensorLike, axis: typing.SupportsInt | typing.SupportsIndex = -1) -> tapegrad._core.Tensor:
    """
    The VJP of softmax_cross_entropy_with_logits with respect to labels and logits.
    """
def softmax_grad(g: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike, axis: typing.SupportsInt | typing.SupportsIndex = -1) -> tapegrad._core.Tensor:
    """
    softmax's VJP for output y: y * (g - sum(g * y)) along axis.
    """
def sparse_softmax_cross_entropy_grad(g: tapegrad.types.TensorLike, labels: tapegrad.types.TensorLike, logits: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    The VJP of sparse_softmax_cross_entropy_with_logits: g * (softmax(logits) - one_hot(labels)).
    """
def sparse_softmax_cross_entropy_with_logits(labels: tapegrad.types.TensorLike, logits: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    Per-sample logsumexp(logits) - logits[label] for integer labels, in one stable op.
    """
def sqrt(x: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    The square root elementwise.
    """
def square(x: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x * x elementwise.
    """
def stack(values: collections.abc.Sequence[tapegrad.types.TensorLike], axis: typing.SupportsIndex = 0) -> tapegrad._core.Tensor:
    """
    The tensors (of one shape) stacked along a new axis.
    """
def stop_gradient(x: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x itself, with no gradient flowing through it.
    """
def strided_slice(x: tapegrad.types.TensorLike, begin: tapegrad.types.ShapeLike, step: tapegrad.types.ShapeLike, count: tapegrad.types.ShapeLike) -> tapegrad._core.Tensor:
    """
    x[begin[i] + k * step[i] for k < count[i]] on every axis: basic slicing.
    """
def subtract(x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x - y elementwise, with NumPy broadcasting.
    """
def tanh(x: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    The hyperbolic tangent elementwise.
    """
def transpose(x: tapegrad.types.TensorLike, perm: tapegrad.types.ShapeLike | None = None) -> tapegrad._core.Tensor:
    """
    x with its axes permuted (reversed when perm is None).
    """
def where(condition: tapegrad.types.TensorLike, x: tapegrad.types.TensorLike, y: tapegrad.types.TensorLike) -> tapegrad._core.Tensor:
    """
    x where condition holds, else y, elementwise with broadcasting.
    """
