"""Tapes free what they saved (a non-persistent tape drops each node as its sweep consumes it),
checked through the
resident set size read from /proc/self/statm (and the peak from getrusage), no weakrefs.

Measurements that need a clean heap run in a fresh interpreter (subprocess) so that earlier tests
and glibc's dynamic mmap threshold do not blur them; glibc keeps freed blocks in its heap after a
large free, so "RSS returns" is checked either with a fixed mmap threshold (MALLOC_MMAP_THRESHOLD_)
or after malloc_trim(0), which returns only memory that was really freed. tapegrad's storage cache
(tapegrad/allocator.h) keeps up to its bound of freed buffers for reuse: tests of what a tape
frees either run with the cache off (TAPEGRAD_CACHE_MB=0) or empty it in trim(); the cache's own
bound is tested at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tapegrad as tg

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1 << 20

pytestmark = pytest.mark.skipif(
    not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm"
)
# .ci/run sets TAPEGRAD_SANITIZED=1 for its AddressSanitizer build: ASan keeps freed blocks in
# quarantine and maps shadow memory, so RSS does not follow frees there.
rss_test = pytest.mark.skipif(
    os.environ.get("TAPEGRAD_SANITIZED") == "1", reason="RSS is not measurable under ASan"
)
LONG = os.environ.get("TAPEGRAD_STRESS") == "1"  # the stress runs: 100k Trainer steps, not 20k


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


PRELUDE = textwrap.dedent(
    """
    import ctypes, gc, json, os, resource
    import numpy as np
    import tapegrad as tg
    PAGE = os.sysconf("SC_PAGE_SIZE")
    MB = 1 << 20
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE
    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    def trim():
        tg._core.release_cached_memory()
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
    def chain(x, n=200):
        y = x
        for _ in range(n):
            y = tg.tanh(y * 1.0001)
        return y
    """
)


# Every buffer its own mapping and no storage cache: RSS follows each free exactly.
FIXED_MMAP = {"MALLOC_MMAP_THRESHOLD_": "131072", "TAPEGRAD_CACHE_MB": "0"}


def run_fresh(body: str, env_extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update(env_extra or {})
    code = PRELUDE + textwrap.dedent(body)
    # the timeout only guards against a hang: 100k steps take seconds, but minutes on a machine
    # shared by several builds
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- in-process checks -------------------------------------------------------------------------


@rss_test
def test_training_loop_10k_steps_rss_stays_flat():
    w = tg.Variable(np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32) * 0.01)

    def step():
        with tg.GradientTape() as tape:
            loss = tg.reduce_sum(w * w)
        g = tape.gradient(loss, w)
        w.assign_sub(0.001 * g)
        return tape

    for _ in range(300):  # warm-up: allocator pools, caches
        step()
    before = rss()
    for _ in range(10_000):
        tape = step()
    growth = rss() - before
    assert tape.num_nodes == 0
    assert growth < 4 * MB, f"RSS grew by {growth / MB:.1f} MB over 10k steps"
    assert np.isfinite(w.numpy()).all()


@rss_test
def test_100k_compiled_training_steps_rss_stays_flat():
    """A tg.function training step (tape, gradient, optimizer, metric) replayed 100k times, and
    the Trainer's batched replays: nothing a replay makes outlives it."""
    rng = np.random.default_rng(0)
    model = tg.models.Sequential(
        [tg.layers.Dense(32, "relu", input_shape=(8,)), tg.layers.Dense(1)]
    )
    optimizer = tg.optimizers.Adam(1e-3)
    metric = tg.metrics.MeanSquaredError()
    variables = model.trainable_variables

    @tg.function
    def step(x, y):
        with tg.GradientTape() as tape:
            pred = model(x)
            loss = tg.reduce_mean(tg.nn.mean_squared_error(y, pred))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        metric.update_state(y, pred)
        return loss

    x = tg.constant(rng.standard_normal((16, 8)).astype(np.float32))
    y = tg.constant(rng.standard_normal((16, 1)).astype(np.float32))
    for _ in range(1000):  # warm-up: allocator pools, caches
        step(x, y)
    program = step.get_program(x, y)
    X = tg.constant(rng.standard_normal((512, 8)).astype(np.float32))
    Y = tg.constant(rng.standard_normal((512, 1)).astype(np.float32))
    indices = tg._core.random_batch_indices(512, 1000, 16, 0)
    program.run_batches([X, Y], indices)
    before = rss()
    for _ in range(50_000):
        step(x, y)
    for _ in range(50):
        program.run_batches([X, Y], indices)
    growth = rss() - before
    assert step.trace_count == 1 and optimizer.iterations == 1000 + 1000 + 100_000
    assert growth < 4 * MB, f"RSS grew by {growth / MB:.1f} MB over 100k compiled steps"
    assert np.isfinite(float(metric.result()))


@rss_test
def test_nested_tape_loop_rss_stays_flat():
    x = tg.Variable(np.linspace(-1, 1, 128 * 128).reshape(128, 128))

    def step():
        with tg.GradientTape() as outer:
            with tg.GradientTape() as inner:
                y = tg.reduce_sum(tg.tanh(x) * x)
            g = inner.gradient(y, x)
            s = tg.reduce_sum(g * g)
        return outer.gradient(s, x)

    for _ in range(100):
        step()
    before = rss()
    for _ in range(2000):
        h = step()
    assert h.shape == (128, 128)
    growth = rss() - before
    assert growth < 4 * MB, f"RSS grew by {growth / MB:.1f} MB over 2000 nested steps"


def test_non_persistent_tape_num_nodes_zero_after_gradient():
    x = tg.Variable(np.ones((4, 4)))
    with tg.GradientTape() as tape:
        y = tg.reduce_sum(tg.tanh(x * x) + x)
    assert tape.num_nodes > 0
    tape.gradient(y, x)
    assert tape.num_nodes == 0
    # with a gradient computed inside the block too
    with tg.GradientTape() as tape:
        y = tg.reduce_sum(x * x)
        tape.gradient(y, x)
        assert tape.num_nodes == 0
        z = x * 3.0  # not recorded any more
    assert tape.num_nodes == 0
    del z


def test_persistent_tape_keeps_nodes_until_reset():
    x = tg.Variable(np.ones((4, 4)))
    with tg.GradientTape(persistent=True) as tape:
        y = tg.reduce_sum(tg.tanh(x * x))
    n = tape.num_nodes
    assert n > 0
    tape.gradient(y, x)
    tape.gradient(y, x)
    assert tape.num_nodes == n
    tape.reset()
    assert tape.num_nodes == 0
    assert tape.gradient(y, x) is None


@rss_test
def test_abandoned_tapes_in_a_loop_do_not_accumulate():
    x = tg.Variable(np.ones((128, 128), dtype=np.float32))
    for _ in range(50):
        with tg.GradientTape() as tape:
            tg.tanh(x * 2.0)
    before = rss()
    for _ in range(1000):  # a leak of the saved 64 KB tensors would be > 100 MB
        with tg.GradientTape() as tape:  # recorded, never asked for a gradient, dropped
            tg.tanh(x * 2.0)
        with tg.GradientTape(persistent=True) as ptape:
            tg.tanh(x * 2.0)
    del tape, ptape
    growth = rss() - before
    assert growth < 4 * MB, f"RSS grew by {growth / MB:.1f} MB"


# ---- fresh-interpreter checks ------------------------------------------------------------------

PERSISTENT_DEL = """
    x = tg.Variable(np.ones((256, 256), dtype=np.float32))
    gc.collect(); trim()
    base = rss()
    with tg.GradientTape(persistent=True) as tape:
        y = chain(x)
    recorded = rss() - base
    g = tape.gradient(y, x)
    g2 = tape.gradient(y, x)
    assert np.array_equal(g.numpy(), g2.numpy())
    del tape, y, g, g2
    gc.collect()
    after_del = rss() - base
    trim()
    after_trim = rss() - base
    print(json.dumps({"recorded": recorded, "after_del": after_del, "after_trim": after_trim}))
"""


@rss_test
def test_persistent_tape_del_frees_memory_fixed_mmap_threshold():
    # with a fixed mmap threshold every 256 KB buffer is its own mapping: RSS follows frees exactly
    r = run_fresh(PERSISTENT_DEL, FIXED_MMAP)
    assert r["recorded"] > 40 * MB, r  # 200 nodes saving 256 KB tensors
    assert r["after_del"] < 8 * MB, f"persistent tape not freed by del: {r}"


@rss_test
def test_persistent_tape_del_frees_memory_default_allocator():
    r = run_fresh(PERSISTENT_DEL)
    assert r["recorded"] > 40 * MB, r
    assert r["after_trim"] < 8 * MB, f"persistent tape not freed by del: {r}"


@rss_test
def test_persistent_tape_reset_frees_memory():
    r = run_fresh(
        """
        x = tg.Variable(np.ones((256, 256), dtype=np.float32))
        gc.collect(); trim()
        base = rss()
        with tg.GradientTape(persistent=True) as tape:
            y = chain(x)
        recorded = rss() - base
        del y
        tape.reset()
        gc.collect()
        after_reset = rss() - base
        nodes = tape.num_nodes
        print(json.dumps({"recorded": recorded, "after_reset": after_reset, "nodes": nodes}))
        """,
        FIXED_MMAP,
    )
    assert r["recorded"] > 40 * MB, r
    assert r["nodes"] == 0
    assert r["after_reset"] < 8 * MB, f"reset() did not free the saved tensors: {r}"


@rss_test
def test_repeated_persistent_tapes_do_not_grow():
    r = run_fresh(
        """
        x = tg.Variable(np.ones((256, 256), dtype=np.float32))
        sizes = []
        for _ in range(6):
            with tg.GradientTape(persistent=True) as tape:
                y = chain(x, 100)
            g = tape.gradient(y, x)
            del tape, y, g
            gc.collect()
            sizes.append(rss())
        print(json.dumps({"sizes": sizes}))
        """
    )
    sizes = r["sizes"]
    assert sizes[-1] - sizes[1] < 8 * MB, [s / MB for s in sizes]


SWEEP_PEAK = """
    import sys
    persistent = {persistent}
    x = tg.Variable(np.ones((256, 256), dtype=np.float32))
    with tg.GradientTape(persistent=persistent) as tape:
        y = chain(x)
    gc.collect()
    before = peak()
    g = tape.gradient(y, x)
    extra = peak() - before
    print(json.dumps({{"extra": extra}}))
"""


@rss_test
def test_non_persistent_sweep_frees_as_it_goes():
    r = run_fresh(SWEEP_PEAK.format(persistent=False), FIXED_MMAP)
    assert r["extra"] < 16 * MB, f"the sweep's peak grew by {r['extra'] / MB:.1f} MB"


@rss_test
def test_persistent_sweep_does_not_hold_every_intermediate_gradient():
    r = run_fresh(SWEEP_PEAK.format(persistent=True), FIXED_MMAP)
    assert r["extra"] < 16 * MB, f"the sweep's peak grew by {r['extra'] / MB:.1f} MB"


# ---- higher order (issue 3): nested tapes free what they saved --------------------------------

NESTED_LOOP = """
    x = tg.Variable(np.linspace(-1.0, 1.0, 32 * 32).reshape(32, 32))
    small = tg.constant(np.array([0.3, -0.7, 1.1]))

    def nested():
        with tg.GradientTape() as outer:
            with tg.GradientTape() as inner:
                y = tg.reduce_sum(tg.tanh(x) * x)
            g = inner.gradient(y, x)
            s = tg.reduce_sum(g * g)
        return outer.gradient(s, x), inner.num_nodes + outer.num_nodes

    def f(v):
        return tg.reduce_sum(tg.exp(v) * v)

    steps = {{
        "nested": nested,
        "hvp": lambda: (tg.hvp(lambda v: tg.reduce_sum(tg.tanh(v) * v), x, x), 0),
        "hessian": lambda: (tg.hessian(f, small), 0),
    }}
    out = {{}}
    for name, step in steps.items():
        for _ in range(300):  # warm-up: allocator pools, caches
            step()
        gc.collect()
        sizes = [rss()]
        left = 0
        for i in range({n}):
            h, nodes = step()
            left = max(left, nodes)
            if (i + 1) % 2000 == 0:
                sizes.append(rss())
        out[name] = {{"sizes": sizes, "left": left, "shape": list(h.shape)}}
    print(json.dumps(out))
"""


@rss_test
def test_10k_nested_second_derivatives_rss_stays_flat():
    # 10k nested non-persistent second derivatives (tapes, tg.hvp, tg.hessian's jacobian) in a
    # fresh interpreter: any node or saved 8 KB tensor kept per step would add > 80 MB.
    r = run_fresh(NESTED_LOOP.format(n=10_000))
    for name, res in r.items():
        sizes = res["sizes"]
        growth = sizes[-1] - sizes[0]
        assert growth < 4 * MB, f"{name}: RSS grew by {growth / MB:.1f} MB over 10k steps: {sizes}"
        assert res["left"] == 0, f"{name}: a tape still held nodes after both gradients"
    assert r["nested"]["shape"] == [32, 32] and r["hessian"]["shape"] == [3, 3]


NESTED_FREE = """
    x = tg.Variable(np.ones((256, 256), dtype=np.float32))
    gc.collect(); trim()
    base = rss()
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = chain(x, 50)
        recorded = rss() - base
        g = inner.gradient(y, x)  # recorded by outer: outer still holds the forward's nodes
        inner_nodes = inner.num_nodes
        s = tg.reduce_sum(g * g)
    outer_nodes = outer.num_nodes
    del y
    gc.collect()
    after_inner = rss() - base
    h = outer.gradient(s, x)
    del g, s, h
    gc.collect()
    after_both = rss() - base
    print(json.dumps({"recorded": recorded, "after_inner": after_inner, "after_both": after_both,
                      "inner_nodes": inner_nodes, "outer_nodes": outer_nodes,
                      "outer_left": outer.num_nodes}))
"""


@rss_test
def test_nested_tapes_free_what_they_saved_once_both_gradients_are_taken():
    r = run_fresh(NESTED_FREE, FIXED_MMAP)
    assert r["recorded"] > 10 * MB, r  # 50 tanh nodes saving 256 KB outputs (and the products)
    assert r["inner_nodes"] == 0 and r["outer_nodes"] > 100, r
    assert r["after_inner"] > 10 * MB, r  # the outer tape still needs the forward's saved values
    assert r["outer_left"] == 0, r
    assert r["after_both"] < 4 * MB, f"nested tapes kept their saved tensors: {r}"


# ---- the storage cache (tapegrad/allocator.h) ----------------------------------------------------


def test_storage_cache_reuses_a_freed_output():
    x = tg.constant(np.ones(1 << 20, dtype=np.float32))  # 4 MB: huge-page sized
    tg.relu(x)  # warm the size class
    before = tg._core.alloc_stats()
    for _ in range(20):
        y = tg.relu(x)
        del y
    after = tg._core.alloc_stats()
    assert after["hits"] - before["hits"] >= 20
    assert after["misses"] == before["misses"]
    assert after["cached_bytes"] <= after["cache_limit"]


@rss_test
def test_storage_cache_stays_within_its_bound():
    r = run_fresh(
        """
        gc.collect()
        base = rss()
        # 80 live buffers of 40 distinct sizes (1 to 5 MB), then all freed at once: far more
        # than the 16 MB bound, so most must go back to the system
        live = [tg.constant(np.zeros((256 + (i % 40) * 32) * 1024, np.float32)) + 1.0
                for i in range(80)]
        peak_live = rss() - base
        del live
        gc.collect()
        s = tg._core.alloc_stats()
        after_free = rss() - base
        tg._core.release_cached_memory()
        emptied = tg._core.alloc_stats()["cached_bytes"]
        print(json.dumps({"peak_live": peak_live, "after_free": after_free, "stats": s,
                          "emptied": emptied}))
        """,
        {"TAPEGRAD_CACHE_MB": "16", "MALLOC_MMAP_THRESHOLD_": "131072"},
    )
    assert r["stats"]["cache_limit"] == 16 * MB
    assert r["stats"]["cached_bytes"] <= 16 * MB, r
    assert r["peak_live"] > 150 * MB, r
    assert r["after_free"] < 16 * MB + 16 * MB, f"RSS held beyond the cache bound: {r}"
    assert r["emptied"] == 0


@rss_test
def test_100k_steps_with_varying_sizes_hold_flat_rss():
    r = run_fresh(
        """
        xs = [tg.constant(np.linspace(-1, 1, n).astype(np.float32)) for n in (100, 3000, 70000)]
        def step(i):
            x = xs[i % 3]
            with tg.GradientTape() as tape:
                tape.watch(x)
                y = tg.reduce_sum(tg.relu(x) * x)
            return tape.gradient(y, x)
        for i in range(3000):
            step(i)
        base = rss()
        for i in range(100_000):
            g = step(i)
        growth = rss() - base
        print(json.dumps({"growth": growth, "stats": tg._core.alloc_stats()}))
        """
    )
    assert r["growth"] < 4 * MB, f"RSS grew by {r['growth'] / MB:.1f} MB over 100k steps: {r}"
    assert r["stats"]["hits"] > 100_000, r


@rss_test
def test_trainer_fit_steps_hold_flat_rss():
    """Trainer.fit's compiled steps (Program.run_batches under each epoch) over 20k steps (100k
    with TAPEGRAD_STRESS=1) after a warm-up of 2k: nothing a step makes outlives it."""
    steps = 100_000 if LONG else 20_000
    r = run_fresh(
        f"""
        rng = np.random.default_rng(0)
        x = rng.standard_normal((512, 8)).astype(np.float32)
        y = rng.standard_normal((512, 1)).astype(np.float32)
        model = tg.models.Sequential(
            [tg.layers.Dense(32, "relu", input_shape=(8,)), tg.layers.Dense(1)]
        )
        model.compile(optimizer="adam", loss="mse")
        def fit(epochs):
            return model.fit(x, y, epochs=epochs, batch_size=16, sampling="random",
                             steps_per_epoch=1000, verbose=0, seed=0)
        fit(2)  # warm-up: the traced step, allocator pools, caches
        gc.collect()
        base = rss()
        history = fit({steps // 1000})
        gc.collect()
        print(json.dumps({{"growth": rss() - base, "iterations": int(model.optimizer.iterations),
                          "loss": history.history["loss"][-1]}}))
        """
    )
    assert r["iterations"] == 2000 + steps, r
    assert np.isfinite(r["loss"]), r
    assert r["growth"] < 4 * MB, f"RSS grew by {r['growth'] / MB:.1f} MB over {steps} fit steps"
