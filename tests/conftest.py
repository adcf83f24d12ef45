"""Shared fixtures: the real California housing file for the training tests (skipped when the
shared data folder is not next to this checkout)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def housing_path() -> Path | None:
    candidates = [os.environ.get("TAPEGRAD_TEST_DATA")]
    candidates += [str(p / "shared" / "data" / "california_housing.npz") for p in ROOT.parents]
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
