"""Shared fixtures: the real California housing file for the training tests (the copy shipped in
the package, else $TAPEGRAD_TEST_DATA; skipped when neither exists)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tapegrad import data


def housing_path() -> Path | None:
    candidates = [str(data.DATASETS_DIR / "california_housing.npz")]
    candidates += [os.environ.get("TAPEGRAD_TEST_DATA")]
    for c in candidates:
        if c and Path(c).exists():
            return Path(c)
    return None


@pytest.fixture
def housing_npz() -> Path:
    path = housing_path()
    if path is None:
        pytest.skip("california_housing.npz not found (set TAPEGRAD_TEST_DATA)")
    return path
