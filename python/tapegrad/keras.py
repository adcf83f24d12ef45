"""``from tapegrad import keras``: the Keras names TensorFlow tutorials use
(``keras.models``, ``keras.layers``, ``keras.optimizers``, ``keras.losses``, ``keras.metrics``)."""

from types import SimpleNamespace

from . import activations, callbacks, initializers, layers, losses, metrics, models, optimizers

utils = SimpleNamespace(set_random_seed=initializers.set_random_seed)
Sequential = models.Sequential  # tf.keras.Sequential

__all__ = [
    "Sequential",
    "activations",
    "callbacks",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "utils",
]
