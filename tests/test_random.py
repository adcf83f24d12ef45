"""tg.random: TensorFlow's global and op seed rule, the generators' distributions, dtypes and
shapes, and bad arguments."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import tapegrad as tg


@pytest.fixture(autouse=True)
def no_global_seed():
    tg.random.set_seed(None)
    yield
    tg.random.set_seed(None)


def values(t) -> np.ndarray:
    return np.array(t.numpy())


# ---- the seed rule ------------------------------------------------------------------------------


@pytest.mark.parametrize("draw", [tg.random.normal, tg.random.uniform, tg.random.truncated_normal])
def test_global_and_op_seed_give_a_sequence_that_set_seed_restarts(draw):
    tg.random.set_seed(1234)
    a1, a2 = values(draw([3], seed=1)), values(draw([3], seed=1))
    assert not np.array_equal(a1, a2)  # the op's counter moves on: A1, then A2
    tg.random.set_seed(1234)
    np.testing.assert_array_equal(values(draw([3], seed=1)), a1)
    np.testing.assert_array_equal(values(draw([3], seed=1)), a2)
    tg.random.set_seed(1235)
    assert not np.array_equal(values(draw([3], seed=1)), a1)


def test_global_seed_without_op_seed_is_reproducible_as_a_sequence():
    tg.random.set_seed(7)
    first = [values(tg.random.uniform([4])) for _ in range(3)]
    assert not np.array_equal(first[0], first[1])
    tg.random.set_seed(7)
    again = [values(tg.random.uniform([4])) for _ in range(3)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_op_seed_without_global_seed_is_reproducible_from_the_start():
    b1, b2 = values(tg.random.normal([5], seed=3)), values(tg.random.normal([5], seed=3))
    assert not np.array_equal(b1, b2)
    tg.random.set_seed(None)  # as a fresh program
    np.testing.assert_array_equal(values(tg.random.normal([5], seed=3)), b1)
    assert tg.random.get_seed(3) == (tg.random.DEFAULT_GRAPH_SEED, 3)


def test_no_seed_at_all_is_nondeterministic():
    assert tg.random.get_seed(None) == (None, None)
    a, b = values(tg.random.uniform([8])), values(tg.random.uniform([8]))
    assert not np.array_equal(a, b)


def test_functions_and_op_seeds_have_their_own_streams():
    tg.random.set_seed(5)
    u1 = values(tg.random.uniform([6], seed=1))
    n1 = values(tg.random.normal([6], seed=1))
    tg.random.set_seed(5)
    u2 = values(tg.random.uniform([6], seed=2))
    assert not np.array_equal(u1, u2)
    assert not np.allclose(n1, u1)


def test_get_seed_counter_follows_tensorflow():
    tg.random.set_seed(11)
    assert tg.random.get_seed(None) == (11, 0)
    assert tg.random.get_seed(None) == (11, 1)
    assert tg.random.get_seed(9) == (11, 9)
    tg.random.set_seed(11)
    assert tg.random.get_seed(None) == (11, 0)


def test_keras_style_set_random_seed_sets_the_global_seed():
    tg.set_random_seed(21)
    a = values(tg.random.normal([4]))
    tg.random.set_seed(21)
    np.testing.assert_array_equal(values(tg.random.normal([4])), a)


# ---- the generators ----------------------------------------------------------------------------


def test_normal_moments():
    tg.random.set_seed(0)
    x = values(tg.random.normal([200_000], mean=2.0, stddev=3.0, dtype=tg.float64))
    assert abs(x.mean() - 2.0) < 0.03 and abs(x.std() - 3.0) < 0.03
    # Box-Muller's tails: about 0.27% beyond three standard deviations
    assert 0.0015 < np.mean(np.abs(x - 2.0) > 9.0) < 0.004


def test_uniform_range_and_moments():
    tg.random.set_seed(0)
    x = values(tg.random.uniform([200_000], minval=-2.0, maxval=3.0))
    assert x.dtype == np.float32
    assert x.min() >= -2.0 and x.max() < 3.0
    assert abs(x.mean() - 0.5) < 0.02
    counts, _ = np.histogram(x, bins=10, range=(-2, 3))
    assert counts.min() > 0.95 * len(x) / 10


def test_uniform_float32_never_reaches_maxval():
    tg.random.set_seed(0)
    x = values(tg.random.uniform([100_000], minval=0.0, maxval=1e-7))
    assert (x < np.float32(1e-7)).all() and (x >= 0).all()


def test_truncated_normal_stays_within_two_stddev():
    tg.random.set_seed(0)
    x = values(tg.random.truncated_normal([100_000], mean=1.0, stddev=0.5, dtype=tg.float64))
    assert np.abs(x - 1.0).max() <= 1.0
    # a normal truncated at two standard deviations has standard deviation 0.8796 sigma
    assert abs(x.std() - 0.5 * 0.87962566) < 0.005


def test_shuffle_permutes_the_first_dimension():
    tg.random.set_seed(3)
    x = np.arange(30.0).reshape(10, 3)
    y = values(tg.random.shuffle(x))
    assert not np.array_equal(x, y)
    np.testing.assert_array_equal(np.sort(y[:, 0]), x[:, 0])
    np.testing.assert_array_equal(y[:, 1] - y[:, 0], np.ones(10))  # rows stay whole
    tg.random.set_seed(3)
    np.testing.assert_array_equal(values(tg.random.shuffle(x)), y)


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64, "float32", np.float64])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 0, 4), (2, 3, 4)])
def test_dtypes_and_shapes(dtype, shape):
    for draw in (tg.random.normal, tg.random.uniform, tg.random.truncated_normal):
        t = draw(list(shape), dtype=dtype, seed=1)
        assert tuple(t.shape) == shape
        assert t.dtype == (tg.float64 if dtype in (tg.float64, np.float64) else tg.float32)


def test_float32_is_the_float64_draw_rounded_and_a_longer_draw_extends_a_shorter_one():
    # counter based: element k depends only on the key and k
    tg.random.set_seed(2)
    single = values(tg.random.normal([10], seed=4))
    tg.random.set_seed(2)
    double = values(tg.random.normal([20], seed=4, dtype=tg.float64))
    np.testing.assert_array_equal(single, double[:10].astype(np.float32))


def test_numbers_do_not_depend_on_the_isa_path():
    code = (
        "import tapegrad as tg, numpy as np; tg.random.set_seed(9); "
        "a = [tg.random.normal([1000], seed=1, dtype=tg.float64), tg.random.uniform([1000]),"
        " tg.random.truncated_normal([1000])]; "
        "print(tg.config()['isa'], ' '.join(np.asarray(t).tobytes().hex() for t in a))"
    )
    outputs = {}
    for isa in ("scalar", "avx2", "avx512"):
        proc = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "TAPEGRAD_ISA": isa},
            capture_output=True,
            text=True,
            check=True,
        )
        last_line = proc.stdout.strip().splitlines()[-1].split()  # after any build messages
        chosen, numbers = last_line[0], last_line[1:]
        outputs[chosen] = numbers
    assert "scalar" in outputs
    assert all(v == outputs["scalar"] for v in outputs.values())


# ---- bad arguments ----------------------------------------------------------------------------


def test_negative_dimension_names_the_shape():
    with pytest.raises(ValueError, match=r"shape \(2, -1\) has a negative dimension"):
        tg.random.normal([2, -1])


@pytest.mark.parametrize("shape", [3, "34", [2.5], [None], [True]])
def test_shape_must_be_integers(shape):
    with pytest.raises(TypeError, match="shape"):
        tg.random.uniform(shape)


@pytest.mark.parametrize("dtype", ["int32", np.complex64, "bogus"])
def test_dtype_must_be_floating(dtype):
    with pytest.raises(TypeError, match="float32 or float64"):
        tg.random.normal([2], dtype=dtype)


def test_bad_parameters():
    with pytest.raises(ValueError, match="minval < maxval"):
        tg.random.uniform([2], minval=1.0, maxval=1.0)
    with pytest.raises(ValueError, match="stddev must be >= 0"):
        tg.random.normal([2], stddev=-1.0)
    with pytest.raises(TypeError, match="mean must be a scalar"):
        tg.random.normal([2], mean=[1.0, 2.0])
    with pytest.raises(TypeError, match="seed must be an integer"):
        tg.random.normal([2], seed=1.5)
    with pytest.raises(TypeError, match="set_seed must be an integer"):
        tg.random.set_seed("1")
    with pytest.raises(ValueError, match="at least one dimension"):
        tg.random.shuffle(3.0)


def test_random_ops_refuse_to_be_traced_into_a_constant():
    @tg.function
    def noisy(x):
        return x + tg.random.normal([2])

    with pytest.raises(RuntimeError, match="traced as a constant"):
        noisy(tg.constant([1.0, 2.0]))
