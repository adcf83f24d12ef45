"""Threads and fork under load: trainers running side by side in threads while another thread
changes tg.set_num_threads give the weights of one single-threaded run bit for bit (the kernels
split work so that the thread count never changes a sum's order), and a process forked after
threaded work runs threaded kernels itself. Short in CI; TAPEGRAD_STRESS=1 runs them longer.
(The RSS-over-100k-steps checks live in test_memory.py.)
"""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest

import tapegrad as tg

LONG = os.environ.get("TAPEGRAD_STRESS") == "1"


@pytest.fixture
def restore_num_threads():
    before = tg.num_threads()
    yield
    tg.set_num_threads(before)


def _data():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((1024, 64)).astype(np.float32)
    y = np.tanh(x[:, :1] - x[:, 1:2]).astype(np.float32)
    return x, y


def _model(weights=None):
    # 512 hidden units: batches of 256 give 131,072-element activations, past the kernels'
    # threading threshold, so the thread count matters to every step
    tg.set_random_seed(16)
    model = tg.models.Sequential(
        [tg.layers.Dense(512, "relu", input_shape=(64,)), tg.layers.Dense(1)]
    )
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=tg.optimizers.Adam(1e-3), loss="mse")
    return model


def _fit(model, x, y, epochs):
    model.fit(x, y, epochs=epochs, batch_size=256, shuffle=True, seed=7, verbose=0)
    return model.get_weights()


def test_concurrent_trainers_with_toggling_thread_count_match_a_single_threaded_run(
    restore_num_threads,
):
    x, y = _data()
    epochs = 12 if LONG else 2
    initial = _model().get_weights()
    default_threads = tg.num_threads()
    tg.set_num_threads(1)
    reference = _fit(_model(initial), x, y, epochs)
    tg.set_num_threads(default_threads)

    models = [_model(initial) for _ in range(4)]
    results: list = [None] * len(models)
    errors: list = []
    stop = threading.Event()

    def train(i):
        try:
            results[i] = _fit(models[i], x, y, epochs)
        except Exception as e:  # reported by the assertion below
            errors.append(e)

    def toggle():
        counts = [1, 2, 3, 4, 2, 1]
        i = 0
        while not stop.is_set():
            tg.set_num_threads(counts[i % len(counts)])
            i += 1
            time.sleep(0.001)

    toggler = threading.Thread(target=toggle)
    trainers = [threading.Thread(target=train, args=(i,)) for i in range(len(models))]
    toggler.start()
    for t in trainers:
        t.start()
    for t in trainers:
        t.join(timeout=600)
    stop.set()
    toggler.join()
    assert not errors, errors
    assert not any(t.is_alive() for t in trainers), "a trainer thread did not finish"
    for i, weights in enumerate(results):
        for w, ref in zip(weights, reference):
            assert np.array_equal(w, ref), f"trainer {i} differs from the single-threaded run"
    assert not np.array_equal(reference[0], initial[0]), "training changed nothing"


def _matmul_check(n):
    a = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    got = tg.matmul(tg.constant(a), tg.constant(a)).numpy()
    return np.allclose(got, a.astype(np.float64) @ a, rtol=1e-4, atol=1e-3)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_after_threaded_work_runs_threaded_kernels_in_the_child(restore_num_threads):
    tg.set_num_threads(4)
    rounds = 10 if LONG else 2
    for _ in range(rounds):
        assert _matmul_check(384)  # the pool's workers exist and are idle now
        with warnings.catch_warnings():
            # Python 3.12+ warns about fork in a threaded process; the pool is idle here
            warnings.simplefilter("ignore", DeprecationWarning)
            # and JAX, when another test imported it, warns from its at-fork hook
            warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
            pid = os.fork()
        if pid == 0:  # the child: threaded work, then leave without running pytest's teardown
            code = 1
            try:
                code = 0 if _matmul_check(384) and tg.num_threads() == 4 else 3
            finally:
                os._exit(code)
        deadline = time.monotonic() + 120
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung in a threaded matmul")
            time.sleep(0.01)
        assert os.waitstatus_to_exitcode(status) == 0
    assert _matmul_check(384)  # the parent's pool still works
