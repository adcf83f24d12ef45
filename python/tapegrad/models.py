"""``tg.models.Sequential``: a stack of layers with Keras's weight order, saving and training.

``.variables`` and ``.trainable_variables`` list each layer's weights in layer order (kernel then
bias for Dense). ``compile``/``fit``/``evaluate``/``predict`` delegate to
``tg.train.Trainer``. ``save(dir)`` writes ``model.json`` (architecture) and ``weights.npz``;
``load_model(dir)`` rebuilds it, Normalization statistics included. ``model.json`` carries
``format_version`` (bumped when a change would make an older tapegrad misread a folder) and the
``tapegrad_version`` that wrote it; every way a folder can be unreadable raises ``ModelFileError``
naming the file. No file is ever unpickled (``allow_pickle=False`` throughout).
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any, Optional

import numpy as np

from . import callbacks as callbacks_module
from . import layers as layers_module
from . import optimizers
from ._core import Tensor, Variable
from .trainer import Trainer, predict

MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"
# 1: {format_version, tapegrad_version, name, input_shape, layers}. Folders written before the
# field existed have no format_version and read as format 1.
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model folder that ``load_model`` cannot read; the message names the file and the fault."""


def _tapegrad_version() -> str:
    try:
        return importlib.metadata.version("tapegrad")
    except importlib.metadata.PackageNotFoundError:  # imported from a source tree, not installed
        return "unknown"


class Sequential:
    """Keras's Sequential model: a stack of layers, each fed the previous one's output; compile,
    fit, evaluate, predict, save."""

    def __init__(self, layers=None, name: Optional[str] = None):
        self.name = name or "sequential"
        self.layers: list[layers_module.Layer] = []
        self._input_shape: Optional[tuple] = None
        self._compiled: Optional[dict] = None
        self.history = None
        for layer in layers or []:
            self.add(layer)

    def __getstate__(self) -> dict:
        # The Trainer holds compiled steps bound to these variables: a copy builds its own.
        return {k: v for k, v in self.__dict__.items() if k != "_trainer"}

    # -- structure -------------------------------------------------------------------------
    def add(self, layer) -> None:
        """Appends a layer (or a Sequential model), built at once when the input shape is known."""
        if not isinstance(layer, (layers_module.Layer, Sequential)):
            raise TypeError(f"Sequential.add expects a layer, got {type(layer).__name__}")
        if self.layers and self._input_shape is not None and not layer.built:
            layer.build(self._output_shape_of(len(self.layers)))
        elif not self.layers and layer.built:
            self._input_shape = layer.input_spec_shape
        self.layers.append(layer)

    def _output_shape_of(self, n_layers: int) -> tuple:
        shape = self._input_shape
        for layer in self.layers[:n_layers]:
            shape = layer.compute_output_shape(shape)
        return shape

    def build(self, input_shape) -> None:
        """Builds every layer for inputs of ``input_shape`` (batch dimension included)."""
        shape = tuple(input_shape)
        self._input_shape = shape
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            shape = layer.compute_output_shape(shape)

    @property
    def built(self) -> bool:
        return bool(self.layers) and all(layer.built for layer in self.layers)

    @property
    def input_shape(self) -> Optional[tuple]:
        return self._input_shape

    @property
    def output_shape(self) -> Optional[tuple]:
        return None if self._input_shape is None else self._output_shape_of(len(self.layers))

    def __call__(self, x, training=None) -> Tensor:
        if not self.layers:
            raise ValueError("Sequential model has no layers; add some before calling it")
        if self._input_shape is None:
            self._input_shape = (None, *tuple(getattr(x, "shape", None) or np.shape(x))[1:])
        for layer in self.layers:
            x = layer(x, training=training)
        return x

    # -- a Sequential inside another acts as one layer ----------------------------------------
    trainable = True

    @property
    def _weights(self) -> list[Variable]:
        return self.variables

    @property
    def input_spec_shape(self) -> Optional[tuple]:
        return self._input_shape

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """The output shape for inputs of ``input_shape`` (batch dimension included)."""
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return shape

    # -- weights ---------------------------------------------------------------------------
    @property
    def variables(self) -> list[Variable]:
        return [v for layer in self.layers for v in layer._weights]

    weights = variables

    @property
    def trainable_variables(self) -> list[Variable]:
        return [v for layer in self.layers for v in layer.trainable_variables]

    trainable_weights = trainable_variables

    @property
    def non_trainable_variables(self) -> list[Variable]:
        return [v for layer in self.layers for v in layer.non_trainable_variables]

    def count_params(self) -> int:
        """The number of scalars in all layers' weights."""
        return sum(layer.count_params() for layer in self.layers)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every layer's weights as NumPy arrays, in layer order."""
        return [v.numpy() for v in self.variables]

    def set_weights(self, weights) -> None:
        """Assigns arrays in get_weights's order and shapes; ValueError on a count or shape
        mismatch."""
        weights = list(weights)
        variables = self.variables
        if len(weights) != len(variables):
            raise ValueError(f"model has {len(variables)} weights, got {len(weights)} arrays")
        for layer in self.layers:
            n = len(layer.variables)
            layer.set_weights(weights[:n])
            weights = weights[n:]

    def save_weights(self, path) -> None:
        """Writes every weight, in ``.variables`` order, to an ``.npz`` file at ``path``."""
        self._require_built("save_weights")
        arrays = {f"{i:04d}": v.numpy() for i, v in enumerate(self.variables)}
        names = np.array([v.name for v in self.variables])
        buf = io.BytesIO()
        np.savez(buf, __names__=names, **arrays)
        Path(path).write_bytes(buf.getvalue())

    def load_weights(self, path) -> None:
        """Reads weights written by ``save_weights`` (shapes must match this model's)."""
        self._require_built("load_weights")
        with np.load(path, allow_pickle=False) as data:
            keys = sorted(k for k in data.files if k != "__names__")
            self.set_weights([data[k] for k in keys])

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(
                f"{what}: the model is not built yet; give the first layer input_shape= or call "
                "the model on a batch first"
            )

    # -- saving the whole model ----------------------------------------------------------
    def get_config(self) -> dict:
        """The architecture as plain data (layers with their configs, input shape, format and
        tapegrad versions): model.json's content."""
        return {
            "format_version": FORMAT_VERSION,
            "tapegrad_version": _tapegrad_version(),
            "name": self.name,
            "input_shape": None if self._input_shape is None else list(self._input_shape),
            "layers": [
                {"class_name": type(layer).__name__, "config": layer.get_config()}
                for layer in self.layers
            ],
        }

    def save(self, directory) -> Path:
        """Writes the architecture (``model.json``) and weights (``weights.npz``) to a folder."""
        self._require_built("save")
        if any(isinstance(layer, Sequential) for layer in self.layers):
            raise ValueError(
                "save: a Sequential nested in another is not supported by the model format; "
                "save the inner model itself"
            )
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MODEL_FILE).write_text(json.dumps(self.get_config(), indent=2))
        self.save_weights(directory / WEIGHTS_FILE)
        return directory

    # -- summary ---------------------------------------------------------------------------
    def summary(self, print_fn=print) -> None:
        """Prints one row per layer (name, type, output shape, parameters) and the totals through
        ``print_fn``."""
        rows = []
        shape = self._input_shape
        for layer in self.layers:
            if shape is not None:
                shape = layer.compute_output_shape(shape)
            rows.append(
                (
                    f"{layer.name} ({type(layer).__name__})",
                    "?" if shape is None else str(tuple(shape)),
                    str(layer.count_params()) if layer.built else "0 (unbuilt)",
                )
            )
        header = ("Layer (type)", "Output Shape", "Param #")
        widths = [max(len(r[i]) for r in [header, *rows]) + 2 for i in range(3)]
        line = "".join(h.ljust(w) for h, w in zip(header, widths))
        rule = "=" * len(line)
        trainable = sum(int(np.prod(v.shape)) for v in self.trainable_variables)
        total = sum(int(np.prod(v.shape)) for v in self.variables)
        print_fn(f'Model: "{self.name}"')
        print_fn(rule)
        print_fn(line)
        print_fn(rule)
        for r in rows:
            print_fn("".join(c.ljust(w) for c, w in zip(r, widths)))
        print_fn(rule)
        print_fn(f"Total params: {total}")
        print_fn(f"Trainable params: {trainable}")
        print_fn(f"Non-trainable params: {total - trainable}")

    # -- training (delegates to tg.train.Trainer) -------------------------------------
    def compile(
        self, optimizer="rmsprop", loss=None, metrics=None, run_eagerly: bool = False
    ) -> None:
        """Keras's compile; ``run_eagerly=True`` trains through GradientTape every step instead
        of a ``tg.function`` step replayed in C++."""
        self._compiled = {
            "optimizer": optimizers.get(optimizer),
            "loss": loss,
            "metrics": list(metrics or []),
            "compiled": not run_eagerly,
        }
        self._trainer = None

    def _get_trainer(self):
        if self._compiled is None:
            raise RuntimeError(
                "You must compile your model before training/testing. "
                "Use `model.compile(optimizer, loss)`."
            )
        if getattr(self, "_trainer", None) is None:
            self._trainer = Trainer(self, **self._compiled)
        return self._trainer

    @property
    def optimizer(self):
        return None if self._compiled is None else self._compiled["optimizer"]

    def fit(self, x: Any = None, y: Any = None, **kwargs: Any) -> callbacks_module.History:
        """Keras's fit: trains on arrays or a dataset and returns the ``History``; the keyword
        arguments are ``tg.train.Trainer.fit``'s (epochs, batch_size, validation_data, ...)."""
        self.history = self._get_trainer().fit(x, y, **kwargs)
        return self.history

    def evaluate(self, x: Any = None, y: Any = None, **kwargs: Any) -> Any:
        """Keras's evaluate: the loss (and metrics) over ``x, y``; the keyword arguments are
        ``tg.train.Trainer.evaluate``'s (batch_size, return_dict, verbose)."""
        return self._get_trainer().evaluate(x, y, **kwargs)

    def predict(self, x: Any, batch_size: int = 32, verbose: Any = 0) -> np.ndarray:
        """The model's outputs for ``x``, computed ``batch_size`` rows at a time."""
        return predict(self, x, batch_size=batch_size)


def load_model(directory) -> Sequential:
    """A model written by ``Sequential.save``. A folder that is not one (bad JSON or UTF-8, a newer
    format_version, fields of the wrong type, an unknown layer, a negative or unknown input
    dimension, weights missing, truncated, corrupted or of other shapes than the architecture
    gives) raises ``ModelFileError`` (a ValueError) naming the file, before any weight is
    allocated."""
    directory = Path(directory)
    config_path = directory / MODEL_FILE
    if not config_path.exists():
        raise FileNotFoundError(f"no {MODEL_FILE} in {os.fspath(directory)!r}: not a saved model")
    config = _read_config(config_path)
    where = repr(os.fspath(config_path))
    try:
        model = Sequential([_layer_from(c) for c in config["layers"]], name=config.get("name"))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
        raise ModelFileError(f"{where}: not a model written by Sequential.save: {e}") from None
    input_shape = _input_shape_from(config, where)
    try:
        expected, shape = [], input_shape
        for layer in model.layers:
            expected += [(layer, s) for s in layer.weight_shapes(shape)]
            shape = layer.compute_output_shape(shape)
    except (TypeError, ValueError) as e:
        raise ModelFileError(
            f"{where}: input_shape {list(input_shape)} does not fit the layers: {e}"
        ) from None
    weights_path = directory / WEIGHTS_FILE
    weights = _read_weights(weights_path)
    # Compared before building: the arrays exist, so a matching model allocates no more than them.
    found = [tuple(w.shape) for w in weights]
    if found != [s for _, s in expected]:
        raise ModelFileError(
            f"{os.fspath(weights_path)!r} holds weights of shapes {found}, but {where} describes "
            f"{[s for _, s in expected]} (layers {[layer.name for layer, _ in expected]})"
        )
    model.build(input_shape)
    model.set_weights(weights)
    for layer in model.layers:
        if isinstance(layer, layers_module.Normalization):
            layer.adapted = True
    return model


def _read_config(path: Path) -> dict:
    where = repr(os.fspath(path))
    try:
        config = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ModelFileError(f"{where} is not UTF-8 text: {e}") from None
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{where} is not valid JSON: {e}") from None
    except RecursionError:
        raise ModelFileError(f"{where} nests too deeply to be a model config") from None
    except OSError as e:
        raise ModelFileError(f"{where} cannot be read: {e}") from None
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ModelFileError(
            f"{where} is not a model config: expected an object with a 'layers' list"
        )
    if not isinstance(config.get("name", ""), (str, type(None))):
        raise ModelFileError(f"{where}: the model name must be a string")
    version = config.get("format_version", 1)
    if type(version) is not int or version < 1:
        raise ModelFileError(f"{where}: format_version must be a positive int, got {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{where} has format_version {version}, written by tapegrad "
            f"{config.get('tapegrad_version', '?')}; this tapegrad ({_tapegrad_version()}) reads "
            f"format_version {FORMAT_VERSION} and older: upgrade tapegrad to load it"
        )
    if not isinstance(config.get("tapegrad_version", ""), str):
        raise ModelFileError(f"{where}: tapegrad_version must be a string")
    return config


# Keys a saved layer config never has: they would build the layer (allocating its weights) or set
# its weights before the file's weights are checked.
_BUILDING_KEYS = {"input_shape", "input_dim", "mean", "variance"}


def _layer_from(entry) -> layers_module.Layer:
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        raise ModelFileError(
            f"a layer entry must be an object with a 'config' object, got {entry!r}"
        )
    building = _BUILDING_KEYS & set(entry["config"])
    if building:
        raise ModelFileError(f"layer config keys {sorted(building)} are not part of a saved model")
    return layers_module.deserialize(entry["class_name"], entry["config"])


def _input_shape_from(config: dict, where: str) -> tuple:
    shape = config.get("input_shape")
    if shape is None:
        raise ModelFileError(f"{where} has no input_shape; cannot rebuild the model")
    ok = isinstance(shape, list) and len(shape) >= 1
    for d in shape if ok else ():
        ok = ok and (d is None or (type(d) is int and d >= 0))
    if not ok:
        raise ModelFileError(
            f"{where}: input_shape must be a list of non-negative ints or nulls (the batch "
            f"dimension first), got {shape!r}"
        )
    return tuple(shape)


def _read_weights(path: Path) -> list[np.ndarray]:
    """The arrays of a ``save_weights`` file in order, each header checked against the bytes
    stored (np.load allocates what a header claims before reading)."""
    where = repr(os.fspath(path))
    if not path.exists():
        raise ModelFileError(f"{where} is missing: the model folder holds no weights")
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise ModelFileError(f"member {info.filename!r} is not an array")
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version not in ((1, 0), (2, 0)):
                        raise ModelFileError(f"array {info.filename!r} has .npy version {version}")
                    read_header = getattr(np.lib.format, f"read_array_header_{version[0]}_0")
                    shape, _, dtype = read_header(f)
                if dtype.kind != "f" and info.filename != "__names__.npy":
                    raise ModelFileError(f"array {info.filename!r} has dtype {dtype}, not floating")
                if math.prod(shape) * dtype.itemsize > info.file_size:
                    raise ModelFileError(
                        f"array {info.filename!r} of shape {shape} needs more bytes than the "
                        f"{info.file_size} stored"
                    )
        with np.load(path, allow_pickle=False) as data:
            return [data[k] for k in sorted(data.files) if k != "__names__"]
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
        raise ModelFileError(
            f"{where} is not a weights file written by save_weights: {e}"
        ) from None


__all__ = ["FORMAT_VERSION", "ModelFileError", "Sequential", "load_model"]
