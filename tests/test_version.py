"""One version source: python/tapegrad/_version.py feeds both the installed distribution's
metadata (pyproject.toml's [tool.scikit-build.metadata.version]) and tg.__version__."""

import importlib.metadata
import re
from pathlib import Path

import pytest
import tomllib

import tapegrad as tg

ROOT = Path(__file__).resolve().parent.parent


def test_version_equals_the_installed_distributions():
    assert tg.__version__ == importlib.metadata.version("tapegrad")


def test_version_is_a_release_number():
    assert re.fullmatch(r"\d+\.\d+\.\d+", tg.__version__), tg.__version__


def test_pyproject_reads_the_version_from_version_py_only():
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("not running from a source checkout")
    config = tomllib.loads(pyproject.read_text())
    assert "version" not in config["project"], "a second version in pyproject.toml"
    assert config["project"]["dynamic"] == ["version"]
    source = config["tool"]["scikit-build"]["metadata"]["version"]
    assert source["input"] == "python/tapegrad/_version.py"
    written = re.search(r'^__version__ = "(.+)"$', (ROOT / source["input"]).read_text(), re.M)
    assert written and written.group(1) == tg.__version__
