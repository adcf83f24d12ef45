"""Graph shapes the reverse sweep must handle: very long chains (iterative sweep, no recursion),
diamonds and reuse (one accumulation per use), wide fan-out, partial paths, many sources."""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest

import tapegrad as tg

N = 100_000
# A loose bound against quadratic sweeps; .ci/run's sanitized build (TAPEGRAD_SANITIZED=1) runs
# every op several times slower, so there only the results are checked.
TIME_LIMIT = float("inf") if os.environ.get("TAPEGRAD_SANITIZED") == "1" else 10.0


def val(t):
    assert t is not None, "expected a gradient, got None"
    return np.asarray(t, dtype=np.float64)


@pytest.fixture
def low_recursion_limit():
    # a recursive sweep (or recursive destructor chain reaching Python) would blow this limit
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(500)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chain_of_100k_multiplies_exact_gradient(dtype, low_recursion_limit):
    c = dtype(1.0000001)
    x = tg.constant(np.array(1.0, dtype=dtype))
    start = time.perf_counter()
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = x
        for _ in range(N):
            y = y * 1.0000001
        assert tape.num_nodes == N
    g = tape.gradient(y, x)
    elapsed = time.perf_counter() - start
    # the sweep multiplies the seed by c once per node, in the dtype: replay that exactly
    expected = dtype(1.0)
    for _ in range(N):
        expected = expected * c
    assert g.dtype == y.dtype
    assert float(g) == float(expected)
    assert float(y) == float(expected)
    assert elapsed < TIME_LIMIT, f"100k-op chain took {elapsed:.1f}s"
    assert tape.num_nodes == 0


def test_chain_of_100k_adds_with_variable(low_recursion_limit):
    x = tg.Variable(3.0)
    start = time.perf_counter()
    with tg.GradientTape(persistent=True) as tape:
        y = x
        for _ in range(N // 2):
            y = y + x * 0.0  # dy/dx = 1 + 0 + 0 + ... exactly
    for _ in range(2):  # persistent: the long sweep can be repeated
        g = tape.gradient(y, x)
        assert float(g) == 1.0
    assert time.perf_counter() - start < TIME_LIMIT
    del tape


def test_long_chain_second_derivative(low_recursion_limit):
    x = tg.constant(np.array(1.5))
    start = time.perf_counter()
    with tg.GradientTape() as outer:
        outer.watch(x)
        with tg.GradientTape() as inner:
            inner.watch(x)
            y = x * x
            for _ in range(20_000):
                y = y + 1.0
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    assert float(dy) == 3.0
    assert float(d2y) == 2.0
    assert time.perf_counter() - start < TIME_LIMIT


def test_deleting_a_long_chain_and_its_tape_is_fine(low_recursion_limit):
    x = tg.Variable(1.0)
    with tg.GradientTape(persistent=True) as tape:
        y = x
        for _ in range(N):
            y = y * 1.0
    assert tape.num_nodes == N
    del tape
    del y
    with tg.GradientTape() as tape:
        z = x * 2.0
    assert float(tape.gradient(z, x)) == 2.0


def test_diamond_b_is_a_plus_a_c_is_b_plus_b():
    a = tg.Variable(1.0)
    with tg.GradientTape() as tape:
        b = a + a
        c = b + b
    assert float(tape.gradient(c, a)) == 4.0


def test_deep_diamond_ladder_doubles_each_level():
    a = tg.constant(np.array(1.0))
    with tg.GradientTape() as tape:
        tape.watch(a)
        y = a
        for _ in range(50):
            y = y + y  # y = 2^50 a
    assert float(tape.gradient(y, a)) == 2.0**50


def test_value_used_by_many_consumers_accumulates_once_per_use():
    x = tg.Variable(2.0)
    with tg.GradientTape() as tape:
        h = x * x  # h used by 100 consumers
        total = h * 1.0
        for k in range(2, 101):
            total = total + h * float(k)
    # d/dx sum_k k*x^2 = 5050 * 2x
    assert float(tape.gradient(total, x)) == 5050.0 * 4.0


def test_same_tensor_as_both_operands():
    x = tg.constant(np.array([1.0, -2.0, 3.0]))
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = tg.reduce_sum(x * x + x / x + tg.maximum(x, x) + tg.pow(x, x))
    xv = np.array([1.0, -2.0, 3.0])
    with np.errstate(invalid="ignore"):
        powgrad = xv**xv * (np.log(np.abs(xv)) + 1.0)
    got = val(tape.gradient(y, x))
    # maximum(x, x): the upstream gradient is passed on exactly once in total (rule 10.10)
    np.testing.assert_allclose(got[[0, 2]], (2 * xv + 0.0 + 1.0 + powgrad)[[0, 2]], rtol=1e-12)


def test_wide_fan_out_and_fan_in():
    w = tg.Variable(np.linspace(-1.0, 1.0, 16))
    with tg.GradientTape() as tape:
        branches = [w * float(k) for k in range(1, 501)]
        total = tg.reduce_sum(tg.stack(branches))
    g = val(tape.gradient(total, w))
    np.testing.assert_array_equal(g, np.full(16, 500 * 501 / 2))


def test_fan_out_through_indexing_accumulates():
    x = tg.Variable(np.arange(5.0))
    with tg.GradientTape() as tape:
        parts = [x[i % 5] * 1.0 for i in range(23)]
        total = parts[0]
        for p in parts[1:]:
            total = total + p
    g = val(tape.gradient(total, x))
    np.testing.assert_array_equal(g, [5.0, 5.0, 5.0, 4.0, 4.0])


def test_only_part_of_the_graph_on_the_source_target_path():
    x = tg.Variable(2.0)
    w = tg.Variable(np.ones((64, 64)))
    other = tg.Variable(3.0)
    with tg.GradientTape(persistent=True) as tape:
        # a large branch that the x -> target path does not go through
        h = w
        for _ in range(30):
            h = tg.tanh(tg.matmul(h, w))
        side = tg.reduce_sum(h)
        main = x * x * other
        target = main + side * 0.0
        unrelated = other * 7.0  # recorded, but not on any path to `target` from x
    gx = tape.gradient(target, x)
    assert float(gx) == 12.0
    gx, gother = tape.gradient(main, [x, other])
    assert float(gx) == 12.0 and float(gother) == 4.0
    assert tape.gradient(main, w) is None
    gw = tape.gradient(target, w)
    assert gw.shape == (64, 64) and np.array_equal(val(gw), np.zeros((64, 64)))
    assert tape.gradient(unrelated, x) is None
    assert float(tape.gradient(unrelated, other)) == 7.0
    del tape


def test_target_not_on_tape_gives_none_for_all_sources():
    x = tg.Variable(1.0)
    y = x * 2.0  # outside any tape
    with tg.GradientTape() as tape:
        z = x * 3.0
    gx = tape.gradient(y, [x])
    assert gx == [None]
    del z


def test_gradients_with_respect_to_many_sources_at_once():
    rng = np.random.default_rng(0)
    xs_np = [rng.standard_normal(3) for _ in range(40)]
    xs = [tg.Variable(a) for a in xs_np]
    with tg.GradientTape() as tape:
        total = tg.constant(np.zeros(3))
        for k, x in enumerate(xs):
            total = total + x * x * float(k)
        loss = tg.reduce_sum(total)
    grads = tape.gradient(loss, xs)
    assert len(grads) == len(xs)
    for k, (g, a) in enumerate(zip(grads, xs_np)):
        if k == 0:
            np.testing.assert_array_equal(val(g), np.zeros(3))
        else:
            np.testing.assert_allclose(val(g), 2.0 * k * a, rtol=1e-14)


def test_sources_at_different_depths_of_one_chain():
    x = tg.constant(np.array(2.0))
    with tg.GradientTape() as tape:
        tape.watch(x)
        a = x * 3.0
        b = a * a
        c = tg.exp(b * 0.01)
    gx, ga, gb, gc = tape.gradient(c, [x, a, b, c])
    cv = np.exp(0.36)
    assert float(gc) == 1.0
    assert float(gb) == pytest.approx(0.01 * cv, rel=1e-14)
    assert float(ga) == pytest.approx(0.01 * cv * 2 * 6.0, rel=1e-14)
    assert float(gx) == pytest.approx(0.01 * cv * 2 * 6.0 * 3.0, rel=1e-14)


def test_variable_read_many_times_sums_every_read():
    v = tg.Variable(2.0)
    with tg.GradientTape() as tape:
        y = v * 1.0
        for _ in range(9):
            y = y + v  # each operator reads the variable again
    assert float(tape.gradient(y, v)) == 10.0


def test_variable_assigned_inside_tape_gradient_sums_reads_of_both_values():
    v = tg.Variable(2.0)
    with tg.GradientTape() as tape:
        y1 = v * v  # reads value 2
        v.assign(5.0)
        y2 = v * v  # reads value 5 (a new tensor id)
        total = y1 + y2
    # d/dv over every read of v: 2*2 + 2*5 (the assign itself is not differentiable)
    assert float(tape.gradient(total, v)) == 14.0
