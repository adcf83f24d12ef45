"""A program written against tapegrad's public API with full annotations.

tests/test_typing.py type-checks it with ``mypy --strict`` (so the stub ``tapegrad/_core`` and the
package's annotations must describe the API truthfully) and runs it (so the program is real).
"""

from __future__ import annotations

import numpy as np

import tapegrad as tg
from tapegrad import keras


def ops() -> tg.Tensor:
    x = tg.constant([[1.0, 2.0], [3.0, 4.0]])
    y = tg.matmul(x, x, transpose_b=True)
    z = tg.reduce_sum(tg.exp(-y) * 2.0 + tg.sqrt(tg.square(x)), axis=1, keepdims=True)
    w = tg.where(tg.greater(z, 1.0), z, tg.zeros_like(z))
    stacked = tg.stack([w, w], axis=0)
    return tg.reshape(tg.cast(stacked, tg.float64), (-1,))


def gradients() -> tuple[float, float]:
    w = tg.Variable(np.full((2, 1), 0.5, np.float32), name="w")
    x = tg.constant([[1.0, 2.0]])
    with tg.GradientTape(persistent=True) as outer:
        with tg.GradientTape() as inner:
            y = tg.reduce_sum(tg.square(tg.matmul(x, w)))
        dy_dw = inner.gradient(y, w)
        s = tg.reduce_sum(dy_dw)
    d2 = outer.gradient(s, w)
    again = outer.gradient(y, [w])
    del outer
    assert isinstance(d2, tg.Tensor) and isinstance(again[0], tg.Tensor)
    return float(tg.reduce_sum(d2)), float(again[0].numpy().sum())


def optimizer_step() -> int:
    w = tg.Variable([1.0, -1.0])
    opt = keras.optimizers.Adam(learning_rate=0.1)
    with tg.GradientTape() as tape:
        loss = tg.reduce_sum(w * w)
    grads = tape.gradient(loss, [w])
    return opt.apply_gradients(zip(grads, [w]))


@tg.function
def compiled_step(x: tg.Tensor) -> tg.Tensor:
    return tg.nn.relu(x) * 2.0


def model() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [2.0], [-1.0]], np.float32)).astype(np.float32)
    net = keras.Sequential(
        [keras.layers.Dense(8, activation="relu", input_shape=(3,)), keras.layers.Dense(1)]
    )
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
    history = net.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert len(history.history["loss"]) == 2
    return net.predict(x[:4])


def main() -> None:
    print(ops().shape, gradients(), optimizer_step())
    print(compiled_step(tg.constant([-1.0, 2.0])).numpy(), model().shape)


if __name__ == "__main__":
    main()
