"""Compiled steps (tg.function) against the eager tape, JAX's jit and PyTorch eager, one thread,
side by side in one run.

    python bench/bench_compiled.py [--data PATH] [--rounds 15] [--skip-mlp]

Sections (each checks its results before anything is timed):
  a. the seed step (Dense 8->128 relu -> Dense 1, batch 32, MSE, SGD(0.01)) on a fixed batch:
     tapegrad eager tape, the same step under tg.function, jax.jit of value_and_grad + SGD
     (block_until_ready every step), PyTorch eager;
  b. tracing: the first call of a fresh tg.function of that step against one eager call;
  c. an epoch on the seed data (random batches of 32 with replacement): Trainer.fit compiled
     and eager, the same steps by Program.run_batches on the epoch's index matrix, and a Python
     loop over a jax.jit step that gathers its batch inside the jitted function;
  d. the 784-1024-1024-10 MLP at batch 256 (bench/bench_mlp.py's step and softmax cross-entropy)
     compiled, eager and PyTorch eager.
Every contender is timed in turn within each round, so a change in the shared machine's load
hits all alike; figures are medians over rounds and each ratio is the median of its per-round
ratios. JAX and PyTorch are optional benchmark tools, never dependencies.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time

# bench_mlp, bench_train: sibling benchmarks (the script's folder is on sys.path).
import bench_mlp
import numpy as np
from bench_train import load

import tapegrad as tg
from tapegrad import layers, losses, models, optimizers
from tapegrad.train import Trainer

BATCH = 32
LR = 0.01


def import_optional(name: str):
    """The module, or None when it is not installed. JAX reads its thread flags at import."""
    if name == "jax":
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "")
            + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    if name == "torch":
        module.set_num_threads(1)
    return module


def interleaved(contenders: dict, rounds: int, reset=lambda: None) -> dict:
    """Seconds per call of each ``fn(n)`` (which runs n calls), timed in turn every round after a
    warm-up, with n sized so one sample takes about 20 ms; ``reset()`` runs before each sample,
    untimed. Returns name -> per-round times."""
    calls = {}
    for name, fn in contenders.items():
        reset()
        fn(1)
        n, elapsed = 1, 0.0
        while elapsed < 0.02 and n < 1 << 16:
            n *= 2
            reset()
            start = time.perf_counter()
            fn(n)
            elapsed = time.perf_counter() - start
        calls[name] = n
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            reset()
            start = time.perf_counter()
            fn(calls[name])
            times[name].append((time.perf_counter() - start) / calls[name])
    return times


def median(values) -> float:
    return statistics.median(values)


def ratio(times: dict, top: str, bottom: str) -> float:
    """The median over rounds of top/bottom, each round's two figures measured back to back."""
    return median([a / b for a, b in zip(times[top], times[bottom])])


# -- the seed step -------------------------------------------------------------------------------
def seed_model(initial=None):
    model = models.Sequential()
    model.add(layers.Dense(128, activation="relu", input_shape=(8,)))
    model.add(layers.Dense(1))
    if initial is not None:
        model.set_weights(initial)
    return model


def seed_step_fn(model, optimizer):
    """The seed notebook's step as one Python function: what tg.function traces."""
    variables = model.trainable_variables

    def train_step(xb, yb):
        with tg.GradientTape() as tape:
            loss = tg.reduce_mean(losses.mean_squared_error(yb, model(xb)))
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    return train_step


def jax_seed_step(jax, lr: float):
    """value_and_grad + SGD of the same model, jitted."""
    jnp = jax.numpy

    def loss_fn(params, xb, yb):
        w1, b1, w2, b2 = params
        h = jax.nn.relu(xb @ w1 + b1)
        return jnp.mean((yb - (h @ w2 + b2)) ** 2)

    def step(params, xb, yb):
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        return [p - lr * g for p, g in zip(params, grads)], loss

    return jax.jit(step)


def torch_seed_step(torch, initial, xb, yb):
    w1, b1, w2, b2 = (torch.tensor(w, requires_grad=True) for w in initial)
    params = [w1, b1, w2, b2]
    x, y = torch.from_numpy(xb), torch.from_numpy(yb)

    def step():
        loss = torch.mean((y - (torch.relu(x @ w1 + b1) @ w2 + b2)) ** 2)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.sub_(LR * p.grad)
        return loss

    return step, params


def weights_equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def section_seed_step(X, y, rounds: int, jax, torch) -> None:
    xb_np, yb_np = X[:BATCH], y[:BATCH]
    xb, yb = tg.constant(xb_np), tg.constant(yb_np)
    tg.set_random_seed(0)
    initial = seed_model().get_weights()
    eager_model, compiled_model = seed_model(initial), seed_model(initial)
    eager_step = seed_step_fn(eager_model, optimizers.SGD(LR))
    compiled_step = tg.function(seed_step_fn(compiled_model, optimizers.SGD(LR)))

    # Check: 20 steps each from the same weights give bitwise equal losses and weights.
    for _ in range(20):
        eager_loss, compiled_loss = float(eager_step(xb, yb)), float(compiled_step(xb, yb))
        assert eager_loss == compiled_loss, (eager_loss, compiled_loss)
    assert weights_equal(eager_model.get_weights(), compiled_model.get_weights())
    checks = ["tg.function == eager tape bitwise after 20 steps"]

    contenders = {
        "tapegrad eager tape": lambda n: [eager_step(xb, yb) for _ in range(n)],
        "tapegrad tg.function": lambda n: [compiled_step(xb, yb) for _ in range(n)],
    }
    if jax is not None:
        jstep = jax_seed_step(jax, LR)
        jx, jy = jax.device_put(xb_np), jax.device_put(yb_np)
        jparams = [jax.device_put(w) for w in initial]
        reference = seed_model(initial)
        ref_step = seed_step_fn(reference, optimizers.SGD(LR))
        for _ in range(3):
            ref_loss = float(ref_step(xb, yb))
            jparams, jloss = jstep(jparams, jx, jy)
            assert np.isclose(float(jloss), ref_loss, rtol=1e-5), (float(jloss), ref_loss)
        for got, want in zip(jparams, reference.get_weights()):
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-6)
        checks.append("jax losses and weights after 3 steps within 1e-5/1e-4 of tapegrad")
        state = {"params": jparams}

        def jax_steps(n):
            params = state["params"]
            for _ in range(n):
                params, loss = jstep(params, jx, jy)
                loss.block_until_ready()
            state["params"] = params

        contenders["jax.jit"] = jax_steps
    if torch is not None:
        tstep, tparams = torch_seed_step(torch, initial, xb_np, yb_np)
        reference = seed_model(initial)
        ref_step = seed_step_fn(reference, optimizers.SGD(LR))
        for _ in range(3):
            ref_loss, t_loss = float(ref_step(xb, yb)), float(tstep().detach())
            assert np.isclose(t_loss, ref_loss, rtol=1e-5), (t_loss, ref_loss)
        checks.append("torch losses after 3 steps within 1e-5 of tapegrad")
        contenders["torch eager"] = lambda n: [tstep() for _ in range(n)]
    print("checked: " + "; ".join(checks))

    # Every sample starts from the initial weights: thousands of steps on one batch drive the
    # loss toward 0 and the step slows down several times over (subnormal floats, presumably).
    def reset():
        eager_model.set_weights(initial)
        compiled_model.set_weights(initial)
        if jax is not None:
            state["params"] = [jax.device_put(w) for w in initial]
        if torch is not None:
            with torch.no_grad():
                for p, w in zip(tparams, initial):
                    p.copy_(torch.tensor(w))

    times = interleaved(contenders, rounds, reset)
    print(f"\na. seed step, batch {BATCH}, fixed batch (us/step, median of {rounds} rounds)")
    for name, ts in times.items():
        line = f"   {name:24} {median(ts) * 1e6:9.2f} us"
        if name != "tapegrad tg.function":
            line += f"   {name}/compiled = {ratio(times, name, 'tapegrad tg.function'):6.2f}"
        print(line)


def section_tracing(X, y, rounds: int) -> None:
    xb, yb = tg.constant(X[:BATCH]), tg.constant(y[:BATCH])
    tg.set_random_seed(0)
    model = seed_model()
    initial = model.get_weights()
    optimizer = optimizers.SGD(LR)
    step = seed_step_fn(model, optimizer)
    fresh = tg.function(step)
    program = fresh.get_program(xb, yb)

    trace_s, eager_s = [], []
    for _ in range(rounds):
        model.set_weights(initial)
        fresh = tg.function(step)
        start = time.perf_counter()
        fresh(xb, yb)
        trace_s.append(time.perf_counter() - start)
        assert fresh.experimental_get_tracing_count() == 1
        model.set_weights(initial)
        start = time.perf_counter()
        step(xb, yb)
        eager_s.append(time.perf_counter() - start)
    ratios = [t / e for t, e in zip(trace_s, eager_s)]
    print(f"\nb. tracing the seed step ({program.num_instructions} instructions, {rounds} rounds)")
    print(f"   first call of a fresh tg.function {median(trace_s) * 1e6:9.1f} us")
    print(f"   one eager call                    {median(eager_s) * 1e6:9.1f} us")
    print(f"   trace / eager = {median(ratios):.2f}")


# -- an epoch ----------------------------------------------------------------------------------
def section_epoch(X, y, rounds: int, jax) -> None:
    n, steps = len(X), len(X) // BATCH  # the Trainer's sampling="random" epoch
    extra_epochs = 4
    tg.set_random_seed(0)
    initial = seed_model().get_weights()
    # The Trainer draws epoch e's batches in C++ from a seed its default_rng(seed) picks
    # (python/tapegrad/trainer.py's _epoch_batches): its first epoch's matrix.
    epoch_seed = int(np.random.default_rng(0).integers(2**63))
    first_epoch_rows = tg._core.random_batch_indices(n, steps, BATCH, epoch_seed)

    def make_trainer(compiled: bool):
        model = seed_model(initial)
        trainer = Trainer(
            model, loss="mse", optimizer=optimizers.SGD(LR), metrics=["mse"], compiled=compiled
        )
        return model, trainer

    def fit(model, trainer, epochs: int):
        model.set_weights(initial)
        trainer.fit(X, y, epochs=epochs, batch_size=BATCH, sampling="random", verbose=0, seed=0)

    compiled_model, compiled_trainer = make_trainer(True)
    eager_model, eager_trainer = make_trainer(False)

    replay_model = seed_model(initial)
    replay_fn = tg.function(seed_step_fn(replay_model, optimizers.SGD(LR)))
    X_t, Y_t = tg.constant(X), tg.constant(y)
    # Getting the program traces (runs) one step; replay_epoch resets the weights first.
    program = replay_fn.get_program(tg.constant(X[:BATCH]), tg.constant(y[:BATCH]))

    def replay_epoch():
        replay_model.set_weights(initial)
        losses_run, stopped = program.run_batches([X_t, Y_t], first_epoch_rows)
        assert not stopped
        return losses_run

    # Check: one epoch by the compiled Trainer, the eager Trainer and run_batches on the same
    # index matrix ends at bitwise the same weights.
    fit(compiled_model, compiled_trainer, 1)
    fit(eager_model, eager_trainer, 1)
    replay_losses = replay_epoch()
    assert weights_equal(compiled_model.get_weights(), eager_model.get_weights())
    assert weights_equal(compiled_model.get_weights(), replay_model.get_weights())
    checks = [f"one epoch ({steps} steps): Trainer compiled == eager == run_batches bitwise"]

    # An epoch after the first: fit(1 + extra) minus fit(1), both timed in the same round, so the
    # trace of the first step, fit's setup and the first epoch cancel.
    contenders = {
        "Trainer fit(1) compiled": lambda: fit(compiled_model, compiled_trainer, 1),
        "Trainer fit(5) compiled": lambda: fit(compiled_model, compiled_trainer, 1 + extra_epochs),
        "run_batches": replay_epoch,
        "Trainer fit(1) eager": lambda: fit(eager_model, eager_trainer, 1),
        "Trainer fit(5) eager": lambda: fit(eager_model, eager_trainer, 1 + extra_epochs),
    }
    if jax is not None:
        jnp = jax.numpy
        jstep_inner = jax_seed_step(jax, LR)

        @jax.jit
        def jstep(params, X_all, Y_all, rows):
            return jstep_inner(params, jnp.take(X_all, rows, axis=0), jnp.take(Y_all, rows, axis=0))

        jX, jY = jax.device_put(X), jax.device_put(y)
        rows32 = first_epoch_rows.astype(np.int32)

        def jax_epoch():
            params = [jax.device_put(w) for w in initial]
            out = []
            for k in range(steps):
                params, loss = jstep(params, jX, jY, rows32[k])
                out.append(loss)
            jax.block_until_ready(params)
            return np.asarray(out)

        jax_losses = jax_epoch()
        worst = float(np.max(np.abs(jax_losses - replay_losses) / np.abs(replay_losses)))
        assert worst < 1e-3, worst
        checks.append(f"jax epoch losses within {worst:.1e} (relative) of run_batches")
        contenders["jax.jit loop"] = jax_epoch
    print("checked: " + "; ".join(checks))

    times = {name: [] for name in contenders}
    for fn in contenders.values():
        fn()  # warm-up
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    per_epoch = {
        "Trainer epoch compiled": [
            (b - a) / extra_epochs
            for a, b in zip(times["Trainer fit(1) compiled"], times["Trainer fit(5) compiled"])
        ],
        f"run_batches {steps} steps": times["run_batches"],
        "Trainer epoch eager": [
            (b - a) / extra_epochs
            for a, b in zip(times["Trainer fit(1) eager"], times["Trainer fit(5) eager"])
        ],
    }
    if jax is not None:
        per_epoch[f"jax.jit loop {steps} steps"] = times["jax.jit loop"]
    print(
        f"\nc. one epoch, {steps} random batches of {BATCH} from {n} x {X.shape[1]} "
        f"(ms, median of {rounds} rounds; Trainer epoch = (fit(5) - fit(1)) / 4, MSE metric)"
    )
    for name, ts in per_epoch.items():
        print(f"   {name:28} {median(ts) * 1e3:8.3f} ms   {median(ts) / steps * 1e6:7.2f} us/step")
    trainer_name, replay_name = "Trainer epoch compiled", f"run_batches {steps} steps"
    print(f"   Trainer epoch / run_batches     = {ratio(per_epoch, trainer_name, replay_name):.3f}")
    print(
        f"   eager Trainer / compiled Trainer = "
        f"{ratio(per_epoch, 'Trainer epoch eager', trainer_name):.2f}"
    )
    if jax is not None:
        jax_name = f"jax.jit loop {steps} steps"
        jax_ratio = ratio(per_epoch, jax_name, trainer_name)
        print(f"   jax loop / Trainer epoch        = {jax_ratio:.2f}")


# -- the MLP -------------------------------------------------------------------------------------
def mlp_flops(batch: int, sizes) -> float:
    """Forward GEMMs 2*B*K*N per layer, times 3 for forward + backward (dX and dW): the usual
    count. The first layer's input gradient is not computed (x is a constant), so the kernels
    do 2*B*784*1024 fewer; the figure is kept comparable with other libraries' reports."""
    return 6.0 * batch * sum(k * n for k, n in zip(sizes[:-1], sizes[1:]))


def section_mlp(rounds: int, torch) -> None:
    params, x, labels, onehot = bench_mlp.init(np)
    eager_step = bench_mlp.tapegrad_step_fn(np, params, x, onehot)
    compiled_step = tg.function(bench_mlp.tapegrad_step_fn(np, params, x, onehot))
    # Check: three steps each from the same weights give bitwise equal losses.
    for _ in range(3):
        eager_loss, compiled_loss = float(eager_step()), float(compiled_step())
        assert eager_loss == compiled_loss, (eager_loss, compiled_loss)
    checks = ["3 steps tg.function == eager bitwise"]
    contenders = {
        "tapegrad tg.function": lambda n: [compiled_step() for _ in range(n)],
        "tapegrad eager tape": lambda n: [eager_step() for _ in range(n)],
    }
    if torch is not None:
        torch_step = bench_mlp.torch_step_fn(torch, params, x, labels)
        reference = bench_mlp.tapegrad_step_fn(np, params, x, onehot)
        want, got = float(reference()), float(torch_step().detach())
        assert abs(want - got) < 1e-4 * max(1.0, abs(want)), (want, got)
        checks.append("first-step loss matches torch within 1e-4")
        contenders["torch eager"] = lambda n: [torch_step() for _ in range(n)]
    print("checked: " + "; ".join(checks))

    flops = mlp_flops(bench_mlp.BATCH, bench_mlp.SIZES)
    times = interleaved(contenders, rounds)
    sizes = "-".join(map(str, bench_mlp.SIZES))
    print(
        f"\nd. MLP {sizes}, batch {bench_mlp.BATCH}, softmax cross-entropy, SGD "
        f"({flops / 1e9:.2f} GFLOP/step, median of {rounds} rounds)"
    )
    for name, ts in times.items():
        line = f"   {name:24} {median(ts) * 1e3:8.2f} ms {flops / median(ts) / 1e9:7.1f} GFLOP/s"
        if name != "tapegrad tg.function":
            line += f"   {name}/compiled = {ratio(times, name, 'tapegrad tg.function'):.3f}"
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="california_housing.npz (default: the shared copy)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--skip-mlp", action="store_true")
    args = parser.parse_args()
    tg.set_num_threads(1)
    jax = import_optional("jax")
    torch = import_optional("torch")
    X, y, source = load(args.data)
    versions = [f"tapegrad kernels {tg.config()['isa']}"]
    versions.append(f"jax {jax.__version__}" if jax else "jax not installed: its rows skipped")
    versions.append(f"torch {torch.__version__}" if torch else "torch not installed")
    print(f"data: {source}, 1 thread; " + ", ".join(versions))
    section_seed_step(X, y, args.rounds, jax, torch)
    section_tracing(X, y, max(args.rounds, 21))
    section_epoch(X, y, args.rounds, jax)
    if not args.skip_mlp:
        section_mlp(args.rounds, torch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
