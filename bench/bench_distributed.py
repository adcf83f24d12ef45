"""Data-parallel training over MPI: 1 process against 2 ranks, side by side in one run.

    python bench/bench_distributed.py [--repeat 5] [--ranks 2]

Needs tapegrad[mpi] (mpi4py, mpich's mpiexec). One kernel thread per process. Each repeat runs
1 process (no strategy) and then ``mpiexec -n RANKS`` of this file (``--worker``), alternating,
for two models:
  mlp   784-1024-1024-10 MLP, softmax cross-entropy, SGD, global batch 256
  seed  the seed's Dense(8 -> 128, relu) -> Dense(1), MSE, SGD, global batch 32
Each worker trains with ``Trainer.fit`` (compiled step) and reports the median epoch time after
a warm-up epoch, as samples per second of the whole job. Rank 0 also times, on the model's
gradient size: one fused allreduce (what the Trainer does per step), one allreduce per
gradient tensor (what per-layer buckets cost, which DDP/Horovod would overlap with the backward
sweep), and an 8-byte allreduce (the latency). Figures are medians; ratios are within this run.
The bound printed after the table runs RANKS plain processes at once, each on 1/RANKS of the
batch without any strategy: the most RANKS ranks can reach here before any communication.
The ring-allreduce extrapolation to 8 and 64 ranks printed at the end uses these measurements
and the 1-process step's CPU time as its compute time (wall time on a shared machine is not).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODELS = {
    "mlp": {"batch": 256, "steps": 24, "epochs": 4},
    "seed": {"batch": 32, "steps": 362, "epochs": 6},
}


def build(name: str):
    import tapegrad as tg

    tg.set_random_seed(0)
    rng = np.random.default_rng(0)
    spec = MODELS[name]
    n = spec["batch"] * spec["steps"]
    if name == "mlp":
        X = rng.normal(size=(n, 784)).astype(np.float32)
        y = rng.integers(0, 10, size=n)
        model = tg.models.Sequential(
            [
                tg.layers.Dense(1024, activation="relu", input_shape=(784,)),
                tg.layers.Dense(1024, activation="relu"),
                tg.layers.Dense(10),
            ]
        )
        loss = tg.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        X = rng.normal(size=(n, 8)).astype(np.float32)
        y = (X @ rng.normal(size=(8, 1))).astype(np.float32)
        model = tg.models.Sequential(
            [tg.layers.Dense(128, activation="relu", input_shape=(8,)), tg.layers.Dense(1)]
        )
        loss = "mse"
    return model, loss, X, y


def time_allreduce(strategy, variables, repeat: int = 30) -> dict:
    from mpi4py import MPI

    comm = strategy.comm
    sizes = [int(np.prod(v.shape)) for v in variables]
    fused = np.ones(sum(sizes) + 2, np.float32)
    parts = [np.ones(s, np.float32) for s in sizes]
    tiny = np.ones(2, np.float32)

    def median(fn) -> float:
        fn()
        times = []
        for _ in range(repeat):
            comm.Barrier()
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return {
        "fused_s": median(lambda: comm.Allreduce(MPI.IN_PLACE, fused)),
        "per_tensor_s": median(lambda: [comm.Allreduce(MPI.IN_PLACE, p) for p in parts]),
        "latency_s": median(lambda: comm.Allreduce(MPI.IN_PLACE, tiny)),
        "bytes": fused.nbytes,
    }


def worker(name: str, distributed: bool, share: int = 1) -> tuple[dict, int]:
    """One process's run; ``share`` > 1 trains batches of batch/share rows without any strategy
    (what one of `share` ranks computes, with no communication at all)."""
    import tapegrad as tg

    tg.set_num_threads(1)
    strategy = tg.distribute.MPIStrategy() if distributed else None
    model, loss, X, y = build(name)
    spec = dict(MODELS[name])
    if share > 1:
        spec["batch"] //= share
        X, y = X[: spec["batch"] * spec["steps"]], y[: spec["batch"] * spec["steps"]]
    trainer = tg.train.Trainer(
        model, loss=loss, optimizer=tg.optimizers.SGD(0.01), strategy=strategy
    )
    stamps: list = []  # (wall, CPU) time at each epoch's start and end

    def stamp(epoch, logs=None):
        stamps.append((time.perf_counter(), time.process_time()))

    clock = tg.callbacks.LambdaCallback(on_epoch_begin=stamp, on_epoch_end=stamp)
    trainer.fit(
        X,
        y,
        epochs=spec["epochs"],
        batch_size=spec["batch"],
        verbose=0,
        seed=1,
        callbacks=[clock],
        sampling="random",
    )
    epoch_s = statistics.median(b[0] - a[0] for a, b in zip(stamps[2::2], stamps[3::2]))
    cpu_s = statistics.median(b[1] - a[1] for a, b in zip(stamps[2::2], stamps[3::2]))
    result = {
        "samples_per_s": spec["batch"] * spec["steps"] / epoch_s,
        "epoch_s": epoch_s,
        "step_s": epoch_s / spec["steps"],
        # CPU time barely depends on how busy the machine is: the ring model's compute time
        "cpu_step_s": cpu_s / spec["steps"],
    }
    if strategy is not None:
        result.update(time_allreduce(strategy, model.trainable_variables))
    return result, 0 if strategy is None else strategy.rank


def run_split(name: str, ranks: int) -> dict:
    """`ranks` plain processes at once, each on batch/ranks rows, no allreduce: the most `ranks`
    ranks could reach on this machine (their samples/s summed)."""
    env = {**os.environ, "TAPEGRAD_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--share", str(ranks)]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(ranks)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=1200)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{out}\n{err}")
        results.append(json.loads(next(s for s in out.splitlines() if s.startswith("{"))))
    return {
        "samples_per_s": sum(r["samples_per_s"] for r in results),
        "step_s": max(r["step_s"] for r in results),
    }


def run_worker(name: str, ranks: int) -> dict:
    env = {**os.environ, "TAPEGRAD_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    here = str(Path(__file__).resolve())
    if ranks == 1:
        cmd = [sys.executable, here, "--worker", name]
    else:
        mpiexec = Path(sys.executable).parent / "mpiexec"
        cmd = [
            str(mpiexec) if mpiexec.exists() else "mpiexec",
            "-n",
            str(ranks),
            sys.executable,
            "-m",
            "mpi4py",
            here,
            "--worker",
            name,
            "--distributed",
        ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    line = next(s for s in out.stdout.splitlines() if s.startswith("{"))
    return json.loads(line)


def ring_speedup(step_1: float, grad_bytes: int, bandwidth: float, latency: float, p: int) -> float:
    """Samples/s on p ranks over 1 process: compute splits p ways, a ring allreduce costs
    2 (p-1) latencies plus 2 (p-1)/p of the gradient bytes over the link bandwidth."""
    allreduce = 2 * (p - 1) * latency + 2 * (p - 1) / p * grad_bytes / bandwidth
    return step_1 / (step_1 / p + allreduce)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--worker", choices=sorted(MODELS))
    parser.add_argument("--distributed", action="store_true")
    parser.add_argument("--share", type=int, default=1)
    args = parser.parse_args()
    if args.worker:
        result, rank = worker(args.worker, args.distributed, args.share)
        if rank == 0:
            print(json.dumps(result))
        return 0

    print(f"load average before: {os.getloadavg()}")
    rows: dict = {name: {"1": [], "p": [], "split": []} for name in MODELS}
    for _ in range(args.repeat):
        for name in MODELS:
            rows[name]["1"].append(run_worker(name, 1))
            rows[name]["p"].append(run_worker(name, args.ranks))
            rows[name]["split"].append(run_split(name, args.ranks))
    print(f"load average after: {os.getloadavg()}")
    p = args.ranks
    print(
        f"\n{'model':6} {'1 proc samples/s':>17} {f'{p} ranks samples/s':>18} {'ratio':>6} "
        f"{'step ms (1)':>11} {f'step ms ({p})':>11} {'fused allreduce ms':>19} "
        f"{'per-tensor ms':>13}"
    )
    summary = {}
    for name, got in rows.items():
        one = statistics.median(r["samples_per_s"] for r in got["1"])
        many = statistics.median(r["samples_per_s"] for r in got["p"])
        fused = statistics.median(r["fused_s"] for r in got["p"])
        per_tensor = statistics.median(r["per_tensor_s"] for r in got["p"])
        latency = statistics.median(r["latency_s"] for r in got["p"])
        step_1 = statistics.median(r["step_s"] for r in got["1"])
        cpu_1 = statistics.median(r["cpu_step_s"] for r in got["1"])
        step_p = statistics.median(r["step_s"] for r in got["p"])
        grad_bytes = got["p"][0]["bytes"]
        summary[name] = (cpu_1, grad_bytes, fused, latency)
        print(
            f"{name:6} {one:17.0f} {many:18.0f} {many / one:6.2f} {step_1 * 1e3:11.3f} "
            f"{step_p * 1e3:11.3f} {fused * 1e3:19.3f} {per_tensor * 1e3:13.3f}"
        )
    print(
        f"\nthe bound: {p} plain processes at once, each on 1/{p} of the batch, no allreduce; then "
        "the same with the fused allreduce's time added to each step"
    )
    for name, got in rows.items():
        one = statistics.median(r["samples_per_s"] for r in got["1"])
        split = statistics.median(r["samples_per_s"] for r in got["split"])
        step_split = statistics.median(r["step_s"] for r in got["split"])
        fused = statistics.median(r["fused_s"] for r in got["p"])
        bound = split * step_split / (step_split + fused)
        print(
            f"{name:6} no allreduce {split / one:5.2f}x 1 process "
            f"(step {step_split * 1e3:.3f} ms), with it {bound / one:5.2f}x"
        )
    _, grad_bytes, fused, latency = summary["mlp"]
    # bus bandwidth of the measured 2-rank ring: 2 (p-1)/p bytes moved per allreduced byte
    bandwidth = (2 * (p - 1) / p) * grad_bytes / max(fused - 2 * (p - 1) * latency, 1e-9)
    print(
        f"\nallreduce: latency {latency * 1e6:.1f} us, bus bandwidth {bandwidth / 1e9:.2f} GB/s "
        f"({grad_bytes / 1e6:.1f} MB of mlp gradients)"
    )
    for name, (cpu_1, grad_bytes, _, _) in summary.items():
        print(f"{name}: compute per global step (1 process, CPU time) {cpu_1 * 1e3:.3f} ms")
        for label, bw, lat in [
            ("this machine's link", bandwidth, latency),
            ("10 Gb/s Ethernet, 20 us", 1.25e9, 20e-6),
            ("100 Gb/s InfiniBand, 2 us", 12.5e9, 2e-6),
        ]:
            speedups = [ring_speedup(cpu_1, grad_bytes, bw, lat, q) for q in (2, 8, 64)]
            print(
                f"ring model {name:5} {label:26} speedup at 2/8/64 ranks: "
                + " / ".join(f"{s:.1f}x" for s in speedups)
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
