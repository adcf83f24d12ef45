"""Keras layers (the rules: tests/test_layers_models.py): ``Dense`` and ``Normalization``.

A layer is built from ``input_shape`` at once or from its first input; floating inputs are cast to
the layer's dtype (float32 by default: the seed feeds float64 from StandardScaler).
"""

from __future__ import annotations

import itertools
from typing import Callable, Optional

import numpy as np

from . import _core, activations, initializers
from . import random as random_module
from ._core import DType, Tensor, Variable
from ._core import ops as _ops
from .ops import cast, maximum, multiply, relu, reshape, sqrt

_layer_ids = itertools.count()


def _dense(x: Tensor, kernel, bias, activation: Optional[Callable]) -> Tensor:
    """``activation(x @ kernel + bias)``: one fused op (the GEMM's epilogue adds the bias and
    applies relu in the same pass); any other activation runs as its own op afterwards."""
    if activation is None:
        return _ops.dense(x, kernel, bias, None)
    if activation is relu:
        return _ops.dense(x, kernel, bias, "relu")
    return activation(_ops.dense(x, kernel, bias, None))


def _as_dtype(dtype) -> DType:
    if dtype is None:
        return DType.float32
    if isinstance(dtype, DType):
        return dtype
    np_dtype = np.dtype(dtype)
    if np_dtype == np.float32:
        return DType.float32
    if np_dtype == np.float64:
        return DType.float64
    raise TypeError(f"layer dtype must be float32 or float64, got {dtype!r}")


class Layer:
    """Base: build on first call (or from ``input_shape``), input casting, weights."""

    def __init__(self, input_shape=None, dtype=None, name: Optional[str] = None, trainable=True):
        self.dtype = _as_dtype(dtype)
        self._tensor_dtype = Tensor(np.zeros(0, self.dtype.as_numpy_dtype)).dtype
        self._array_dtype = np.dtype(self.dtype.as_numpy_dtype)
        self.name = name or f"{_snake(type(self).__name__)}_{next(_layer_ids)}"
        self.trainable = trainable
        self.built = False
        self.input_spec_shape: Optional[tuple] = None
        self._weights: list[Variable] = []
        if input_shape is not None:
            self.build((None, *tuple(input_shape)))

    # -- weights ---------------------------------------------------------------------------
    def add_weight(self, name: str, value: np.ndarray, trainable: bool = True) -> Variable:
        """Creates a Variable named ``<layer name>/<name>`` holding ``value`` in the layer's dtype
        and records it as one of the layer's weights."""
        var = Variable(
            np.asarray(value, dtype=self.dtype.as_numpy_dtype),
            trainable=trainable and self.trainable,
            name=f"{self.name}/{name}",
        )
        self._weights.append(var)
        return var

    @property
    def variables(self) -> list[Variable]:
        return list(self._weights)

    weights = variables

    @property
    def trainable_variables(self) -> list[Variable]:
        return [v for v in self._weights if v.trainable]

    trainable_weights = trainable_variables

    @property
    def non_trainable_variables(self) -> list[Variable]:
        return [v for v in self._weights if not v.trainable]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights' values as NumPy arrays, in creation order."""
        return [v.numpy() for v in self._weights]

    def set_weights(self, weights) -> None:
        """Assigns ``weights`` (arrays in get_weights's order and shapes) to the layer's variables;
        ValueError naming the layer on a count or shape mismatch."""
        weights = list(weights)
        if len(weights) != len(self._weights):
            raise ValueError(
                f"layer {self.name!r} has {len(self._weights)} weights, got {len(weights)} arrays"
            )
        for var, value in zip(self._weights, weights):
            value = np.asarray(value)
            if tuple(value.shape) != tuple(var.shape):
                raise ValueError(
                    f"layer {self.name!r}: weight {var.name} has shape {tuple(var.shape)}, "
                    f"got an array of shape {tuple(value.shape)}"
                )
            var.assign(value)

    def count_params(self) -> int:
        """The number of scalars in the layer's weights."""
        return int(sum(int(np.prod(v.shape)) for v in self._weights))

    def weight_shapes(self, input_shape: tuple) -> list[tuple]:
        """The shapes ``build(input_shape)`` gives the weights, in order, without allocating them
        (``load_model`` checks a saved model's weights against them first)."""
        return []

    # -- calling ---------------------------------------------------------------------------
    def build(self, input_shape: tuple) -> None:
        """Creates the weights for inputs of ``input_shape`` (batch dimension included); called on
        the first call when not built before."""
        self.input_spec_shape = tuple(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """The output shape for inputs of ``input_shape`` (batch dimension included)."""
        return tuple(input_shape)

    def call(self, x: Tensor) -> Tensor:
        """The layer's computation on a tensor already cast to the layer's dtype; subclasses define
        it."""
        raise NotImplementedError(f"{type(self).__name__} must define call(x)")

    def _cast_input(self, x) -> Tensor:
        if type(x) is np.ndarray and x.dtype == self._array_dtype:
            return x  # the op converts it (its one copy) with no NumPy round trip here
        if isinstance(x, Tensor):  # `is` against the tensors' own dtype object: == is slower
            return (
                x if x.dtype is self._tensor_dtype or x.dtype == self.dtype else cast(x, self.dtype)
            )
        if isinstance(x, Variable):
            v = x.value()
            return v if v.dtype == self.dtype else cast(v, self.dtype)
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiub":
            raise TypeError(
                f"layer {self.name!r}: expected numeric input, got an array of dtype {arr.dtype}"
            )
        return Tensor(np.ascontiguousarray(arr, dtype=self.dtype.as_numpy_dtype))

    # Layers whose call behaves differently in training (Dropout) take ``training=``.
    _call_takes_training = False

    def __call__(self, x, training=None) -> Tensor:
        x = self._cast_input(x)
        if not self.built:
            self.build(tuple(x.shape))
        if self._call_takes_training:
            return self.call(x, training=bool(training))
        return self.call(x)

    def get_config(self) -> dict:
        """The constructor arguments that rebuild this layer (what model.json stores)."""
        return {"name": self.name, "dtype": self.dtype.name, "trainable": self.trainable}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


class Dense(Layer):
    """``activation(x @ kernel + bias)``; kernel (in, units) glorot-uniform, bias zeros."""

    def __init__(
        self,
        units: int,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        input_shape=None,
        dtype=None,
        name: Optional[str] = None,
        input_dim: Optional[int] = None,
        trainable: bool = True,
    ):
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel: Optional[Variable] = None
        self.bias: Optional[Variable] = None
        if input_shape is None and input_dim is not None:
            input_shape = (input_dim,)
        super().__init__(input_shape=input_shape, dtype=dtype, name=name, trainable=trainable)

    def weight_shapes(self, input_shape: tuple) -> list[tuple]:
        if len(input_shape) < 1 or input_shape[-1] is None:
            raise ValueError(
                f"Dense {self.name!r}: the last input dimension must be known, "
                f"got input shape {input_shape}"
            )
        kernel = (int(input_shape[-1]), self.units)
        return [kernel, (self.units,)] if self.use_bias else [kernel]

    def build(self, input_shape: tuple) -> None:
        shapes = self.weight_shapes(input_shape)
        np_dtype = self.dtype.as_numpy_dtype
        self.kernel = self.add_weight("kernel", self.kernel_initializer(shapes[0], np_dtype))
        if self.use_bias:
            self.bias = self.add_weight("bias", self.bias_initializer(shapes[1], np_dtype))
        super().build(input_shape)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*tuple(input_shape)[:-1], self.units)

    def call(self, x: Tensor) -> Tensor:
        try:
            return _dense(x, self.kernel, self.bias, self.activation)
        except ValueError:
            if x.ndim == 0 or x.shape[-1] != self.kernel.shape[0]:
                raise ValueError(
                    f"Dense {self.name!r} expects inputs with last dimension "
                    f"{self.kernel.shape[0]}, got shape {tuple(x.shape)}"
                ) from None
            raise

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
        }


class Normalization(Layer):
    """Keras's feature normalization: ``(x - mean) / max(sqrt(variance), 1e-7)`` per feature.

    ``adapt(data)`` learns mean and variance (population variance over every axis but ``axis``);
    they are non-trainable weights, so the model saves them and takes raw features afterwards.
    """

    epsilon = 1e-7

    def __init__(
        self,
        axis: Optional[int] = -1,
        mean=None,
        variance=None,
        input_shape=None,
        dtype=None,
        name: Optional[str] = None,
    ):
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: give both mean and variance, or neither")
        self.axis = axis
        self._init_mean, self._init_variance = mean, variance
        self.mean: Optional[Variable] = None
        self.variance: Optional[Variable] = None
        self.adapted = mean is not None
        super().__init__(input_shape=input_shape, dtype=dtype, name=name, trainable=False)

    def _feature_shape(self, input_shape: tuple) -> tuple:
        if self.axis is None:
            return ()
        axis = self.axis % len(input_shape)
        if input_shape[axis] is None:
            raise ValueError(
                f"Normalization: the size of axis {self.axis} must be known, "
                f"got input shape {input_shape}"
            )
        return (int(input_shape[axis]),)

    def weight_shapes(self, input_shape: tuple) -> list[tuple]:
        shape = self._feature_shape(tuple(input_shape))
        return [shape, shape]

    def build(self, input_shape: tuple) -> None:
        shape = self._feature_shape(tuple(input_shape))
        mean = (
            np.zeros(shape) if self._init_mean is None else np.broadcast_to(self._init_mean, shape)
        )
        var = (
            np.ones(shape)
            if self._init_variance is None
            else np.broadcast_to(self._init_variance, shape)
        )
        self.mean = self.add_weight("mean", mean, trainable=False)
        self.variance = self.add_weight("variance", var, trainable=False)
        super().build(input_shape)

    def adapt(self, data) -> None:
        """Learns the per-feature mean and (population) variance of ``data``."""
        arr = np.asarray(data, dtype=np.float64)
        if arr.ndim == 0 or arr.size == 0:
            raise ValueError(f"Normalization.adapt needs a non-empty array, got shape {arr.shape}")
        if not self.built:
            self.build((None, *arr.shape[1:]) if arr.ndim > 1 else (None,))
        if self.axis is None:
            mean, var = arr.mean(), arr.var()
        else:
            axis = self.axis % arr.ndim
            reduce_axes = tuple(i for i in range(arr.ndim) if i != axis)
            mean, var = arr.mean(axis=reduce_axes), arr.var(axis=reduce_axes)
            if tuple(mean.shape) != tuple(self.mean.shape):
                raise ValueError(
                    f"Normalization {self.name!r} was built for {self.mean.shape[0]} features, "
                    f"adapt got data of shape {arr.shape}"
                )
        self.mean.assign(np.asarray(mean, self.dtype.as_numpy_dtype))
        self.variance.assign(np.asarray(var, self.dtype.as_numpy_dtype))
        self.adapted = True

    def call(self, x: Tensor) -> Tensor:
        shape = tuple(self.mean.shape)
        if shape and (x.ndim == 0 or x.shape[self.axis] != shape[0]):
            raise ValueError(
                f"Normalization {self.name!r} expects {shape[0]} features on axis {self.axis}, "
                f"got shape {tuple(x.shape)}"
            )
        mean, std = self.mean.value(), maximum(sqrt(self.variance.value()), self.epsilon)
        if shape and self.axis % x.ndim != x.ndim - 1:  # put the features on their axis
            bshape = [1] * x.ndim
            bshape[self.axis] = shape[0]
            mean, std = reshape(mean, bshape), reshape(std, bshape)
        return (x - mean) / std

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class Flatten(Layer):
    """Keras's Flatten: every axis after the batch axis joined into one, (N, d1, d2, ...) ->
    (N, d1 * d2 * ...); a batch of scalars (N,) becomes (N, 1). No weights."""

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        rest = input_shape[1:]
        known = all(d is not None for d in rest)
        return (input_shape[0], int(np.prod(rest, dtype=np.int64)) if known else None)

    def call(self, x: Tensor) -> Tensor:
        if x.ndim == 0:
            raise ValueError(f"layer {self.name!r}: Flatten needs a batch axis, got a scalar")
        return reshape(x, self.compute_output_shape(tuple(x.shape)))


class Dropout(Layer):
    """Keras's Dropout: in training (``training=True``; the Trainer passes it) each input is
    zeroed with probability ``rate`` and the rest scaled by ``1 / (1 - rate)``; otherwise the
    identity. The masks come from a stream of this layer's own (seeded by ``seed`` under
    ``tg.random``'s global/op seed rule), drawn by a stateful op, so a compiled training step
    draws a new mask at every replay. ``noise_shape`` (None entries take the input's) shares one
    draw along the axes where it is 1."""

    _call_takes_training = True

    def __init__(self, rate: float, noise_shape=None, seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        rate = float(rate)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._stream = _core.RandomStream(random_module.stream_key("dropout", seed))

    def _mask_shape(self, shape: tuple) -> tuple:
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape):
            raise ValueError(
                f"layer {self.name!r}: noise_shape {self.noise_shape} does not match the rank of "
                f"the input shape {shape}"
            )
        return tuple(s if n is None else int(n) for n, s in zip(self.noise_shape, shape))

    def call(self, x: Tensor, training: bool = False) -> Tensor:
        x = Tensor(x)  # the input may still be a NumPy array (see _cast_input)
        if not training or self.rate == 0.0:
            return x
        mask = _core.dropout_mask(
            x.dtype, self._mask_shape(tuple(x.shape)), self.rate, self._stream
        )
        return multiply(x, mask)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rate": self.rate,
            "noise_shape": self.noise_shape,
            "seed": self.seed,
        }


class Softmax(Layer):
    """Keras's Softmax layer: ``softmax(x, axis)`` (probabilities from logits), no weights."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, x: Tensor) -> Tensor:
        return _ops.softmax(x, self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


_BY_NAME = {
    "Dense": Dense,
    "Normalization": Normalization,
    "Flatten": Flatten,
    "Dropout": Dropout,
    "Softmax": Softmax,
}


def deserialize(class_name: str, config: dict) -> Layer:
    """A layer from ``get_config`` output (weights are loaded separately)."""
    cls = _BY_NAME.get(class_name)
    if cls is None:
        raise ValueError(f"unknown layer class {class_name!r}; expected one of {sorted(_BY_NAME)}")
    config = dict(config)
    config.pop("trainable", None)
    return cls(**config)


__all__ = ["Dense", "Dropout", "Flatten", "Layer", "Normalization", "Softmax"]
