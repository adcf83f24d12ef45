"""``from tapegrad import keras``: the Keras names TensorFlow tutorials use."""

from . import optimizers  # noqa: F401
