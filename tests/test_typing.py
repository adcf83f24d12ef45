"""Types: the committed stubs of the C++ extension are what tools/gen_stub.py generates, py.typed
ships beside them, and a typed program using the public API passes ``mypy --strict`` and runs."""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tapegrad as tg

ROOT = Path(__file__).resolve().parent.parent
TYPED_USAGE = ROOT / "tests" / "typing" / "typed_usage.py"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONWARNINGS")}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_py_typed_and_stubs_ship_with_the_package():
    package = importlib.resources.files("tapegrad")
    assert package.joinpath("py.typed").is_file()
    for stub in ("__init__.pyi", "ops.pyi", "integer_ops.pyi", "optim.pyi"):
        assert package.joinpath("_core", stub).is_file(), stub
    # The stub folder has no __init__.py: the extension module is what Python imports.
    assert tg._core.__file__.endswith((".so", ".pyd"))


def test_stub_is_fresh(tmp_path):
    if importlib.util.find_spec("pybind11_stubgen") is None:
        pytest.skip("pybind11-stubgen is not installed (pip install -e '.[test]')")
    done = _run(str(ROOT / "tools" / "gen_stub.py"), "--check", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-6000:]


def test_stub_names_real_types():
    ops = (ROOT / "python" / "tapegrad" / "_core" / "ops.pyi").read_text()
    assert (
        "def matmul(a: tapegrad.types.TensorLike, b: tapegrad.types.TensorLike, "
        "transpose_a: bool = False, transpose_b: bool = False) -> tapegrad._core.Tensor:"
    ) in ops
    core = (ROOT / "python" / "tapegrad" / "_core" / "__init__.pyi").read_text()
    assert "def __mul__(self, value: tapegrad.types.TensorLike) -> Tensor:" in core
    assert "def shape(self) -> tuple[int, ...]:" in core
    assert ": object" not in ops.replace("activation: object", "")


def test_typed_usage_passes_mypy_strict(tmp_path):
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    done = _run(
        "-m",
        "mypy",
        "--strict",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "--cache-dir",
        str(tmp_path / "cache"),
        str(TYPED_USAGE),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_mypy_finds_a_type_error(tmp_path):
    # The check above can fail: the same setup rejects a wrong call.
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    bad = tmp_path / "bad.py"
    bad.write_text("import tapegrad as tg\n\ny: int = tg.matmul([[1.0]], [[2.0]])\n")
    done = _run(
        "-m",
        "mypy",
        "--strict",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "--cache-dir",
        str(tmp_path / "cache"),
        str(bad),
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert 'incompatible type "Tensor"' in done.stdout or "Incompatible types" in done.stdout


def test_typed_usage_runs(capsys):
    spec = importlib.util.spec_from_file_location("typed_usage", TYPED_USAGE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()
    # ops' shape, the second and first derivatives, Adam's step count; relu(x) * 2, predict's shape
    assert capsys.readouterr().out == "(4,) (18.0, 9.0) 1\n[0. 4.] (4, 1)\n"
