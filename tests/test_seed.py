"""The seed notebook's cells 5.1 to 5.4, run with only the import line changed.

The notebook's code is reproduced literally (its spelling included: ``approximae_derivative``,
``lerning_rate``, ``SGD(lr = learning_rate)``); its printed outputs are the spec, with ``tf.`` in
the printed class names read as ``tg.`` and without TensorFlow's ``id=`` field.
"""

from __future__ import annotations

import re
import subprocess
import sys

import tapegrad as tf
from tapegrad import keras


def test_seed_5_1_derivative_definition(capsys):
    # In [2]
    def f(x):
        return 3.0 * x**2 + 2 * x - 1

    def approximae_derivative(f, x, eta=1e-3):
        return (f(x + eta) - f(x - eta)) / (2 * eta)

    # In [3]
    print(approximae_derivative(f, 1.0))
    assert capsys.readouterr().out == "7.999999999999119\n"
    # the library's own helper is the same central difference
    assert tf.approximate_derivative(f, 1.0) == approximae_derivative(f, 1.0)


def test_seed_5_2_1_in4_non_persistent(capsys):
    x1 = tf.Variable(2.0)
    x2 = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        # 打开一个梯度记录的tape
        z = x1**2 + x2**3
    dz_x1 = tape.gradient(z, x1)  # 参数为y和待求导的参数, tape只能使用一次
    print(dz_x1)

    try:
        dz_x2 = tape.gradient(z, x2)
    except RuntimeError as ex:
        print(ex)
    assert capsys.readouterr().out == (
        "tg.Tensor(4.0, shape=(), dtype=float32)\n"
        "GradientTape.gradient can only be called once on non-persistent tapes.\n"
    )
    assert "dz_x2" not in locals()


def test_seed_5_2_1_in5_persistent(capsys):
    x1 = tf.Variable(2.0)
    x2 = tf.Variable(3.0)
    with tf.GradientTape(persistent=True) as tape:
        # 打开一个梯度记录的tape
        z = x1**2 + x2**3
    dz_x1 = tape.gradient(z, x1)  # 参数为y和待求导的参数, tape只能使用一次
    print(dz_x1)

    try:
        dz_x2 = tape.gradient(z, x2)
        print(dz_x2)
    except RuntimeError as ex:
        print(ex)
    del tape
    assert capsys.readouterr().out == (
        "tg.Tensor(4.0, shape=(), dtype=float32)\ntg.Tensor(27.0, shape=(), dtype=float32)\n"
    )


def test_seed_5_2_1_in6_list_of_sources(capsys):
    x1 = tf.Variable(2.0)
    x2 = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        # 打开一个梯度记录的tape
        z = x1**2 + x2**3
    dz = tape.gradient(z, [x1, x2])  # 参数为y和待求导的参数, tape只能使用一次
    print(dz)
    del tape
    out = capsys.readouterr().out
    assert out == (
        "[<tg.Tensor: shape=(), dtype=float32, numpy=4.0>, "
        "<tg.Tensor: shape=(), dtype=float32, numpy=27.0>]\n"
    )
    assert type(dz) is list


def test_seed_5_2_1_in7_watched_constants(capsys):
    x1 = tf.constant(2.0)
    x2 = tf.constant(3.0)
    with tf.GradientTape() as tape:
        # 打开一个梯度记录的tape
        tape.watch(x1)
        tape.watch(x2)
        z = x1**2 + x2**3
    dz = tape.gradient(z, [x1, x2])  # 参数为y和待求导的参数, tape只能使用一次
    print(dz)
    out = capsys.readouterr().out
    assert out == (
        "[<tg.Tensor: shape=(), dtype=float32, numpy=4.0>, "
        "<tg.Tensor: shape=(), dtype=float32, numpy=27.0>]\n"
    )


def test_seed_5_2_2_in8_two_targets(capsys):
    x = tf.Variable(5.0)
    with tf.GradientTape() as tape:
        z1 = 3 * x
        z2 = x**2
    result = tape.gradient([z1, z2], x)
    print(repr(result))  # the notebook displays the cell's value
    assert capsys.readouterr().out == "<tg.Tensor: shape=(), dtype=float32, numpy=13.0>\n"


def test_seed_5_2_3_in9_second_derivatives(capsys):
    x1 = tf.Variable(2.0)
    x2 = tf.Variable(3.0)

    with tf.GradientTape(persistent=True) as outer_tape:
        with tf.GradientTape(persistent=True) as inner_tape:
            z = x1**2 + x2 + 1
        inner_grads = inner_tape.gradient(z, [x1, x2])

    outer_grads = [outer_tape.gradient(inner_grad, [x1, x2]) for inner_grad in inner_grads]
    print(outer_grads)
    del inner_tape
    del outer_tape
    out = capsys.readouterr().out
    assert out == "[[<tg.Tensor: shape=(), dtype=float32, numpy=2.0>, None], [None, None]]\n"


def test_seed_5_3_in10_gradient_descent(capsys):
    lerning_rate = 0.1

    def f(x):
        return x**2 - x * 2 + 1

    x = tf.Variable(0.0)
    for _ in range(100):
        with tf.GradientTape() as tape:
            z = f(x)
        grad = tape.gradient(z, x)
        x.assign_sub(lerning_rate * grad)  # Varible不能使用=更新
    print(x)
    assert capsys.readouterr().out == (
        "<tg.Variable 'Variable:0' shape=() dtype=float32, numpy=0.9999999>\n"
    )


def test_seed_5_4_in11_optimizer(capsys):
    learning_rate = 0.1

    def f(x):
        return x**2 - x * 2 + 1

    x = tf.Variable(0.0)
    optimizer = keras.optimizers.SGD(lr=learning_rate)
    for _ in range(100):
        with tf.GradientTape() as tape:
            z = f(x)
        grad = tape.gradient(z, x)
        optimizer.apply_gradients([(grad, x)])  # 使用apply_gradients来更新[(梯度，参数),.....]

    print(x)
    assert capsys.readouterr().out == (
        "<tg.Variable 'Variable:0' shape=() dtype=float32, numpy=0.9999999>\n"
    )


def test_python_dash_m_tapegrad_prints_the_seed_values():
    proc = subprocess.run(
        [sys.executable, "-m", "tapegrad"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    expected_in_order = [
        "7.999999999999119",
        "tg.Tensor(4.0, shape=(), dtype=float32)",
        "GradientTape.gradient can only be called once on non-persistent tapes.",
        "tg.Tensor(4.0, shape=(), dtype=float32)",
        "tg.Tensor(27.0, shape=(), dtype=float32)",
        "[<tg.Tensor: shape=(), dtype=float32, numpy=4.0>, "
        "<tg.Tensor: shape=(), dtype=float32, numpy=27.0>]",
        "<tg.Tensor: shape=(), dtype=float32, numpy=13.0>",
        "[[<tg.Tensor: shape=(), dtype=float32, numpy=2.0>, None], [None, None]]",
        "<tg.Variable 'Variable:0' shape=() dtype=float32, numpy=0.9999999>",
        "<tg.Variable 'Variable:0' shape=() dtype=float32, numpy=0.9999999>",
    ]
    pos = 0
    for line in expected_in_order:
        found = out.find(line, pos)
        assert found >= 0, f"{line!r} missing (after offset {pos}) in:\n{out}"
        pos = found + len(line)
    assert "Traceback" not in proc.stderr
    assert not re.search(r"\bnan\b", out)
