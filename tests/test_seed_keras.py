"""The seed notebook's cell 5.5 (tf.keras with GradientTape) with only its imports changed:
``import tapegrad as tf``, ``from tapegrad import keras`` and tapegrad.data in place of
scikit-learn's loader, splitter and scaler. Runs a few epochs instead of 100."""

from __future__ import annotations

import warnings

import numpy as np

import tapegrad as tf
from tapegrad import keras


def test_seed_5_5_metric_cell(capsys):
    # In [17]
    metric = keras.metrics.MeanSquaredError()
    print(metric([5.0], [6]))
    print(metric([4.0], [6]))
    assert capsys.readouterr().out == (
        "tg.Tensor(1.0, shape=(), dtype=float32)\ntg.Tensor(2.5, shape=(), dtype=float32)\n"
    )


def test_seed_5_5_training_loop(housing_npz, capsys):
    np.random.seed(0)
    tf.set_random_seed(0)
    # In [12] (imports changed; the data file is the same data set)
    from tapegrad.data import fetch_california_housing

    housing = fetch_california_housing(housing_npz)
    from tapegrad.data import train_test_split

    X_train_all, X_test, y_train_all, y_test = train_test_split(  # noqa: RUF059
        housing.data, housing.target, random_state=1
    )
    X_train, X_val, y_train, y_val = train_test_split(X_train_all, y_train_all, random_state=1)
    from tapegrad.data import StandardScaler

    std_scaler = StandardScaler()
    X_train_scaled = std_scaler.fit_transform(X_train)
    X_val_scaled = std_scaler.transform(X_val)
    X_test_scaled = std_scaler.transform(X_test)
    assert (len(X_train), len(X_val), len(X_test)) == (11610, 3870, 5160)
    assert X_test_scaled.shape == (5160, 8)

    # In [21]
    model = keras.models.Sequential()
    model.add(keras.layers.Dense(128, activation="relu", input_shape=X_train.shape[1:]))
    model.add(keras.layers.Dense(1, activation="relu"))

    # In [19] (3 epochs instead of 100)
    epochs = 3
    batch_size = 32
    steps = len(X_train) // batch_size
    optimizer = keras.optimizers.SGD()
    metric = keras.metrics.MeanSquaredError()

    # In [20]
    def random_batch(x, y, batch_size=32):
        idx = np.random.randint(0, len(x), size=batch_size)
        return x[idx], y[idx]

    # In [28]: the seed's (32, 1) vs (32,) loss call warns naming both shapes, and runs. Python's
    # default filter shows a warning once per calling line (tests/test_losses_metrics.py has
    # "always" showing it at every call).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for epoch in range(epochs):
            metric.reset_states()  # 重置以下epoch
            for step in range(steps):  # noqa: B007
                x_batch, y_batch = random_batch(X_train_scaled, y_train, batch_size=32)
                with tf.GradientTape() as tape:
                    y_hat = model(x_batch)
                    loss = tf.reduce_mean(keras.losses.mean_squared_error(y_hat, y_batch))
                    metric(y_batch, y_hat)
                grads = tape.gradient(loss, model.variables)
                grads_and_vars = zip(grads, model.variables)
                optimizer.apply_gradients(grads_and_vars)
                print("\rEPOCH:", epoch, "train_mse", metric.result().numpy(), end="")
            y_valid_hat = model(X_val_scaled)
            valid_loss = tf.reduce_mean(keras.losses.mean_squared_error(y_val, y_valid_hat))
            print("valid mse", valid_loss.numpy())

    messages = [str(w.message) for w in caught]
    assert any("(32, 1)" in m and "(32,)" in m and "y[:, None]" in m for m in messages), messages
    assert any("(3870,)" in m and "(3870, 1)" in m for m in messages), messages
    assert len(messages) == 2  # once per calling line, not once per step
    lines = [ln for ln in capsys.readouterr().out.split("\n") if ln]
    assert len(lines) == epochs
    last = lines[-1].rsplit("\r", 1)[-1]
    assert last.startswith(f"EPOCH: {epochs - 1} train_mse ")
    valid_mse = float(last.split("valid mse")[-1])
    # aligned loss shapes learn (the seed's broadcasting bug stays at var(y) = 1.33)
    assert valid_mse < 0.9 * np.var(y_val)
