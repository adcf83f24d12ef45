"""The ``tapegrad`` command (python/tapegrad/cli.py, docs/cli.md) run as users run it, in a
subprocess: help and --version, every bad argument or data file ending in one line on stderr and
exit code 2 (never a traceback), --out refusing a non-empty folder, Ctrl-C ending with 130, and a
run repeated from the configuration its metrics.json records."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tapegrad import cli, layers, models

TIMEOUT = 300


# An editable install (the README's development setup) announces its rebuild check on stdout in
# every new interpreter unless told to be quiet; the assertions below read the command's own output.
QUIET = {**os.environ, "SKBUILD_EDITABLE_VERBOSE": "0"}


def run(*args, cwd, python_args=("-m", "tapegrad")):
    return subprocess.run(
        [sys.executable, *python_args, *map(str, args)],
        cwd=cwd,
        env=QUIET,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert re.match(r"tapegrad( \w+)?: error: ", lines[0]), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def regression_npz(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=120)
    path = tmp_path / "small.npz"
    np.savez(path, X=X, y=y)
    return path


FAST = ("--epochs", "2", "--verbose", "0", "--no-plot", "--hidden", "8")


# ---- help and version ---------------------------------------------------------------------------


def test_tapegrad_without_arguments_prints_the_help(tmp_path):
    script = "import sys; sys.argv = ['tapegrad']; from tapegrad.cli import main; sys.exit(main())"
    result = run(cwd=tmp_path, python_args=("-c", script))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: tapegrad")
    for command in ("train", "predict", "demo", "--version"):
        assert command in result.stdout


def test_version_reports_the_version_isa_and_threads(tmp_path):
    import tapegrad as tg

    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert re.fullmatch(
        r"tapegrad \S+ \(isa (scalar|avx2|avx512), \d+ threads, Python \S+, NumPy \S+\)", line
    ), line
    assert line.startswith(f"tapegrad {tg.__version__} (isa {tg.config()['isa']},")


def _options(parser):
    for action in parser._actions:
        if isinstance(action, type(parser._subparsers._group_actions[0])):
            for name, sub in action.choices.items():
                for option in sub._actions:
                    if option.option_strings and option.dest != "help":
                        yield name, option


def test_every_option_has_help_text_showing_its_default():
    parser = cli.build_parser()
    options = list(_options(parser))
    assert len(options) >= 20
    for command, option in options:
        text = option.help or ""
        assert "default" in text or (option.required and "required" in text), (command, text)
        formatted = text % {**vars(option), "prog": command}
        assert "%(" not in formatted


def test_subcommand_help_lists_the_resolved_defaults(tmp_path):
    result = run("train", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for fragment in (
        "(default: tapegrad_out)",
        "adam 0.003",
        "sgd 0.01",
        "housing 32",
        "(default: 1)",
    ):
        assert fragment in text, fragment


# ---- bad arguments: one line, exit 2 ------------------------------------------------------------


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["train", "--batch-size", "0"], ["--batch-size", "must be >= 1, got 0"]),
        (["train", "--batch-size", "-3"], ["--batch-size", "must be >= 1, got -3"]),
        (["train", "--epochs", "0"], ["--epochs", "must be >= 1"]),
        (["train", "--hidden", "-1"], ["--hidden", "must be >= 1"]),
        (["train", "--epochs", "two"], ["--epochs", "expected an integer, got 'two'"]),
        (["train", "--lr", "0"], ["--lr", "positive finite number"]),
        (["train", "--lr", "nan"], ["--lr", "positive finite number"]),
        (["train", "--lr", "-0.1"], ["--lr", "positive finite number"]),
        (["train", "--momentum", "1.5"], ["--momentum", "in [0, 1)"]),
        (["train", "--patience", "-1"], ["--patience", "must be >= 0"]),
        (["train", "--seed", "-1"], ["--seed", "from 0 to 4294967295"]),
        (["train", "--threads", "2000"], ["--threads", "from 0 to 1024"]),
        (["train", "--optimizer", "rmsprop"], ["--optimizer", "invalid choice"]),
        (["train", "--bogus"], ["unrecognized arguments: --bogus"]),
        (["fly"], ["invalid choice: 'fly'"]),
        (["predict", "--data", "x.npz"], ["--model"]),
        (["train", "--synthetic", "--data", "x.npz"], ["either --data or --synthetic"]),
        (["train", "--task", "digits", "--synthetic"], ["--synthetic is for the housing task"]),
    ],
)
def test_bad_arguments(tmp_path, args, fragments):
    assert_one_line_error(
        run(*args, "--out", tmp_path / "o", cwd=tmp_path)
        if args[0] == "train"
        else run(*args, cwd=tmp_path),
        *fragments,
    )
    assert not (tmp_path / "o").exists()  # nothing written for a refused command


# ---- bad data: one line, exit 2 -----------------------------------------------------------------


def _write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, dict):
        np.savez(path, **content)
    else:
        path.write_bytes(content)
    return path


BAD_DATA = {
    "missing": (None, "no such file"),
    "table.txt": (b"1,2,3\n", "unknown suffix '.txt'"),
    "noext": (b"1,2,3\n", "unknown suffix '(none)'"),
    "words.csv": (b"a,b,y\n1,2,3\nx,4,5\n", "not numeric"),
    "empty.csv": (b"", "expected X of shape (samples, features)"),
    "broken.npz": (b"PK\x03\x04 not a zip", "unreadable"),
    "noX.npz": ({"A": np.zeros((3, 2))}, "has no array 'X'"),
    "noy.npz": ({"X": np.zeros((3, 2))}, "has no target"),
    "strings.npz": ({"X": np.array([["a", "b"]]), "y": np.zeros(1)}, "arrays must be numeric"),
    "ragged.npz": ({"X": np.zeros((3, 2)), "y": np.zeros(4)}, "expected y of shape (3,)"),
    "flat.npz": ({"X": np.zeros(5), "y": np.zeros(5)}, "expected X of shape (samples, features)"),
}


@pytest.mark.parametrize("name", list(BAD_DATA))
def test_bad_training_data(tmp_path, name):
    content, fragment = BAD_DATA[name]
    path = tmp_path / name if content is None else _write(tmp_path, name, content)
    result = run("train", "--data", path, "--out", tmp_path / "o", *FAST, cwd=tmp_path)
    assert_one_line_error(result, "--data", name, fragment)


def test_a_folder_as_data(tmp_path):
    result = run("train", "--data", tmp_path, "--out", tmp_path / "o", cwd=tmp_path)
    assert_one_line_error(result, "is a folder")


def test_digits_labels_must_be_integers(tmp_path):
    path = _write(tmp_path, "d.npz", {"X": np.zeros((40, 4)), "y": np.full(40, 0.5)})
    result = run("train", "--task", "digits", "--data", path, *FAST, cwd=tmp_path)
    assert_one_line_error(result, "class labels y must be non-negative integers")


# ---- --out ----------------------------------------------------------------------------------


def test_out_refuses_a_non_empty_folder_without_force(tmp_path, regression_npz):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = run("train", "--data", regression_npz, "--out", out, *FAST, cwd=tmp_path)
    assert_one_line_error(result, "--out", "not empty", "--force")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    result = run("train", "--data", regression_npz, "--out", out, "--force", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (out / "notes.txt").read_text() == "mine" and (out / "metrics.json").exists()
    (tmp_path / "file").write_text("x")
    result = run("train", "--data", regression_npz, "--out", tmp_path / "file", cwd=tmp_path)
    assert_one_line_error(result, "is a file, not a folder")


def test_an_empty_out_folder_is_used(tmp_path, regression_npz):
    (tmp_path / "empty").mkdir()
    result = run(
        "train", "--data", regression_npz, "--out", tmp_path / "empty", *FAST, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr


# ---- metrics.json: the full configuration, enough to repeat the run ---------------------------


def test_metrics_json_records_the_run_and_repeats_it(tmp_path, regression_npz):
    import tapegrad as tg

    first = tmp_path / "first"
    args = ["train", "--data", regression_npz, "--out", first, "--seed", "7", "--batch-size", "16"]
    result = run(*args, "--optimizer", "sgd", "--momentum", "0.5", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((first / "metrics.json").read_text())
    config = metrics["config"]
    assert config == {
        "task": "housing",
        "data": str(regression_npz),
        "synthetic": False,
        "seed": 7,
        "optimizer": "sgd",
        "lr": 0.01,
        "momentum": 0.5,
        "epochs": 2,
        "batch_size": 16,
        "hidden": 8,
        "sampling": "random",
        "patience": 0,
        "threads": 1,
    }
    runtime = metrics["runtime"]
    assert runtime["tapegrad_version"] == tg.__version__
    assert runtime["isa"] in ("scalar", "avx2", "avx512") and runtime["num_threads"] == 1
    assert metrics["optimizer"]["momentum"] == 0.5 and metrics["epochs_run"] == 2
    command = metrics["command"]
    assert command[0] == "tapegrad"
    second = tmp_path / "second"
    again = run(*command[1:], "--out", second, "--verbose", "0", "--no-plot", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads((second / "metrics.json").read_text())["config"] == config
    with (
        np.load(first / "model" / "weights.npz") as a,
        np.load(second / "model" / "weights.npz") as b,
    ):
        assert a.files == b.files
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


def test_digits_defaults_are_resolved_in_the_config(tmp_path):
    X = np.random.default_rng(1).normal(size=(80, 5))
    y = np.arange(80) % 3
    path = _write(tmp_path, "c.npz", {"X": X, "y": y})
    out = tmp_path / "d"
    result = run(
        "train",
        "--task",
        "digits",
        "--data",
        path,
        "--out",
        out,
        "--epochs",
        "1",
        "--verbose",
        "0",
        "--no-plot",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["batch_size"] == 64 and metrics["config"]["hidden"] == 256
    assert metrics["config"]["sampling"] == "epoch" and metrics["config"]["lr"] == 1e-3
    assert np.array(metrics["confusion_matrix"]).shape == (3, 3)


# ---- predict ----------------------------------------------------------------------------------


@pytest.fixture
def saved_model(tmp_path):
    model = models.Sequential([layers.Dense(4, "relu", input_shape=(3,)), layers.Dense(1)])
    return model.save(tmp_path / "model")


def test_predict_with_a_wrong_feature_count(tmp_path, saved_model):
    data = _write(tmp_path, "five.npz", {"X": np.zeros((4, 5))})
    result = run("predict", "--model", saved_model, "--data", data, cwd=tmp_path)
    assert_one_line_error(result, "the model takes 3 features, the data has 5")


def test_predict_reads_a_csv_with_or_without_the_target(tmp_path, saved_model):
    for columns in (3, 4):
        path = tmp_path / f"c{columns}.csv"
        np.savetxt(path, np.ones((5, columns)), delimiter=",")
        result = run("predict", "--model", saved_model, "--data", path, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert ("MSE against y" in result.stdout) == (columns == 4)
    np.savetxt(tmp_path / "c6.csv", np.ones((5, 6)), delimiter=",")
    result = run("predict", "--model", saved_model, "--data", tmp_path / "c6.csv", cwd=tmp_path)
    assert_one_line_error(result, "the model takes 3 features, the data has 5")


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda m: (m / "model.json").write_text("{"), "model.json' is not valid JSON"),
        (lambda m: (m / "weights.npz").write_bytes(b"nope"), "weights.npz' is not a weights file"),
        (lambda m: (m / "model.json").unlink(), "no model.json"),
    ],
)
def test_predict_with_a_bad_model_folder(tmp_path, saved_model, damage, fragment):
    damage(saved_model)
    data = _write(tmp_path, "x.npz", {"X": np.zeros((2, 3))})
    result = run("predict", "--model", saved_model, "--data", data, cwd=tmp_path)
    assert_one_line_error(result, "--model", fragment)


def test_predict_output_in_a_missing_folder(tmp_path, saved_model):
    data = _write(tmp_path, "x.npz", {"X": np.zeros((2, 3))})
    result = run(
        "predict",
        "--model",
        saved_model,
        "--data",
        data,
        "--output",
        tmp_path / "nowhere" / "p.csv",
        cwd=tmp_path,
    )
    assert_one_line_error(result, "--output", "its folder does not exist")


# ---- Ctrl-C -----------------------------------------------------------------------------------


def _default_sigint():
    # The test may run with SIGINT ignored, which a child inherits; Python installs its
    # KeyboardInterrupt handler only when SIGINT starts at the default action.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT to a child process")
def test_ctrl_c_during_training_saves_the_run_and_exits_130(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-u",
            "-m",
            "tapegrad",
            "train",
            "--synthetic",
            "--epochs",
            "100000",
            "--verbose",
            "2",
            "--no-plot",
            "--hidden",
            "8",
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        env=QUIET,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        for line in proc.stdout:
            if line.startswith("Epoch 1/"):
                break
            assert time.monotonic() < deadline
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines() == [
        "tapegrad train: interrupted (Ctrl-C); saved the results so far"
    ]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["epochs_run"] >= 1


def test_ctrl_c_outside_training_is_one_line_and_130(monkeypatch, capsys, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_task_data", interrupted)
    assert cli.main(["train", "--out", str(tmp_path / "o"), "--verbose", "0"]) == 130
    err = capsys.readouterr().err
    assert err == "tapegrad: interrupted (Ctrl-C)\n"
