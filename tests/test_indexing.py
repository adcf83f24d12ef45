"""Indexing agrees with NumPy: random index expressions over random shapes, checked for the
result's shape and values, the error type, and the gradient of ``reduce_sum(x[key] * w)``
against a scatter-add (``np.add.at``) of w into the positions ``key`` reads."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

import tapegrad as tg

N_CASES = 10_000
HUGE = 2**62


def random_shape(rng: random.Random) -> tuple:
    rank = rng.choice([0, 1, 1, 2, 2, 2, 3, 3, 4])
    return tuple(
        rng.choice([0, 1, 2, 3, 3, 4, 5]) if rng.random() < 0.1 else rng.randint(1, 5)
        for _ in range(rank)
    )


def random_int(rng: random.Random, n: int) -> int:
    r = rng.random()
    if r < 0.05:
        return rng.choice([n, -n - 1, n + 3, 2**40, -(2**40)])  # out of range
    if n == 0:
        return rng.choice([0, -1])
    return rng.randint(-n, n - 1)


def random_slice(rng: random.Random, n: int) -> slice:
    def bound():
        r = rng.random()
        if r < 0.3:
            return None
        if r < 0.35:
            return rng.choice([HUGE, -HUGE, 2**70])
        return rng.randint(-n - 2, n + 2)

    step = rng.choice([None, None, 1, 1, 2, 3, -1, -1, -2, -3, HUGE, -HUGE])
    return slice(bound(), bound(), step)


def random_int_array(rng: random.Random, n: int, np_rng: np.random.Generator):
    shape = rng.choice([(), (1,), (2,), (3,), (2, 1), (1, 3), (2, 3), (0,), (2, 2)])
    # in range, negative too (an empty axis has no valid index: 0 is out of range there)
    values = np_rng.integers(-n, n, size=shape) if n > 0 else np.zeros(shape, np.int64)
    if rng.random() < 0.03 and values.size:
        values.flat[0] = rng.choice([n, -n - 1])
    r = rng.random()
    if r < 0.2 and values.ndim >= 1:
        return values.tolist()
    if r < 0.25:
        return values.astype(np.int32)
    return values


def random_mask(rng: random.Random, shape: tuple, axis: int, np_rng: np.random.Generator):
    if axis < len(shape) - 1 and rng.random() < 0.25:
        dims = shape[axis : axis + 2]  # a 2-D mask over two axes
    else:
        dims = shape[axis : axis + 1] or (rng.randint(0, 3),)
    if rng.random() < 0.15:
        dims = tuple(d + rng.choice([-1, 1]) if d > 0 else 1 for d in dims)  # wrong length
    mask = np_rng.random(dims) < 0.5
    return mask.tolist() if rng.random() < 0.2 else mask


def random_key(rng: random.Random, shape: tuple, np_rng: np.random.Generator):
    rank = len(shape)
    items = []
    axis = 0
    has_ellipsis = False
    for _ in range(rng.randint(0, rank + 2)):
        n = shape[axis] if axis < rank else rng.randint(0, 3)
        r = rng.random()
        if r < 0.22:
            items.append(random_int(rng, n))
            axis += 1
        elif r < 0.45:
            items.append(random_slice(rng, n))
            axis += 1
        elif r < 0.55:
            items.append(None)
        elif r < 0.62:
            if has_ellipsis and rng.random() < 0.7:
                continue
            items.append(Ellipsis)
            has_ellipsis = True
            axis = max(axis, rank - rng.randint(0, 2))
        elif r < 0.82:
            items.append(random_int_array(rng, n, np_rng))
            axis += 1
        elif r < 0.92:
            mask = random_mask(rng, shape, axis, np_rng)
            items.append(mask)
            axis += np.ndim(mask)
        elif r < 0.97:
            items.append(rng.choice([True, False, np.True_, np.False_, np.array(True)]))
        elif r < 0.985:
            items.append(rng.choice([1.0, "a", slice(1.5, None), slice(None, None, 0.5)]))
            axis += 1
        else:
            items.append(np.array([0.0, 1.0]))  # float arrays are not indices in NumPy
            axis += 1
    r = rng.random()
    if len(items) == 1 and r < 0.4:
        return items[0]
    return tuple(items)


def numpy_result(xn: np.ndarray, key):
    try:
        return xn[key], None
    except (IndexError, TypeError, ValueError) as e:
        return None, type(e)


def positions_read(shape: tuple, key) -> np.ndarray:
    """Flat positions of x that x[key] reads, in the result's layout."""
    return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)[key]


def check_case(rng: random.Random, np_rng: np.random.Generator, case: int) -> str:
    shape = random_shape(rng)
    key = random_key(rng, shape, np_rng)
    xn = np.arange(1, int(np.prod(shape)) + 1, dtype=np.float64).reshape(shape)
    expected, err = numpy_result(xn, key)
    x = tg.constant(xn)

    def where():  # built only on failure: printing every key would be most of the run time
        return f"case {case}: x of shape {shape}, key {key!r}"

    if err is not None:
        with pytest.raises(err):
            x[key]
        return "error"
    with tg.GradientTape() as tape:
        tape.watch(x)
        y = x[key]
        w = np_rng.standard_normal(expected.shape)
        loss = tg.reduce_sum(y * tg.constant(w))
    got = y.numpy()
    assert got.shape == expected.shape, f"{where()}: shape {got.shape}, NumPy {expected.shape}"
    if not np.array_equal(got, expected):
        np.testing.assert_array_equal(got, expected, err_msg=where())
    grad = tape.gradient(loss, x, unconnected_gradients="zero").numpy().ravel()
    reference = np.zeros(xn.size)
    np.add.at(reference, positions_read(shape, key).ravel(), np.asarray(w).ravel())
    if not np.allclose(grad, reference, rtol=1e-12, atol=1e-12):
        np.testing.assert_allclose(grad, reference, rtol=1e-12, atol=1e-12, err_msg=where())
    return "ok"


def test_random_index_expressions_agree_with_numpy():
    rng = random.Random(16)
    np_rng = np.random.default_rng(16)
    outcomes = {"ok": 0, "error": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's own deprecations must not change its answer
        for case in range(N_CASES):
            outcomes[check_case(rng, np_rng, case)] += 1
    # Both sides of the comparison are exercised: results and errors.
    assert outcomes["ok"] > N_CASES // 2 and outcomes["error"] > N_CASES // 20, outcomes


@pytest.mark.parametrize(
    ("shape", "key", "expected_shape"),
    [
        ((5, 4, 3, 2), (4, None, None, [[0, 1]]), (1, 2, 1, 1, 3, 2)),  # separated: advanced first
        ((5, 4, 3), (slice(None), [0, 1], [1, 2]), (5, 2)),  # adjacent: in place
        ((5, 4, 3), ([0, 1], slice(None), [1, 2]), (2, 4)),
        ((2, 3), ([0], Ellipsis, [0]), (1,)),  # an empty ellipsis separates nothing
        ((2, 3, 4), ([0], Ellipsis, [0]), (1, 3)),
        ((2, 3), True, (1, 2, 3)),
        ((2, 3), False, (0, 2, 3)),
        ((), True, (1,)),
        ((2, 3), (np.array(True), [0, 1]), (2, 3)),
        ((2, 3), [], (0, 3)),
        ((2, 3), np.ones((2, 3), bool), (6,)),
        ((2, 3, 4), (slice(None), np.ones((3, 4), bool)), (2, 12)),
        ((4, 5), ([[0], [3]], [1, 2, 4]), (2, 3)),  # broadcasting pair
    ],
    ids=str,
)
def test_numpy_placement_of_advanced_axes(shape, key, expected_shape):
    xn = np.arange(float(np.prod(shape))).reshape(shape)
    assert xn[key].shape == expected_shape
    got = tg.constant(xn)[key]
    assert got.shape == expected_shape
    np.testing.assert_array_equal(got.numpy(), xn[key])


@pytest.mark.parametrize(
    ("key", "error"),
    [
        ((slice(None), np.ones(5, bool)), IndexError),  # a mask of the wrong length
        (np.ones(5, bool), IndexError),
        (([0, 1], [0, 1, 2]), IndexError),  # index arrays that do not broadcast
        (np.array([0.0]), IndexError),
        (1.0, IndexError),
        (slice(1.5, None), TypeError),
        ((0, 0, 0), IndexError),
        (2**70, IndexError),
        (np.array([2**64 - 1], np.uint64), IndexError),  # not -1 after a cast to int64
    ],
    ids=str,
)
def test_bad_indices_raise_numpys_error_type(key, error):
    x = tg.constant(np.ones((4, 4)))
    with pytest.raises(error):
        x[key]
    with pytest.raises(error):
        tg.Variable(np.ones((4, 4)))[key]


def test_whole_number_tensor_indices_gather():
    x = tg.constant(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(
        x[tg.constant([2.0, 0.0])].numpy(), np.arange(12.0).reshape(3, 4)[[2, 0]]
    )
    with pytest.raises(IndexError):
        x[tg.constant([0.5])]
