"""Data-parallel training over MPI (python/tapegrad/distribute.py): 2 ranks started by mpiexec
give the weights of 1 process, faults end the whole job, checkpoints resume exactly.

Every job runs 2 local ranks with its traffic on loopback (``_mpi_env``) under a timeout; the
tests that need MPI skip, saying so, only where mpi4py or mpiexec is not installed (the ``mpi``
extra brings both).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import cli, distribute

HERE = Path(__file__).resolve().parent
WORKER = HERE / "mpi_worker.py"
sys.path.insert(0, str(HERE))
import mpi_worker  # noqa: E402

TIMEOUT = 240  # seconds for one job; the machine is shared and slow when busy


def _mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"  # the mpich wheel's, in this venv
    if beside.exists():
        return str(beside)
    return shutil.which("mpiexec")


MPIEXEC = _mpiexec()
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(
    MPIEXEC is None or not HAVE_MPI4PY,
    reason='needs mpi4py and mpiexec: pip install "tapegrad[mpi]"',
)


def _mpi_env() -> dict:
    """The environment of a test job: every byte on loopback, on this host only."""
    env = dict(os.environ)
    env.update(
        MPIR_CVAR_CH4_NETMOD="ofi",
        FI_PROVIDER="tcp",
        FI_TCP_IFACE="lo",
        FI_SOCKETS_IFACE="lo",
        UCX_NET_DEVICES="lo",
        HYDRA_IFACE="lo",
        HYDRA_LAUNCHER="fork",
        TAPEGRAD_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
    )
    return env


def _command(*args, ranks: int = 2) -> list:
    extra = ["--allow-run-as-root"] if "Open MPI" in _launcher_version() else []
    return [MPIEXEC, *extra, "-n", str(ranks), "-hosts", "127.0.0.1", sys.executable, *args]


def _launcher_version() -> str:
    try:
        return subprocess.run(
            [MPIEXEC, "--version"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _run(*args, ranks: int = 2, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        _command(*args, ranks=ranks),
        cwd=cwd,
        env=_mpi_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def _worker(scenario: str, out: Path, *options, ranks: int = 2):
    return _run("-m", "mpi4py", str(WORKER), scenario, str(out), *options, ranks=ranks)


def _one_process(scenario_fn, **options):
    """The worker's training in this process, without a strategy (the reference)."""
    threads = tg.num_threads()
    tg.set_num_threads(1)
    args = type(
        "Args", (), {"hidden": 16, "batch_size": 32, "eager": False, "unused": False, **options}
    )
    try:
        return scenario_fn(None, args)
    finally:
        tg.set_num_threads(threads)


def _saved_weights(out: Path) -> list:
    with np.load(out / "weights.npz") as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


# ---- without MPI ----------------------------------------------------------------------------


def test_import_tapegrad_does_not_import_mpi4py():
    code = "import sys, tapegrad; print('mpi4py' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "False"  # after any editable-rebuild note


def test_distributed_without_mpi_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now raises ImportError
    assert cli.main(["train", "--distributed", "--synthetic", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert 'pip install "tapegrad[mpi]"' in err
    with pytest.raises(ImportError, match=r"tapegrad\[mpi\]"):
        distribute.MPIStrategy()


def test_allreduce_gradients_needs_a_strategy():
    with pytest.raises(ValueError, match="no strategy"):
        distribute.allreduce_gradients([tg.constant([1.0])])


# ---- optimizer state and resuming (one process) --------------------------------------------


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_optimizer_state_round_trips_and_resumes_exactly(tmp_path, name):
    def make():
        opt = tg.optimizers.get(name)
        if name == "sgd":
            opt = tg.optimizers.SGD(0.1, momentum=0.9)
        if name == "rmsprop":
            opt = tg.optimizers.RMSprop(momentum=0.5, centered=True)
        return opt

    variables = [tg.Variable(np.linspace(-1, 1, 6).reshape(2, 3).astype(np.float32))]
    grad = [tg.constant(np.arange(6, dtype=np.float32).reshape(2, 3) / 7)]
    first = make()
    for _ in range(3):
        first.apply_gradients(zip(grad, variables))
    first.save_state(variables, tmp_path / "opt.npz")
    copies = [tg.Variable(variables[0].numpy())]
    second = make()
    second.load_state(copies, tmp_path / "opt.npz")
    assert second.iterations == 3
    for _ in range(2):
        first.apply_gradients(zip(grad, variables))
        second.apply_gradients(zip(grad, copies))
    np.testing.assert_array_equal(variables[0].numpy(), copies[0].numpy())


def test_optimizer_state_refuses_another_optimizer_or_other_shapes(tmp_path):
    v = [tg.Variable(np.zeros((2, 3), np.float32))]
    adam = tg.optimizers.Adam()
    adam.apply_gradients(zip([tg.constant(np.ones((2, 3), np.float32))], v))
    adam.save_state(v, tmp_path / "opt.npz")
    with pytest.raises(ValueError, match="holds the state of Adam; this optimizer is SGD"):
        tg.optimizers.SGD().load_state(v, tmp_path / "opt.npz")
    other = [tg.Variable(np.zeros((3, 2), np.float32))]
    with pytest.raises(ValueError, match=r"shapes \[\(2, 3\)\]; these have shapes \[\(3, 2\)\]"):
        tg.optimizers.Adam().load_state(other, tmp_path / "opt.npz")
    with pytest.raises(ValueError, match="of shape"):
        adam._impl.set_slot("m", v[0], np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="has no slot 'q'"):
        adam._impl.set_slot("q", v[0], np.zeros((2, 3), np.float32))


def _cli_train(out: Path, *extra):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tapegrad",
            "train",
            "--synthetic",
            "--verbose",
            "0",
            "--no-plot",
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "TAPEGRAD_NUM_THREADS": "1"},
    )


@pytest.mark.parametrize("patience", ["0", "1"])
def test_cli_resume_reaches_the_weights_of_an_unbroken_run(tmp_path, patience):
    """With --patience the checkpoint also keeps EarlyStopping's counters and best weights."""
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    r = _cli_train(whole, "--epochs", "3", "--patience", patience)
    assert r.returncode == 0, r.stderr
    r = _cli_train(broken, "--epochs", "1", "--patience", patience)  # as if killed after epoch 1
    assert r.returncode == 0, r.stderr
    r = _cli_train(broken, "--epochs", "3", "--patience", patience, "--resume", str(broken))
    assert r.returncode == 0, r.stderr
    assert "resuming from" in r.stdout and "after epoch 1" in r.stdout
    a = tg.models.load_model(whole / "model").get_weights()
    b = tg.models.load_model(broken / "model").get_weights()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    rows = (broken / "history.csv").read_text().splitlines()
    # the resumed run appends, and stops (with --patience) where the unbroken one did
    assert rows == (whole / "history.csv").read_text().splitlines()
    assert len(rows) == (4 if patience == "0" else 3)  # the header, then epochs 0, 1 (, 2)


def test_resume_from_a_folder_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a checkpoint"):
        tg.callbacks.resume_from(tmp_path)


# ---- 2 ranks ------------------------------------------------------------------------------


@needs_mpi
@pytest.mark.parametrize("eager", [False, True], ids=["compiled", "eager"])
def test_two_ranks_give_the_weights_of_one_process(tmp_path, eager):
    options = ["--eager"] if eager else []
    r = _worker("fit", tmp_path, *options)
    assert r.returncode == 0, r.stdout + r.stderr
    reference = _one_process(mpi_worker.fit, eager=eager)
    assert reference["steps"] >= 100
    got = _saved_weights(tmp_path)
    assert len(got) == len(reference["weights"])
    for x, y in zip(got, reference["weights"]):
        np.testing.assert_allclose(x, y, rtol=2e-4, atol=2e-5)
    # the history (loss, metric, validation) is reduced over the ranks: the whole set's
    history = json.loads((tmp_path / "history.json").read_text())
    assert sorted(history) == sorted(reference["history"])
    for key, values in reference["history"].items():
        np.testing.assert_allclose(history[key], values, rtol=1e-4, err_msg=key)


@needs_mpi
@pytest.mark.parametrize("eager", [False, True], ids=["compiled", "eager"])
def test_a_variable_without_a_gradient_is_left_out_as_in_one_process(tmp_path, eager):
    """A None gradient goes into the allreduce as zeros and the variable is not updated (as
    apply_gradients does in one process), with Keras's warning, not an error."""
    options = ["--eager"] if eager else []
    r = _worker("fit", tmp_path, "--unused", *options)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Gradients do not exist for variables" in r.stderr
    with pytest.warns(UserWarning, match="Gradients do not exist for variables"):
        reference = _one_process(mpi_worker.fit, eager=eager, unused=True)
    got = _saved_weights(tmp_path)
    assert len(got) == len(reference["weights"]) == 5
    np.testing.assert_array_equal(got[2], np.ones(3, np.float32))  # never updated
    for x, y in zip(got, reference["weights"]):
        np.testing.assert_allclose(x, y, rtol=2e-4, atol=2e-5)


@needs_mpi
def test_uneven_shares_and_a_batch_smaller_than_the_ranks(tmp_path):
    """Batches of 3 rows on 2 ranks (shares 2 and 1) and on 4 ranks (one rank gets none)."""
    reference = _one_process(mpi_worker.fit, batch_size=3)
    assert reference["steps"] >= 100
    for ranks in (2, 4):
        out = tmp_path / str(ranks)
        out.mkdir()
        r = _worker("fit", out, "--batch-size", "3", ranks=ranks)
        assert r.returncode == 0, r.stdout + r.stderr
        for x, y in zip(_saved_weights(out), reference["weights"]):
            np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-4)


@needs_mpi
def test_a_hand_written_loop_with_strategy_allreduce(tmp_path):
    r = _worker("loop", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    reference = _one_process(mpi_worker.loop)
    for x, y in zip(_saved_weights(tmp_path), reference["weights"]):
        np.testing.assert_allclose(x, y, rtol=2e-4, atol=2e-5)


@needs_mpi
def test_mismatched_models_are_named_at_the_start(tmp_path):
    r = _worker("shapes", tmp_path)
    assert r.returncode != 0
    assert "has shape (5, 16)" in r.stderr and "has shape (5, 24)" in r.stderr
    assert "rank 1" in r.stderr


@needs_mpi
def test_a_rank_that_raises_ends_the_job(tmp_path):
    start = time.monotonic()
    r = _worker("raise", tmp_path)
    assert r.returncode != 0
    assert "rank 1 fails on purpose" in r.stderr
    assert time.monotonic() - start < TIMEOUT


def _children(pid: int) -> list:
    """Every process below ``pid`` (Linux /proc)."""
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
                frontier.append(int(entry.name))
    return found


def _start_slow(tmp_path: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        _command("-m", "mpi4py", str(WORKER), "slow", str(tmp_path)),
        env=_mpi_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # the suite may run with SIGINT ignored, which children inherit: give mpiexec Ctrl-C back
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + TIMEOUT
    while not all((tmp_path / f"pid.{r}").exists() for r in (0, 1)):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the job did not start: " + proc.communicate()[1])
        time.sleep(0.05)
    time.sleep(1.0)  # well into training
    return proc


def _ends_within(proc: subprocess.Popen, seconds: float) -> int:
    try:
        proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        for pid in _children(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.communicate()
        pytest.fail(f"the job still ran {seconds} s later")
    return proc.returncode


@needs_mpi
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the ranks through /proc")
def test_killing_one_rank_ends_every_rank(tmp_path):
    proc = _start_slow(tmp_path)
    victim = int((tmp_path / "pid.1").read_text())
    survivor = int((tmp_path / "pid.0").read_text())
    os.kill(victim, signal.SIGKILL)
    assert _ends_within(proc, 60) != 0
    assert not Path(f"/proc/{survivor}").exists() or "Z" in _state(survivor)


def _state(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


@needs_mpi
def test_ctrl_c_on_the_launcher_stops_every_rank(tmp_path):
    proc = _start_slow(tmp_path)
    ranks = [int((tmp_path / f"pid.{r}").read_text()) for r in (0, 1)]
    proc.send_signal(signal.SIGINT)
    _ends_within(proc, 60)
    for pid in ranks:
        assert _state(pid) in ("gone", "Z")


@needs_mpi
def test_cli_distributed_trains_and_reports_once(tmp_path):
    out = tmp_path / "two"
    common = ["train", "--synthetic", "--epochs", "2", "--verbose", "2", "--no-plot"]
    r = _run("-m", "tapegrad", *common, "--out", str(out), "--distributed")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("test MSE") == 1 and r.stdout.count("Epoch 2/2") == 1
    assert "ranks 2" in r.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    one = _cli_train(tmp_path / "one", "--epochs", "2")
    assert one.returncode == 0, one.stderr
    reference = json.loads((tmp_path / "one" / "metrics.json").read_text())
    for key in ("train_mse", "val_mse", "test_mse"):
        assert metrics[key] == pytest.approx(reference[key], rel=1e-3), key


@needs_mpi
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the ranks through /proc")
def test_a_killed_distributed_run_resumes_to_the_unbroken_weights(tmp_path):
    common = ["train", "--synthetic", "--epochs", "12", "--verbose", "0", "--no-plot"]
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    r = _run("-m", "tapegrad", *common, "--out", str(whole), "--distributed")
    assert r.returncode == 0, r.stdout + r.stderr
    proc = subprocess.Popen(
        _command("-m", "tapegrad", *common, "--out", str(broken), "--distributed"),
        env=_mpi_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = broken / "checkpoint" / "checkpoint.json"
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        if checkpoint.exists():
            break
        time.sleep(0.01)
    for pid in _children(proc.pid):  # every rank dies at once, as a lost node's would
        os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=60)
    if not (broken / "checkpoint").exists():
        pytest.fail("no checkpoint was written before the kill")
    r = _run("-m", "tapegrad", *common, "--resume", str(broken), "--distributed")
    assert r.returncode == 0, r.stdout + r.stderr
    a = tg.models.load_model(whole / "model").get_weights()
    b = tg.models.load_model(broken / "model").get_weights()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
