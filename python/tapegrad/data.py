"""``tg.data``: input pipelines (``Dataset``), splitting, minibatches and the shipped data sets.

``Dataset`` is TensorFlow's ``tf.data.Dataset`` over in-memory arrays (``dataset.py``).

The real data ship inside the package (``datasets/``, sources and licenses in its README), so
loading needs no network and no scikit-learn:

- ``load_california_housing(path=None)`` returns a ``DataBundle`` that unpacks as
  ``X, y, feature_names, source``: float64 arrays of shape (20640, 8) and (20640,), from ``path``
  (an ``.npz`` with ``X``/``y`` keys or a ``.csv`` whose last column is the target) when given,
  else ``$TAPEGRAD_DATA``, else the shipped file; only if that file was removed from the
  installation, the cache file or scikit-learn's ``fetch_california_housing`` (a download is
  tried with a short timeout). ``synthetic=True`` asks for a deterministic synthetic stand-in of
  the same shape instead.
- ``load_digits()``: scikit-learn's 8x8 digits, X float64 (1797, 64) with values 0..16 and y
  int64 labels 0..9.
"""

from __future__ import annotations

import math
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple, Optional

import numpy as np

from .dataset import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, ArrayPlan, Dataset

FEATURE_NAMES = (
    "MedInc",
    "HouseAge",
    "AveRooms",
    "AveBedrms",
    "Population",
    "AveOccup",
    "Latitude",
    "Longitude",
)
N_SAMPLES = 20640


DATASETS_DIR = Path(__file__).resolve().parent / "datasets"


class DataBundle(NamedTuple):
    """A loaded data set: unpacks as ``X, y, feature_names, source``."""

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple
    source: str  # where the data came from ("synthetic" for the stand-in)


def train_test_split(*arrays, test_size=None, train_size=None, random_state=None, shuffle=True):
    """Splits each array into train and test parts, returned as ``[a_train, a_test, b_train, ...]``
    (scikit-learn's signature and, for an integer ``random_state``, its exact split; default test
    share 0.25)."""
    if not arrays:
        raise ValueError("train_test_split needs at least one array")
    n = len(arrays[0])
    for a in arrays[1:]:
        if len(a) != n:
            lengths = [len(a) for a in arrays]
            raise ValueError(f"train_test_split: arrays have different lengths {lengths}")
    n_test, n_train = _split_sizes(n, test_size, train_size)
    if shuffle:
        # scikit-learn's ShuffleSplit draw (legacy RandomState), so a given random_state gives
        # the seed notebook's exact split: test rows first, then train rows
        rng = (
            random_state
            if isinstance(random_state, np.random.RandomState)
            else (np.random.RandomState(random_state))
        )
        order = rng.permutation(n)
        test_idx, train_idx = order[:n_test], order[n_test : n_test + n_train]
    else:
        train_idx, test_idx = np.arange(n_train), np.arange(n_train, n_train + n_test)
    out = []
    for a in arrays:
        a = np.asarray(a)
        out += [a[train_idx], a[test_idx]]
    return out


def _split_sizes(n: int, test_size, train_size) -> tuple[int, int]:
    def count(size, name: str) -> Optional[int]:
        if size is None:
            return None
        if isinstance(size, float):
            if not 0.0 < size < 1.0:
                raise ValueError(f"{name} as a fraction must be in (0, 1), got {size}")
            return math.ceil(size * n) if name == "test_size" else math.floor(size * n)
        if not 0 < int(size) < n:
            raise ValueError(f"{name} must be between 1 and {n - 1} samples, got {size}")
        return int(size)

    n_test, n_train = count(test_size, "test_size"), count(train_size, "train_size")
    if n_test is None and n_train is None:
        n_test = math.ceil(0.25 * n)
    if n_test is None:
        n_test = n - n_train
    if n_train is None:
        n_train = n - n_test
    if n_train + n_test > n or n_train <= 0 or n_test <= 0:
        raise ValueError(f"cannot split {n} samples into {n_train} train and {n_test} test samples")
    return n_test, n_train


def minibatches(
    *arrays, batch_size: int = 32, shuffle: bool = True, seed=None, drop_remainder: bool = False
) -> Iterator[tuple]:
    """Yields tuples of row batches of each array, one pass over the data."""
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"minibatches: arrays have different lengths {[len(a) for a in arrays]}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_remainder else n
    arrays = [np.asarray(a) for a in arrays]
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        yield tuple(a[idx] for a in arrays)


def random_batches(*arrays, batch_size: int = 32, steps: Optional[int] = None, seed=None):
    """The seed's ``random_batch``: ``steps`` batches drawn with replacement (default
    ``len // batch_size`` of them)."""
    n = len(arrays[0])
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(a) for a in arrays]
    for _ in range(n // batch_size if steps is None else steps):
        idx = rng.integers(0, n, size=batch_size)
        yield tuple(a[idx] for a in arrays)


def default_cache_path() -> Path:
    root = os.environ.get("TAPEGRAD_DATA_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "tapegrad",
    )
    return Path(root) / "california_housing.npz"


def load_california_housing(
    path=None,
    download: bool = True,
    timeout: float = 10.0,
    cache: bool = True,
    synthetic: bool = False,
) -> DataBundle:
    """The California housing data (see the module docstring for where it comes from)."""
    if synthetic:
        if path is not None:
            raise ValueError(
                "load_california_housing: give either path or synthetic=True, not both"
            )
        return synthetic_california_housing()
    if path is not None:
        return _load_file(Path(path))
    env = os.environ.get("TAPEGRAD_DATA")
    if env:
        return _load_file(Path(env))
    shipped = DATASETS_DIR / "california_housing.npz"
    if shipped.exists():
        return _load_file(shipped)._replace(source="tapegrad (shipped california_housing.npz)")
    cached = default_cache_path()
    if cached.exists():
        return _load_file(cached)
    real = _from_sklearn(download, timeout)
    if real is None:
        raise FileNotFoundError(
            f"California housing data unavailable: the shipped file {os.fspath(shipped)!r} is "
            "missing from this installation, there is no cached copy and scikit-learn could not "
            "provide it; pass a path (an .npz with X and y, or a .csv), or synthetic=True for "
            "the synthetic stand-in"
        )
    if cache:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(cached, X=real.X, y=real.y, feature_names=np.array(FEATURE_NAMES))
        except OSError:
            pass  # a read-only home only costs the cache
    return real


def load_digits() -> DataBundle:
    """scikit-learn's 8x8 digits from the shipped file: X float64 (1797, 64) with pixel counts
    0..16 (row by row), y int64 labels 0..9 (the values of ``sklearn.datasets.load_digits()``)."""
    path = DATASETS_DIR / "digits.npz"
    if not path.exists():
        raise FileNotFoundError(f"the shipped digits file {os.fspath(path)!r} is missing")
    with np.load(path, allow_pickle=False) as f:
        X = f["X"].astype(np.float64)
        y = f["y"].astype(np.int64)
        names = tuple(str(s) for s in f["feature_names"])
    return DataBundle(X, y, names, "tapegrad (shipped digits.npz)")


def _load_file(path: Path) -> DataBundle:
    if not path.exists():
        raise FileNotFoundError(f"data file {os.fspath(path)!r} does not exist")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if "X" not in data.files or "y" not in data.files:
                raise ValueError(
                    f"{os.fspath(path)!r} must hold arrays 'X' and 'y', has {data.files}"
                )
            X, y = np.asarray(data["X"], np.float64), np.asarray(data["y"], np.float64)
            names = (
                tuple(str(s) for s in data["feature_names"])
                if "feature_names" in data.files
                else None
            )
    elif path.suffix in (".csv", ".txt", ".data"):
        X, y, names = _load_csv(path)
    else:
        raise ValueError(f"unsupported data file {os.fspath(path)!r}: expected .npz or .csv")
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(
            f"{os.fspath(path)!r}: expected X (N, F) and y (N,), got {X.shape} and {y.shape}"
        )
    names = names or tuple(f"x{i}" for i in range(X.shape[1]))
    return DataBundle(X, y, names, os.fspath(path))


def _load_csv(path: Path):
    with open(path) as f:
        first = f.readline()
    has_header = any(
        c.isalpha() for c in first.replace("e+", "").replace("e-", "").replace("E", "")
    )
    table = np.loadtxt(
        path, delimiter=",", skiprows=1 if has_header else 0, dtype=np.float64, ndmin=2
    )
    names = tuple(s.strip() for s in first.strip().split(","))[:-1] if has_header else None
    return np.ascontiguousarray(table[:, :-1]), np.ascontiguousarray(table[:, -1]), names


def _from_sklearn(download: bool, timeout: float) -> Optional[DataBundle]:
    try:
        from sklearn.datasets import fetch_california_housing
    except ImportError:
        return None
    # No network must not hang the main job: the fetch runs in a daemon thread with a socket
    # timeout, and is abandoned after `timeout` seconds (a DNS lookup ignores socket timeouts).
    found: list = []

    def fetch() -> None:
        try:
            found.append(fetch_california_housing(download_if_missing=download))
        except Exception:  # offline, blocked, or a broken cache: fall through to the stand-in
            pass

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        worker = threading.Thread(target=fetch, name="tapegrad-fetch-housing", daemon=True)
        worker.start()
        worker.join(timeout)
    finally:
        socket.setdefaulttimeout(old)
    if not found:
        return None
    bunch = found[0]
    return DataBundle(
        np.asarray(bunch.data, np.float64),
        np.asarray(bunch.target, np.float64),
        tuple(bunch.feature_names),
        "scikit-learn",
    )


def synthetic_california_housing(n: int = N_SAMPLES, seed: int = 20640) -> DataBundle:
    """A deterministic stand-in with the real set's shape, feature scales and target range
    (median house value in 100k USD, clipped to [0.15, 5.0]); the target is a smooth
    non-linear function of the features plus noise, so a small network can learn it."""
    rng = np.random.default_rng(seed)
    med_inc = np.clip(rng.lognormal(1.25, 0.45, n), 0.5, 15.0)
    house_age = np.clip(rng.normal(28.6, 12.6, n).round(), 1, 52)
    ave_rooms = np.clip(rng.lognormal(1.6, 0.25, n) + 0.3 * med_inc, 1.0, 40.0)
    ave_bedrms = np.clip(rng.normal(1.07, 0.1, n) * ave_rooms / 5.3, 0.3, 8.0)
    population = np.clip(rng.lognormal(7.0, 0.75, n), 3, 35000).round()
    ave_occup = np.clip(rng.lognormal(1.03, 0.25, n), 0.7, 20.0)
    latitude = np.where(rng.random(n) < 0.55, rng.normal(34.1, 0.6, n), rng.normal(37.7, 0.9, n))
    longitude = -121.5 + (latitude - 36.0) * -1.1 + rng.normal(0, 0.5, n)
    X = np.stack(
        [med_inc, house_age, ave_rooms, ave_bedrms, population, ave_occup, latitude, longitude],
        axis=1,
    )
    coast = np.exp(-np.abs(longitude + 0.97 * latitude - 2.0 - 88.0) / 1.5)
    y = (
        0.42 * med_inc
        + 0.9 * coast
        + 0.006 * house_age
        - 0.15 * np.log(ave_occup)
        + 0.25 * np.tanh(ave_rooms - 5.0)
        + rng.normal(0, 0.45, n)
        + 0.1
    )
    y = np.clip(y, 0.15, 5.0)
    return DataBundle(np.ascontiguousarray(X), y, FEATURE_NAMES, "synthetic")


__all__ = [
    "AUTOTUNE",
    "INFINITE_CARDINALITY",
    "UNKNOWN_CARDINALITY",
    "ArrayPlan",
    "Bunch",
    "DataBundle",
    "Dataset",
    "StandardScaler",
    "fetch_california_housing",
    "load_california_housing",
    "load_digits",
    "minibatches",
    "random_batches",
    "synthetic_california_housing",
    "train_test_split",
]


class Bunch(dict):
    """A dict with attribute access, like scikit-learn's return value."""

    def __init__(self, *args: Any, **fields: Any) -> None:
        """The same arguments as ``dict``'s (the fields by keyword)."""
        super().__init__(*args, **fields)

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


def fetch_california_housing(path=None, **kwargs) -> Bunch:
    """``load_california_housing`` in scikit-learn's shape (``.data``, ``.target``,
    ``.feature_names``), so the seed's cell runs with only its import changed."""
    ds = load_california_housing(path, **kwargs)
    return Bunch(data=ds.X, target=ds.y, feature_names=list(ds.feature_names), source=ds.source)


class StandardScaler:
    """Per-feature standardization with scikit-learn's interface (``fit``, ``transform``,
    ``fit_transform``, ``inverse_transform``; population variance, zero variance left as 1).
    Inside a model prefer ``tg.layers.Normalization``, which is saved with it."""

    def fit(self, X) -> StandardScaler:
        """Learns each feature's mean and standard deviation from ``X``; returns self."""
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        self.var_ = X.var(axis=0)
        self.scale_ = np.where(self.var_ > 0, np.sqrt(self.var_), 1.0)
        self.n_features_in_ = X.shape[1] if X.ndim > 1 else 1
        return self

    def _check(self):
        if not hasattr(self, "mean_"):
            raise RuntimeError("StandardScaler is not fitted yet; call fit or fit_transform first")

    def transform(self, X) -> np.ndarray:
        """``(X - mean) / scale`` in float64; RuntimeError before fit."""
        self._check()
        return (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_

    def fit_transform(self, X) -> np.ndarray:
        """fit(X), then transform(X)."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X) -> np.ndarray:
        """``X * scale + mean``: undoes transform; RuntimeError before fit."""
        self._check()
        return np.asarray(X, dtype=np.float64) * self.scale_ + self.mean_
