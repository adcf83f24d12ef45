"""float32 matmul GFLOP/s of tapegrad beside NumPy (OpenBLAS) and PyTorch, measured in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_gemm_compare.py [--sizes 64,128]

`x @ w` from Python for square n x n operands (call overhead included), on 1 and 2 threads. Each
thread count runs in its own child process (OpenBLAS reads OPENBLAS_NUM_THREADS at import). Each
figure is the median over rounds that time the libraries in turn (so load changes on a shared
machine hit all alike); on one thread also by thread CPU time. Ratios are tapegrad's speed over the
other library's (> 1: tapegrad faster). PyTorch is optional (`pip install torch==2.13.0`), a
benchmark tool only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import timeit

SIZES = (64, 128, 256, 512, 1024, 2048)


# Pause before timing a library on 2+ threads: OpenBLAS's (and OpenMP's) idle workers keep spinning
# on a core for ~0.1 s after a call, so the library timed right after NumPy would share the 2 cores
# with them (docs/performance.md has the measured effect).
SETTLE_S = 0.15


def interleaved_medians(
    fns: dict, clock=time.perf_counter, target_s=0.02, repeat=9, settle_s=0.0
) -> dict:
    """Seconds per call of each fn, median over `repeat` rounds; every round times each fn once in
    turn, so a change in the shared machine's load hits all of them alike. ``settle_s``: a pause
    before each timing, so the previous library's idle worker threads have stopped spinning."""
    number = {}
    for name, fn in fns.items():
        fn()
        n = 1
        while timeit.timeit(fn, number=n) < target_s and n < 1 << 20:
            n *= 2
        number[name] = n
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            if settle_s:
                time.sleep(settle_s)
            t0 = clock()
            for _ in range(number[name]):
                fn()
            times[name].append((clock() - t0) / number[name])
    return {name: statistics.median(ts) for name, ts in times.items()}


def child(threads: int, sizes) -> dict:
    import numpy as np

    import tapegrad as tg

    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    tg.set_num_threads(threads)
    out = {"config": tg.config(), "torch": torch.__version__ if torch else None, "rows": []}
    rng = np.random.default_rng(0)
    for n in sizes:
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        ta, tb = tg.constant(a), tg.constant(b)
        want = a.astype(np.float64) @ b.astype(np.float64)
        err = np.abs((ta @ tb).numpy() - want).max() / np.abs(want).max()
        assert err < 1e-5, f"tapegrad n={n}: relative error {err}"
        fns = {"tapegrad": lambda ta=ta, tb=tb: ta @ tb, "numpy": lambda a=a, b=b: a @ b}
        if torch is not None:
            xa, xb = torch.from_numpy(a), torch.from_numpy(b)
            fns["torch"] = lambda xa=xa, xb=xb: xa @ xb
        row = {"n": n, **interleaved_medians(fns, settle_s=SETTLE_S if threads > 1 else 0.0)}
        if threads == 1:  # one thread: every library computes on this thread, so its CPU time
            cpu = interleaved_medians(fns, clock=time.thread_time)  # is free of others' slices
            row.update({f"{k}_cpu": v for k, v in cpu.items()})
        out["rows"].append(row)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.child:
        print(json.dumps(child(args.child, sizes)))
        return 0
    blas_env = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    if blas_env:
        print(f"note: {blas_env} set: NumPy's BLAS runs a slower kernel (unset them for baselines)")
    for threads in [int(t) for t in args.threads.split(",")]:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        cmd = [sys.executable, __file__, "--child", str(threads), "--sizes", args.sizes]
        res = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True).stdout)
        libs = ["tapegrad", "numpy"] + (["torch"] if res["torch"] else [])
        print(f"\n{threads} thread(s), float32 x @ w, GFLOP/s (median), {res['config']}")
        head = "".join(f"{lib:>10}" for lib in libs)
        ratios = "".join(f"{'tg/' + lib:>10}" for lib in libs[1:])
        print(f"{'n':>6}{head}{ratios}")
        for suffix, what in (("", "wall clock"), ("_cpu", "thread CPU time")):
            if suffix and threads != 1:
                continue
            print(f"  by {what}:")
            for row in res["rows"]:
                n = row["n"]
                gflops = {lib: 2.0 * n**3 / row[lib + suffix] * 1e-9 for lib in libs}
                cells = "".join(f"{gflops[lib]:10.1f}" for lib in libs)
                rel = "".join(
                    f"{row[lib + suffix] / row['tapegrad' + suffix]:10.2f}" for lib in libs[1:]
                )
                print(f"{n:>6}{cells}{rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
