"""tg.data.Dataset: TensorFlow's pipeline semantics (structure, dtypes, shuffle buffer and seeds,
batch, repeat, take, skip, map), the array plan for the Trainer, and bad arguments."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.data import AUTOTUNE, INFINITE_CARDINALITY, Dataset

Dataset_ = tg.data.Dataset


@pytest.fixture(autouse=True)
def no_global_seed():
    tg.random.set_seed(None)
    yield
    tg.random.set_seed(None)


def rows(ds) -> list:
    """The first component of each element (scalars) as Python numbers."""
    out = []
    for e in ds.as_numpy_iterator():
        first = e[0] if isinstance(e, tuple) else e
        out.extend(np.atleast_1d(first).tolist())
    return out


# ---- structure and dtypes ----------------------------------------------------------------------


def test_tuple_elements_are_tensors_with_the_arrays_dtypes():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6, dtype=np.float64)
    elements = list(Dataset.from_tensor_slices((X, y)))
    assert len(elements) == 6
    for i, (a, b) in enumerate(elements):
        assert isinstance(a, tg.Tensor) and isinstance(b, tg.Tensor)
        assert a.dtype == tg.float32 and b.dtype == tg.float64
        assert tuple(a.shape) == (2,) and tuple(b.shape) == ()
        np.testing.assert_array_equal(a.numpy(), X[i])
        assert float(b) == y[i]


def test_integer_labels_stay_integer_inside_and_convert_like_tg_constant():
    labels = np.array([3, 1, 2, 0], dtype=np.int64)
    ds = Dataset.from_tensor_slices((np.zeros((4, 2), np.float32), labels)).batch(2)
    numpy_batches = list(ds.as_numpy_iterator())
    assert numpy_batches[0][1].dtype == np.int64
    np.testing.assert_array_equal(numpy_batches[1][1], [2, 0])
    tensor_batches = list(ds)
    assert tensor_batches[0][1].dtype == tg.constant(labels).dtype
    np.testing.assert_array_equal(np.asarray(tensor_batches[0][1]), [3, 1])
    unbatched = next(iter(Dataset.from_tensor_slices(labels)))
    assert unbatched.dtype == tg.constant(labels[:1]).dtype


def test_dict_and_nested_elements():
    X = np.arange(8.0).reshape(4, 2)
    ds = Dataset.from_tensor_slices({"x": X, "pair": (np.arange(4.0), np.ones(4))})
    first = next(iter(ds))
    assert set(first) == {"x", "pair"}
    assert isinstance(first["pair"], tuple) and len(first["pair"]) == 2
    np.testing.assert_array_equal(first["x"].numpy(), X[0])
    batch = next(iter(ds.batch(3)))
    assert tuple(batch["x"].shape) == (3, 2) and tuple(batch["pair"][1].shape) == (3,)
    spec = ds.element_spec
    assert spec["x"] == tg.TensorSpec((2,), tg.float64)


def test_namedtuple_elements_keep_their_type():
    Pair = namedtuple("Pair", "features label")
    ds = Dataset.from_tensor_slices(Pair(np.ones((3, 2)), np.arange(3.0))).batch(2)
    b = next(iter(ds))
    assert isinstance(b, Pair) and tuple(b.features.shape) == (2, 2)


def test_single_component_and_tensor_and_list_inputs():
    x = tg.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    batches = list(Dataset.from_tensor_slices(x).batch(2))
    assert all(isinstance(b, tg.Tensor) for b in batches)
    np.testing.assert_array_equal(batches[1].numpy(), [[5.0, 6.0]])
    from_list = list(Dataset.from_tensor_slices([1.0, 2.0, 3.0]))
    assert [float(t) for t in from_list] == [1.0, 2.0, 3.0]
    assert from_list[0].dtype == tg.constant([1.0]).dtype


def test_the_dataset_keeps_its_own_copy_of_the_arrays():
    X = np.arange(4.0)
    ds = Dataset.from_tensor_slices(X)
    X[0] = 100.0
    assert rows(ds) == [0.0, 1.0, 2.0, 3.0]


def test_from_tensors_is_one_element():
    ds = Dataset.from_tensors((np.ones((3, 2)), 5.0))
    assert len(ds) == 1
    (a, b), *rest = list(ds)
    assert not rest and tuple(a.shape) == (3, 2) and float(b) == 5.0
    batched = list(ds.repeat(5).batch(2))
    assert [tuple(t[0].shape) for t in batched] == [(2, 3, 2), (2, 3, 2), (1, 3, 2)]


# ---- batch -------------------------------------------------------------------------------------


def test_batch_sizes_and_drop_remainder():
    X = np.arange(10.0)
    ds = Dataset.from_tensor_slices(X)
    assert [len(b) for b in ds.batch(4).as_numpy_iterator()] == [4, 4, 2]
    assert [len(b) for b in ds.batch(4, drop_remainder=True).as_numpy_iterator()] == [4, 4]
    assert len(ds.batch(4)) == 3 and len(ds.batch(4, drop_remainder=True)) == 2
    assert ds.batch(4).element_spec == tg.TensorSpec((None,), tg.float64)
    assert ds.batch(4, drop_remainder=True).element_spec == tg.TensorSpec((4,), tg.float64)
    np.testing.assert_array_equal(np.concatenate(list(ds.batch(3).as_numpy_iterator())), X)


def test_tensor_iteration_and_numpy_iteration_agree():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 3)), rng.integers(0, 5, size=50)
    ds = Dataset.from_tensor_slices((X, y)).shuffle(50, seed=3, reshuffle_each_iteration=False)
    ds = ds.batch(8)
    for (a, b), (na, nb) in zip(ds, ds.as_numpy_iterator()):
        np.testing.assert_array_equal(a.numpy(), na)
        np.testing.assert_array_equal(np.asarray(b), nb)


# ---- shuffle -----------------------------------------------------------------------------------


def test_shuffle_is_deterministic_for_a_seed():
    X = np.arange(100.0)
    a = rows(Dataset.from_tensor_slices(X).shuffle(100, seed=5))
    b = rows(Dataset.from_tensor_slices(X).shuffle(100, seed=5))
    c = rows(Dataset.from_tensor_slices(X).shuffle(100, seed=6))
    assert a == b and a != c
    assert sorted(a) == X.tolist() and a != X.tolist()


def test_global_seed_makes_seedless_shuffles_reproducible():
    X = np.arange(50.0)
    tg.random.set_seed(8)
    a1 = rows(Dataset.from_tensor_slices(X).shuffle(50))
    a2 = rows(Dataset.from_tensor_slices(X).shuffle(50))
    assert a1 != a2  # each shuffle takes the next op seed
    tg.random.set_seed(8)
    assert rows(Dataset.from_tensor_slices(X).shuffle(50)) == a1


def test_reshuffle_each_iteration():
    ds = Dataset.from_tensor_slices(np.arange(40.0))
    reshuffled = ds.shuffle(40, seed=1)
    first, second = rows(reshuffled), rows(reshuffled)
    assert first != second and sorted(first) == sorted(second)
    fixed = ds.shuffle(40, seed=1, reshuffle_each_iteration=False)
    assert rows(fixed) == rows(fixed) == first  # the first pass is the same either way


def test_small_buffer_is_a_sliding_window_permutation():
    n, k = 200, 10
    out = rows(Dataset.from_tensor_slices(np.arange(float(n))).shuffle(k, seed=2))
    assert sorted(out) == list(range(n))
    # the buffer holds k elements: the i-th output is one of the first i + k inputs
    assert all(v < i + k for i, v in enumerate(out))
    assert out != sorted(out)
    assert rows(Dataset.from_tensor_slices(np.arange(9.0)).shuffle(1, seed=2)) == list(range(9))


def test_full_buffer_shuffles_uniformly():
    ds = Dataset.from_tensor_slices(np.arange(10.0))
    firsts = np.array([rows(ds.shuffle(10, seed=s))[0] for s in range(2000)])
    counts = np.bincount(firsts.astype(int), minlength=10)
    assert counts.min() > 140 and counts.max() < 260  # 200 expected each


def test_shuffle_after_batch_shuffles_whole_batches():
    ds = Dataset.from_tensor_slices(np.arange(20.0)).batch(4).shuffle(5, seed=1)
    batches = list(ds.as_numpy_iterator())
    assert sorted(b[0] for b in batches) == [0, 4, 8, 12, 16]
    assert all(np.array_equal(b, np.arange(b[0], b[0] + 4)) for b in batches)
    assert [b[0] for b in batches] != [0, 4, 8, 12, 16] or [
        b[0] for b in ds.as_numpy_iterator()
    ] != [0, 4, 8, 12, 16]


# ---- repeat, take, skip, prefetch ----------------------------------------------------------------


def test_repeat_take_skip():
    ds = Dataset.from_tensor_slices(np.arange(5.0))
    assert rows(ds.repeat(2)) == [0, 1, 2, 3, 4] * 2
    assert len(ds.repeat(3)) == 15 and len(ds.repeat(0)) == 0
    assert ds.repeat().cardinality() == INFINITE_CARDINALITY
    with pytest.raises(TypeError, match="infinite"):
        len(ds.repeat())
    assert rows(ds.repeat().take(12)) == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    assert rows(ds.take(3)) == [0, 1, 2] and rows(ds.take(-1)) == [0, 1, 2, 3, 4]
    assert rows(ds.skip(3)) == [3, 4] and rows(ds.skip(-1)) == [] and rows(ds.skip(9)) == []
    assert len(ds.skip(3)) == 2 and len(ds.take(9)) == 5 and len(ds.repeat().take(7)) == 7
    assert rows(ds.prefetch(AUTOTUNE)) == rows(ds) and tg.data.AUTOTUNE == AUTOTUNE
    assert rows(ds.take(0).repeat()) == []  # repeating nothing ends


def test_batch_after_repeat_crosses_epochs_and_repeat_after_batch_does_not():
    ds = Dataset.from_tensor_slices(np.arange(5.0))
    assert [b.tolist() for b in ds.repeat(2).batch(4).as_numpy_iterator()] == [
        [0, 1, 2, 3],
        [4, 0, 1, 2],
        [3, 4],
    ]
    assert [len(b) for b in ds.batch(4).repeat(2).as_numpy_iterator()] == [4, 1, 4, 1]
    endless = ds.repeat().batch(3)
    assert endless.cardinality() == INFINITE_CARDINALITY
    assert [b.tolist() for b in endless.take(3).as_numpy_iterator()] == [
        [0, 1, 2],
        [3, 4, 0],
        [1, 2, 3],
    ]
    assert [float(b.numpy()[0]) for b in endless.take(3)] == [0.0, 3.0, 1.0]


def test_shuffle_then_repeat_reshuffles_every_pass():
    ds = Dataset.from_tensor_slices(np.arange(30.0)).shuffle(30, seed=4).repeat(2)
    out = rows(ds)
    assert sorted(out[:30]) == sorted(out[30:]) == list(range(30))
    assert out[:30] != out[30:]
    fixed = Dataset.from_tensor_slices(np.arange(30.0)).shuffle(
        30, seed=4, reshuffle_each_iteration=False
    )
    out = rows(fixed.repeat(2))
    assert out[:30] == out[30:]


# ---- map -----------------------------------------------------------------------------------------


def test_map_unpacks_tuples_and_passes_dicts_whole():
    X, y = np.arange(6.0).reshape(3, 2), np.arange(3.0)
    seen = []

    def scale(x, label):
        seen.append((type(x), type(label)))
        return x * 2.0, label + 1.0

    out = list(Dataset.from_tensor_slices((X, y)).map(scale).batch(3))
    assert seen[0] == (tg.Tensor, tg.Tensor)
    np.testing.assert_array_equal(out[0][0].numpy(), X * 2)
    np.testing.assert_array_equal(out[0][1].numpy(), y + 1)
    summed = Dataset.from_tensor_slices({"a": X[:, 0], "b": X[:, 1]}).map(lambda d: d["a"] + d["b"])
    assert [float(t) for t in summed] == [1.0, 5.0, 9.0]


def test_map_after_batch_runs_once_per_batch():
    calls = []
    ds = (
        Dataset.from_tensor_slices(np.arange(10.0))
        .batch(4)
        .map(lambda b: calls.append(1) or b * 10)
    )
    out = list(ds.as_numpy_iterator())
    assert len(calls) == 3 and out[2].tolist() == [80.0, 90.0]
    assert ds.element_spec == tg.TensorSpec((None,), tg.float64) or ds.element_spec.shape == (4,)


def test_map_structure_and_spec_before_iteration():
    ds = (
        Dataset.from_tensor_slices(np.arange(4.0))
        .shuffle(4, seed=1)
        .map(lambda x: {"v": x, "w": x})
    )
    spec = ds.element_spec
    assert set(spec) == {"v", "w"}
    first_pass = [float(e["v"]) for e in ds]
    ref = Dataset.from_tensor_slices(np.arange(4.0)).shuffle(4, seed=1)
    assert first_pass == rows(ref)  # looking at the spec did not use up the first order


def test_map_with_a_changing_structure_is_an_error():
    ds = Dataset.from_tensor_slices(np.arange(3.0)).map(lambda x: (x, x) if float(x) == 0.0 else x)
    with pytest.raises(ValueError, match="different structures"):
        list(ds)


# ---- the Trainer's plan ------------------------------------------------------------------------


def test_array_plan_matches_what_iteration_gives():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10, dtype=np.int64)
    ds = Dataset.from_tensor_slices((X, y)).shuffle(10, seed=7).batch(3).prefetch(1).repeat(2)
    plan = ds._as_array_plan()
    assert plan.batch_size == 3 and not plan.drop_remainder and plan.repeat == 2
    assert plan.shuffle_buffer == 10 and plan.reshuffle_each_iteration
    assert plan.arrays[1].dtype == np.int64 and plan.arrays[0].shape == (10, 2)
    expected = []
    for epoch in range(2):
        order = plan.order(epoch)
        expected += [order[i : i + 3] for i in range(0, 10, 3)]
    got = [b[1] for b in ds.as_numpy_iterator()]
    assert len(got) == len(expected) == 8
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, y[b])


def test_array_plan_without_shuffle_and_for_other_pipelines():
    ds = Dataset.from_tensor_slices(np.arange(5.0))
    plan = ds.batch(2, drop_remainder=True)._as_array_plan()
    assert plan.shuffle_buffer is None and plan.repeat == 1 and plan.drop_remainder
    np.testing.assert_array_equal(plan.order(3), np.arange(5))
    assert ds.batch(2).repeat()._as_array_plan().repeat is None
    assert ds._as_array_plan() is None
    assert ds.map(lambda x: x).batch(2)._as_array_plan() is None
    assert ds.repeat(2).batch(2)._as_array_plan() is None
    assert ds.batch(2).shuffle(2)._as_array_plan() is None


# ---- bad arguments -----------------------------------------------------------------------------


def test_mismatched_first_dimensions_name_the_shapes():
    with pytest.raises(ValueError, match=r"\[0\]: \(4, 2\), \[1\]: \(3,\)"):
        Dataset.from_tensor_slices((np.ones((4, 2)), np.ones(3)))
    with pytest.raises(ValueError, match=r"\['x'\]: \(2,\)"):
        Dataset.from_tensor_slices({"x": np.ones(2), "y": np.ones(3)})


def test_bad_arguments():
    ds = Dataset.from_tensor_slices(np.arange(4.0))
    with pytest.raises(ValueError, match="scalar"):
        Dataset.from_tensor_slices((np.ones(3), 1.0))
    with pytest.raises(TypeError, match="unsupported dtype"):
        Dataset.from_tensor_slices(np.array(["a", "b"]))
    with pytest.raises(TypeError, match="unsupported dtype"):
        Dataset.from_tensor_slices(np.ones(3, np.complex64))
    with pytest.raises(ValueError, match="batch_size must be greater than zero, got 0"):
        ds.batch(0)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        ds.batch(2.0)
    with pytest.raises(ValueError, match="buffer_size must be greater than zero"):
        ds.shuffle(0)
    with pytest.raises(TypeError, match="buffer_size must be an integer"):
        ds.shuffle(None)
    with pytest.raises(ValueError, match="count must be >= -1"):
        ds.repeat(-2)
    with pytest.raises(ValueError, match="count must be >= -1"):
        ds.take(-5)
    with pytest.raises(TypeError, match="map_func must be callable"):
        ds.map(3)
    with pytest.raises(TypeError, match="seed must be an integer"):
        ds.shuffle(4, seed="x")
    with pytest.raises(ValueError, match="different shapes"):
        list(
            Dataset.from_tensor_slices(np.arange(3.0)).map(lambda x: tg.ones([int(x) + 1])).batch(3)
        )


def test_dataset_is_reexported_and_built_by_its_factories():
    assert Dataset_ is Dataset and tg.data.DataBundle is not Dataset
    with pytest.raises(TypeError, match="from_tensor_slices"):
        Dataset()
