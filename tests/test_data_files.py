"""The data sets shipped in the package (python/tapegrad/datasets/): checksums, shapes, dtypes,
and that loading them needs neither the network nor scikit-learn."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tapegrad import data

SHA256 = {
    "california_housing.npz": "9be07e4f20c54ff2b92e53414d2d87f48b1bed7b01327e1b3e746c5643e2aaad",
    "digits.npz": "b8afc374eefb7356163440e7bbd03585492216628f20f7f5cfbded08fea0ba42",
}


@pytest.mark.parametrize("name", sorted(SHA256))
def test_shipped_file_checksums(name):
    digest = hashlib.sha256((data.DATASETS_DIR / name).read_bytes()).hexdigest()
    assert digest == SHA256[name]


def test_readme_and_license_ship_beside_the_files():
    readme = (data.DATASETS_DIR / "README.md").read_text()
    for name, digest in SHA256.items():
        assert name in readme and digest in readme
    assert "BSD 3-Clause" in (data.DATASETS_DIR / "LICENSE-scikit-learn.txt").read_text()


def test_california_housing_shapes_dtypes_and_values():
    X, y, names, source = data.load_california_housing()
    assert "shipped" in source
    assert X.shape == (20640, 8) and y.shape == (20640,)
    assert X.dtype == np.float64 and y.dtype == np.float64
    assert names == data.FEATURE_NAMES
    np.testing.assert_allclose(
        X[0], [8.3252, 41, 6.98413, 1.02381, 322, 2.55556, 37.88, -122.23], rtol=1e-5
    )
    assert y[0] == 4.526
    assert abs(y.mean() - 2.068558) < 1e-6 and np.isfinite(X).all()


def test_digits_shapes_dtypes_and_values():
    X, y, names, source = data.load_digits()
    assert "shipped" in source
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.dtype == np.float64 and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16 and (X == np.round(X)).all()
    np.testing.assert_array_equal(np.unique(y), np.arange(10))
    assert np.bincount(y).min() >= 170
    assert names[:2] == ("pixel_0_0", "pixel_0_1") and len(names) == 64
    # the first image is a zero: its centre column is empty and its ring is not
    first = X[0].reshape(8, 8)
    assert y[0] == 0 and first[3:5, 3:5].sum() < first[1:7, 1:7].sum() / 4


def test_loading_needs_no_network_and_no_scikit_learn(tmp_path):
    script = textwrap.dedent(
        """
        import socket, sys
        sys.modules["sklearn"] = None  # import sklearn now fails

        def no_network(*args, **kwargs):
            raise OSError("network disabled in this test")

        socket.socket = no_network
        socket.create_connection = no_network
        socket.getaddrinfo = no_network
        from tapegrad import data
        X, y, _, source = data.load_california_housing()
        Xd, yd, _, _ = data.load_digits()
        assert X.shape == (20640, 8) and Xd.shape == (1797, 64), (X.shape, Xd.shape)
        assert "sklearn" not in {m for m in sys.modules if sys.modules[m] is not None}
        print(source)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "TAPEGRAD_DATA"}
    env["TAPEGRAD_DATA_HOME"] = str(tmp_path)  # no cache to fall back on
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "shipped" in proc.stdout


def test_synthetic_only_when_asked(monkeypatch, tmp_path):
    monkeypatch.delenv("TAPEGRAD_DATA", raising=False)
    ds = data.load_california_housing(synthetic=True)
    assert ds.source == "synthetic" and ds.X.shape == (20640, 8)
    np.testing.assert_array_equal(ds.y, data.synthetic_california_housing().y)
    with pytest.raises(ValueError, match="either path or synthetic"):
        data.load_california_housing("x.npz", synthetic=True)


def test_missing_shipped_file_is_a_clear_error_not_a_stand_in(monkeypatch, tmp_path):
    monkeypatch.delenv("TAPEGRAD_DATA", raising=False)
    monkeypatch.setenv("TAPEGRAD_DATA_HOME", str(tmp_path))
    monkeypatch.setattr(data, "DATASETS_DIR", tmp_path / "stripped")
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(FileNotFoundError, match="synthetic=True"):
        data.load_california_housing()
    with pytest.raises(FileNotFoundError, match="digits"):
        data.load_digits()


def test_data_bundle_unpacks_like_before():
    bundle = data.load_california_housing()
    assert isinstance(bundle, data.DataBundle)
    X, y, names, _ = bundle
    assert X is bundle.X and y is bundle.y and names is bundle.feature_names
