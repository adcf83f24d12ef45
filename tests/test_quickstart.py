"""TensorFlow's quickstart tutorials written with only the import changed, on the 8x8 digits
that ship with tapegrad: the beginner's Keras flow and the expert's GradientTape loop (a
tf.function step, SparseCategoricalCrossentropy from logits, Adam, Mean and
SparseCategoricalAccuracy metrics, a shuffled and batched tf.data pipeline)."""

from __future__ import annotations

import numpy as np

import tapegrad as tf  # the only line that differs from the tutorials


def digits_split():
    X, y, _names, _source = tf.data.load_digits()
    x_train, x_test, y_train, y_test = tf.data.train_test_split(
        X, y, test_size=0.25, random_state=0
    )
    return (x_train / 16.0).astype("float32"), y_train, (x_test / 16.0).astype("float32"), y_test


def test_beginner_quickstart_keras_flow():
    x_train, y_train, x_test, y_test = digits_split()
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.models.Sequential(
        [
            tf.keras.layers.Flatten(input_shape=(64,)),
            tf.keras.layers.Dense(128, activation="relu"),
            tf.keras.layers.Dropout(0.2),
            tf.keras.layers.Dense(10),
        ]
    )
    predictions = model(x_train[:1]).numpy()
    probabilities = tf.nn.softmax(predictions).numpy()
    assert probabilities.shape == (1, 10) and abs(probabilities.sum() - 1.0) < 1e-5
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert abs(float(loss_fn(y_train[:1], predictions).numpy()) - np.log(10)) < 1.0
    model.compile(optimizer="adam", loss=loss_fn, metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=20, verbose=0)
    _loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.95, accuracy
    probability_model = tf.keras.Sequential([model, tf.keras.layers.Softmax()])
    probs = probability_model(x_test[:5]).numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_expert_quickstart_gradient_tape_loop():
    x_train, y_train, x_test, y_test = digits_split()
    tf.random.set_seed(0)
    tf.keras.utils.set_random_seed(0)
    train_ds = tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(10000).batch(32)
    test_ds = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(32)
    model = tf.keras.models.Sequential(
        [
            tf.keras.layers.Flatten(input_shape=(64,)),
            tf.keras.layers.Dense(128, activation="relu"),
            tf.keras.layers.Dense(10),
        ]
    )
    loss_object = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = tf.keras.optimizers.Adam()
    train_loss = tf.keras.metrics.Mean(name="train_loss")
    train_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(name="train_accuracy")
    test_loss = tf.keras.metrics.Mean(name="test_loss")
    test_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(name="test_accuracy")

    @tf.function
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            predictions = model(images, training=True)
            loss = loss_object(labels, predictions)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        train_loss(loss)
        train_accuracy(labels, predictions)

    @tf.function
    def test_step(images, labels):
        predictions = model(images, training=False)
        t_loss = loss_object(labels, predictions)
        test_loss(t_loss)
        test_accuracy(labels, predictions)

    for _epoch in range(20):
        train_loss.reset_state()
        train_accuracy.reset_state()
        test_loss.reset_state()
        test_accuracy.reset_state()
        for images, labels in train_ds:
            train_step(images, labels)
        for test_images, test_labels in test_ds:
            test_step(test_images, test_labels)
    assert float(test_accuracy.result()) >= 0.95, float(test_accuracy.result())
    assert float(train_loss.result()) < 0.2
    # Two batch sizes (32 and the remainder) were traced, then replayed.
    assert train_step.experimental_get_tracing_count() <= 2
