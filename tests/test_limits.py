"""Shapes, integers and folders at and past tapegrad's limits (docs/limits.md): every one a clean
ValueError, TypeError or IndexError raised before anything is allocated or recorded, never a
crash, a hang, pybind11's RuntimeError or a silently wrong shape. The reproducers of the
"no input crashes the process" issue come first."""

from __future__ import annotations

import json
import re
import zipfile

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import layers, losses, models
from tapegrad._core import ops as core_ops

TOO_LARGE = r"is too large: .*more than 2\*\*62 bytes"


def too_large(op, shape):
    """The message of check_shape (cpp/include/tapegrad/shape.h) for op and shape."""
    return re.escape(f"{op}: shape {tuple(shape)} ") + TOO_LARGE


def empty_of(shape, dtype=np.float32):
    """A zero-size tensor of `shape`: big extents without big memory."""
    return tg.reshape(tg.zeros((0,), dtype), shape)


# ---- the reproducers --------------------------------------------------------------------


def test_broadcast_to_2_62_rows_is_a_value_error_not_a_segfault():
    x = tg.constant(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=too_large("broadcast_to", (2**62, 4, 3))):
        tg.transpose(tg.broadcast_to(x, (2**62, 4, 3)))


def test_broadcast_whose_count_wraps_to_minus_one_is_a_value_error():
    with pytest.raises(ValueError, match=too_large("broadcast_to", (2**32 + 1, 2**32 - 1))):
        y = tg.broadcast_to(tg.constant(1.0), (2**32 + 1, 2**32 - 1))
        tg.concat([y, y], 0)


def test_reshape_whose_count_wraps_to_zero_is_a_value_error_not_a_hang():
    with pytest.raises(ValueError, match=too_large("reshape", (2**32, 2**32))):
        tg.reduce_sum(tg.reshape(tg.zeros((0,)), (2**32, 2**32)), axis=1)
    wrapped = "cannot reshape a tensor of shape (0,) into shape (4294967296, 4294967296, -1)"
    with pytest.raises(ValueError, match=re.escape(wrapped)):
        tg.reshape(tg.zeros((0,)), (2**32, 2**32, -1))


def test_reshape_to_minus_one_keeps_the_true_count():
    big = empty_of((0, 2**30, 2**30))  # 2**62 bytes if it held data: the limit, allowed
    assert big.shape == (0, 2**30, 2**30)
    assert tg.reshape(big, (-1,)).shape == (0,)
    assert tg.reduce_sum(big, axis=1).shape == (0, 2**30)
    with pytest.raises(ValueError, match=TOO_LARGE):
        empty_of((0, 2**30, 2**30 + 1))


def test_a_dimension_past_int64_is_a_value_error_not_a_cast_runtime_error():
    x = tg.constant(np.ones(4, np.float32))
    for shape in [(2**64,), (2, 2**64), [2**63], np.array([2**64 - 1], np.uint64)]:
        big = r"(18446744073709551616|9223372036854775808|18446744073709551615)"
        with pytest.raises(ValueError, match=rf"shape {big} does not fit"):
            tg.reshape(x, shape)
    with pytest.raises(ValueError, match="shape of 10001 bits does not fit"):
        tg.reshape(x, (2**10000,))  # too long for str(): named by its size
    with pytest.raises(ValueError, match="does not fit in a 64-bit integer"):
        tg.reshape(x, tg.constant([1e30]))
    with pytest.raises(ValueError, match="does not fit in a 64-bit integer"):
        tg.reshape(x, tg.constant([np.nan]))


def test_set_num_threads_refuses_2_31_minus_1():
    before = tg.num_threads()
    with pytest.raises(ValueError, match="between 1 and 1024, got 2147483647"):
        tg.set_num_threads(2**31 - 1)
    assert tg.num_threads() == before


def test_normalization_on_an_inner_axis_of_3d_input():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((5, 4, 3)) * np.arange(1, 5)[None, :, None] + 2.0
    norm = layers.Normalization(axis=1)
    norm.adapt(data)
    mean = data.mean(axis=(0, 2), keepdims=True)
    std = data.std(axis=(0, 2), keepdims=True)
    np.testing.assert_allclose(norm(data).numpy(), (data - mean) / std, rtol=1e-4, atol=1e-5)
    norm2 = layers.Normalization(axis=-2)
    norm2.adapt(data)
    np.testing.assert_allclose(norm2(data).numpy(), (data - mean) / std, rtol=1e-4, atol=1e-5)


# ---- shapes checked everywhere they are computed ------------------------------------------------


def test_makers_refuse_shapes_past_the_limit():
    for shape in [(2**64,), (2**32, 2**32), (-1,)]:
        with pytest.raises(ValueError):
            tg.zeros(shape)
        with pytest.raises(ValueError):
            tg.ones(shape)
    with pytest.raises(ValueError, match=too_large("broadcast_to", (2**62, 4))):
        tg.constant(1.0, shape=(2**62, 4))
    with pytest.raises(ValueError, match=too_large("reshape", (2**62, 4, 3))):
        tg.constant(np.ones(3), shape=(2**62, 4, 3))
    with pytest.raises(ValueError, match="shape 18446744073709551616 does not fit"):
        tg.constant(1.0, shape=(2**64,))
    with pytest.raises(ValueError, match="negative dimension"):
        tg.broadcast_to(tg.constant(1.0), (3, -2))


@pytest.mark.parametrize(
    "name, op",
    [
        ("add", tg.add),
        ("multiply", tg.multiply),
        ("maximum", tg.maximum),
        ("where", lambda a, b: tg.where(tg.constant(True), a, b)),
        ("mean_squared_error", lambda a, b: core_ops.mean_squared_error(a, b)),
    ],
)
def test_broadcasts_past_the_limit_record_nothing(name, op):
    a = empty_of((0, 2**40, 1))
    b = empty_of((0, 1, 2**40), np.float64)  # mixed dtypes: the promoting cast must not record
    with tg.GradientTape() as tape:
        tape.watch(a)
        tape.watch(b)
        with pytest.raises(ValueError, match=too_large(name, (0, 2**40, 2**40))):
            op(a, b)
    assert tape.num_nodes == 0


def test_matmul_dense_concat_stack_past_the_limit_record_nothing():
    a = empty_of((2**31, 0))
    b = empty_of((0, 2**31), np.float64)
    big = empty_of((0, 2**30, 2**30))
    with tg.GradientTape() as tape:
        for t in (a, b, big):
            tape.watch(t)
        with pytest.raises(ValueError, match=too_large("matmul", (2**31, 2**31))):
            tg.matmul(a, b)
        with pytest.raises(ValueError, match=too_large("dense", (2**31, 2**31))):
            tg.nn.dense(a, b)
        half = tg.reshape(big, (0, 2**29, 2**30))
        with pytest.raises(ValueError, match=too_large("concat", (0, 2**30, 2**30))):
            tg.concat([half, tg.cast(half, tg.float64)], 1)  # float64: 2**63 bytes
        with pytest.raises(ValueError, match=too_large("stack", (2, 0, 2**30, 2**30))):
            tg.stack([big, big])
    assert tape.num_nodes == 2  # the explicit reshape and cast only
    long_axis = empty_of((2**60, 0))
    with pytest.raises(ValueError, match="concat: the extents along axis 0 add up to more than"):
        tg.concat([long_axis] * 8, 0)


def test_slices_with_huge_steps_and_begins():
    x = np.arange(10.0, 16.0)
    t = tg.constant(x)
    for key in [
        slice(1, None, 2**62),
        slice(None, None, -(2**63)),
        slice(None, None, 2**63 - 1),
        slice(2**64, None, -1),
        slice(-(2**64), 2**64, 3),
        slice(2**70, 2**71, 2**72),
    ]:
        np.testing.assert_array_equal(t[key].numpy(), x[key], err_msg=str(key))
    # The op itself: a step walked once may be anything; walked twice it must stay in range.
    np.testing.assert_array_equal(core_ops.strided_slice(t, [4], [2**63 - 1], [1]).numpy(), [14.0])
    assert core_ops.strided_slice(t, [2**63 - 1], [-(2**63)], [0]).shape == (0,)
    with pytest.raises(IndexError, match="slice out of range on axis 0"):
        core_ops.strided_slice(t, [1], [2**63 - 1], [2])
    with pytest.raises(IndexError, match="slice out of range on axis 0"):
        core_ops.strided_slice(t, [5], [-(2**63)], [3])
    with pytest.raises(ValueError, match="step 9223372036854775808 does not fit"):
        core_ops.strided_slice(t, [0], [2**63], [1])
    with pytest.raises(ValueError, match=r"begin .* does not fit"):
        core_ops.slice_grad(tg.constant([1.0]), [4], [-(2**64)], [1])
    with pytest.raises(ValueError, match=too_large("slice_grad", (2**62, 4))):
        core_ops.slice_grad(tg.constant([[1.0]]), [2**62, 4], [0, 0], [1, 1])
    np.testing.assert_array_equal(
        core_ops.slice_grad(tg.constant([5.0]), [4], [1], [-(2**63)]).numpy(), [0, 5, 0, 0]
    )


def test_integer_arguments_past_int64_are_value_errors():
    x = tg.constant(np.ones((2, 3), np.float32))
    fits = "does not fit in a 64-bit integer"
    calls = [
        lambda: tg.reduce_sum(x, axis=2**64),
        lambda: tg.transpose(x, [0, 2**64]),
        lambda: tg.concat([x, x], axis=2**64),
        lambda: tg.stack([x, x], axis=-(2**64)),
        lambda: tg.gather(x, [0], axis=2**64),
        lambda: core_ops.scatter_add(x, [0], 0, 2**64),
        lambda: tg.broadcast_to(x, (2**64, 2, 3)),
        lambda: tg._core.set_cache_limit(2**64),
        lambda: tg._core.random_batch_indices(2**64, 1, 1, 0),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=fits):
            call()
    with pytest.raises(TypeError, match="axis must be an integer"):
        tg.concat([x, x], axis=1.0)


def test_integer_arguments_in_range_still_work():
    x = tg.constant(np.arange(6.0).reshape(2, 3))
    assert tg.concat([x, x], axis=np.int64(-1)).shape == (2, 6)
    assert tg.stack([x, x], axis=np.uint8(1)).shape == (2, 2, 3)
    assert tg.gather(x, [2, 0], axis=np.int32(1)).numpy().tolist() == [[2.0, 0.0], [5.0, 3.0]]
    assert tg.reshape(x, np.array([3, 2], np.uint64)).shape == (3, 2)
    assert tg.reshape(x, tg.constant([-1.0, 2.0])).shape == (3, 2)


def test_unsigned_indices_past_int64_do_not_wrap_to_negative_ones():
    x = tg.constant(np.arange(4.0))
    idx = np.array([2**64 - 1], np.uint64)
    with pytest.raises(IndexError, match="18446744073709551615"):
        tg.gather(x, idx)
    with pytest.raises(IndexError):
        x[idx]
    assert tg.gather(x, np.array([3, 0], np.uint64)).numpy().tolist() == [3.0, 0.0]


def test_random_batch_indices_refuses_counts_past_the_limit():
    with pytest.raises(ValueError, match=too_large("random_batch_indices", (2**62, 2**62))):
        tg._core.random_batch_indices(10, 2**62, 2**62, 0)
    with pytest.raises(ValueError, match="steps and batch must be >= 0"):
        tg._core.random_batch_indices(10, -1, 2, 0)
    with pytest.raises(ValueError, match="seed does not fit"):
        tg._core.random_batch_indices(10, 1, 1, 2**64)
    assert tg._core.random_batch_indices(10, 3, 2, 2**64 - 1).shape == (3, 2)


# ---- a corrupted model folder is a ValueError naming the file -----------------------------------


@pytest.fixture
def saved(tmp_path):
    model = models.Sequential([layers.Dense(3, "relu", input_shape=(2,)), layers.Dense(1)])
    model.save(tmp_path / "m")
    return tmp_path / "m"


def _edit_config(folder, edit):
    path = folder / "model.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


def test_a_saved_model_loads(saved):
    loaded = models.load_model(saved)
    assert [tuple(w.shape) for w in loaded.get_weights()] == [(2, 3), (3,), (3, 1), (1,)]


@pytest.mark.parametrize(
    "input_shape, match",
    [
        ([None, -3], "input_shape must be a list of non-negative ints"),
        ([None, 2.5], "input_shape must be a list of non-negative ints"),
        ([None, True], "input_shape must be a list of non-negative ints"),
        ([], "input_shape must be a list of non-negative ints"),
        ("abc", "input_shape must be a list of non-negative ints"),
        ([None, None], "does not fit the layers: .*last input dimension must be known"),
        ([None, 2**40], r"weights\.npz' holds weights of shapes .* but .*model\.json' describes"),
        ([None, 2**70], r"weights\.npz' holds weights of shapes"),
        ([None, 5], r"weights\.npz' holds weights of shapes"),
    ],
)
def test_bad_input_shapes(saved, input_shape, match):
    _edit_config(saved, lambda c: c.update(input_shape=input_shape))
    with pytest.raises(ValueError, match=match) as info:
        models.load_model(saved)
    assert "model.json" in str(info.value)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda c: c["layers"][0]["config"].update(units=2**40), "weights.npz' holds weights"),
        (lambda c: c["layers"][0]["config"].update(input_shape=[9]), "'input_shape'.* not part"),
        (lambda c: c["layers"][0]["config"].update(units=-1), "units must be a positive integer"),
        (lambda c: c["layers"][0]["config"].update(bogus=1), "unexpected keyword"),
        (lambda c: c["layers"][0].update(class_name="Conv9D"), "unknown layer class"),
        (lambda c: c["layers"].append(7), "a layer entry must be an object"),
        (lambda c: c.pop("layers"), "expected an object with a 'layers' list"),
        (lambda c: c.update(name=[1]), "the model name must be a string"),
    ],
)
def test_bad_layer_configs(saved, edit, match):
    _edit_config(saved, edit)
    with pytest.raises(ValueError, match=match) as info:
        models.load_model(saved)
    assert "model.json" in str(info.value) or "weights.npz" in str(info.value)


@pytest.mark.parametrize(
    "content, match",
    [
        (b'{"name": "m", "layers": [\xff]}', "is not UTF-8 text"),
        (b"{not json", "is not valid JSON"),
        (b"[" * 100_000, "(is not valid JSON|nests too deeply)"),
        (b"[1, 2]", "expected an object with a 'layers' list"),
    ],
)
def test_unreadable_configs(saved, content, match):
    (saved / "model.json").write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        models.load_model(saved)
    assert "model.json" in str(info.value)


def _rewrite_weights(folder, arrays):
    with zipfile.ZipFile(folder / "weights.npz", "w") as zf:
        for name, data in arrays.items():
            zf.writestr(name, data)


def _npy(array):
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_missing_truncated_or_lying_weights(saved):
    good = (saved / "weights.npz").read_bytes()
    (saved / "weights.npz").unlink()
    with pytest.raises(ValueError, match=r"weights\.npz' is missing"):
        models.load_model(saved)
    (saved / "weights.npz").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"weights\.npz' is not a weights file"):
        models.load_model(saved)
    (saved / "weights.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"weights\.npz' is not a weights file"):
        models.load_model(saved)
    # A header claiming 2**40 floats over 4 stored bytes: refused before np.load allocates them.
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (2**40,)}
    )
    _rewrite_weights(saved, {"0000.npy": buf.getvalue() + b"\0" * 4})
    with pytest.raises(ValueError, match=r"needs more bytes than the .* stored"):
        models.load_model(saved)
    _rewrite_weights(saved, {"0000.npy": _npy(np.array(["a"]))})
    with pytest.raises(ValueError, match="not floating"):
        models.load_model(saved)
    _rewrite_weights(saved, {"0000.txt": b"hello"})
    with pytest.raises(ValueError, match="is not an array"):
        models.load_model(saved)
    _rewrite_weights(saved, {"0000.npy": _npy(np.zeros((2, 3), np.float32))})
    with pytest.raises(ValueError, match=r"holds weights of shapes \[\(2, 3\)\]"):
        models.load_model(saved)


def test_model_json_records_the_format_and_tapegrad_versions(saved):
    config = json.loads((saved / "model.json").read_text())
    assert config["format_version"] == models.FORMAT_VERSION == 1
    assert config["tapegrad_version"] == tg.__version__


def test_a_folder_from_before_format_version_still_loads(saved):
    _edit_config(saved, lambda c: [c.pop("format_version"), c.pop("tapegrad_version")])
    assert len(models.load_model(saved).get_weights()) == 4


def test_a_newer_format_is_refused_naming_both_versions(saved):
    _edit_config(saved, lambda c: c.update(format_version=2, tapegrad_version="9.0"))
    with pytest.raises(models.ModelFileError, match=r"model\.json' has format_version 2") as info:
        models.load_model(saved)
    assert "tapegrad 9.0" in str(info.value) and "upgrade tapegrad" in str(info.value)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda c: c.update(format_version="1"), "format_version must be a positive int"),
        (lambda c: c.update(format_version=1.0), "format_version must be a positive int"),
        (lambda c: c.update(format_version=0), "format_version must be a positive int"),
        (lambda c: c.update(format_version=True), "format_version must be a positive int"),
        (lambda c: c.update(tapegrad_version=1), "tapegrad_version must be a string"),
        (lambda c: c["layers"][0]["config"].update(units="3"), "not a model written by"),
        (lambda c: c["layers"][0]["config"].update(units=None), "not a model written by"),
        (lambda c: c["layers"][0].update(class_name=7), "not a model written by"),
        (lambda c: c["layers"][0]["config"].update(activation=5), "not a model written by"),
        (lambda c: c.update(layers={"a": 1}), "expected an object with a 'layers' list"),
    ],
)
def test_wrong_json_types_are_one_error_naming_model_json(saved, edit, match):
    _edit_config(saved, edit)
    with pytest.raises(models.ModelFileError, match=match) as info:
        models.load_model(saved)
    assert "model.json" in str(info.value)


def test_every_bad_folder_is_a_model_file_error(saved):
    """The one error type, for each kind of damage (a ValueError subclass, so older callers that
    catch ValueError still do)."""
    assert issubclass(models.ModelFileError, ValueError)
    good_json = (saved / "model.json").read_bytes()
    good_weights = (saved / "weights.npz").read_bytes()
    damage = [
        ("model.json", b"{not json"),
        ("model.json", good_json.replace(b'"format_version": 1', b'"format_version": 99')),
        ("weights.npz", good_weights[:-10]),  # truncated: the zip directory is gone
        ("weights.npz", good_weights[:100] + b"\xff" * 50 + good_weights[150:]),  # corrupted
        ("weights.npz", b""),
    ]
    for name, content in damage:
        (saved / name).write_bytes(content)
        with pytest.raises(models.ModelFileError) as info:
            models.load_model(saved)
        assert name in str(info.value), (name, str(info.value))
        (saved / "model.json").write_bytes(good_json)
        (saved / "weights.npz").write_bytes(good_weights)
    assert len(models.load_model(saved).get_weights()) == 4


def test_weights_of_other_shapes_name_both_files(saved, tmp_path):
    other = models.Sequential([layers.Dense(4, "relu", input_shape=(2,)), layers.Dense(1)])
    other.save(tmp_path / "other")
    (saved / "weights.npz").write_bytes((tmp_path / "other" / "weights.npz").read_bytes())
    with pytest.raises(models.ModelFileError, match=r"holds weights of shapes \[\(2, 4\)") as info:
        models.load_model(saved)
    assert "weights.npz" in str(info.value) and "model.json" in str(info.value)


def test_object_arrays_in_weights_are_refused_without_unpickling(saved):
    """A pickled object array would run code on np.load(allow_pickle=True); it is refused."""
    _rewrite_weights(saved, {"0000.npy": _npy(np.array([{"a": 1}], dtype=object))})
    with pytest.raises(models.ModelFileError, match="not floating"):
        models.load_model(saved)


def test_mse_warning_follows_the_warnings_filters():
    import warnings

    yp = tg.constant([[1.0], [2.0]])
    yt = np.array([1.0, 1.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            losses.mean_squared_error(yt, yp)
    assert len(caught) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        losses.mean_squared_error(yt, yp)


# ---- thread counts from the environment and the command line ------------------------------------


@pytest.mark.parametrize(
    "env, expected", [("3", 3), ("99999999999999999999", 1024), ("2000", 1024), ("-4", None)]
)
def test_tapegrad_num_threads_is_capped_at_1024(env, expected):
    import os
    import subprocess
    import sys

    code = "import tapegrad as tg, os; print(tg.num_threads(), os.cpu_count())"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TAPEGRAD_NUM_THREADS": env},
        capture_output=True,
        text=True,
        check=True,
    )
    got, cpus = (int(v) for v in proc.stdout.splitlines()[-1].split())  # after any build log
    assert got == (expected if expected is not None else min(cpus, 1024))


def test_cli_threads_take_0_to_1024():
    from tapegrad.cli import build_parser

    parser = build_parser()
    assert (
        parser.parse_args(["predict", "--model", "m", "--data", "d", "--threads", "0"]).threads == 0
    )
    assert (
        parser.parse_args(["predict", "--model", "m", "--data", "d", "--threads", "1024"]).threads
        == 1024
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["predict", "--model", "m", "--data", "d", "--threads", "2147483647"])


def test_one_hot_and_argmax_check_their_integers():
    with pytest.raises(ValueError, match=too_large("tensor", (2, 2**62))):
        tg.one_hot([0, 1], 2**62)
    with pytest.raises(ValueError, match="depth 18446744073709551616 does not fit"):
        tg.one_hot([0, 1], 2**64)
    with pytest.raises(ValueError, match="axis 18446744073709551616 does not fit"):
        tg.argmax(tg.constant([1.0, 2.0]), 2**64)
    assert tg.one_hot([0, 1], np.int64(3)).shape == (2, 3)
