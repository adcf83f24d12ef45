"""One training step of the 784-1024-1024-10 MLP at batch 256, tapegrad eager vs PyTorch eager.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_mlp.py [--threads 1,2]

The step: forward with tg.nn.dense (relu fused into the GEMM for the two hidden layers),
softmax cross-entropy written as a composition of existing ops (log-sum-exp with the row max
subtracted, then the mean over the batch of lse - logit[label] via a one-hot mask), the gradient
of the six parameters from one GradientTape, and plain SGD (`assign_sub(lr * g)`). PyTorch runs the
same step (F.linear/relu, F.cross_entropy, backward, in-place SGD under no_grad). Both start from
the same float32 weights and batch, and their first-step losses are checked to agree. Each thread
count runs in its own child process; figures are medians in ms over rounds that time both in turn.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SIZES = (784, 1024, 1024, 10)
BATCH = 256
LR = 0.01


def interleaved_median_ms(steps: dict, repeat: int, settle_s: float = 0.0) -> dict:
    """Median ms per step of each library, timed in turn every round (so a change in the shared
    machine's load hits all of them alike), after 3 warm-up steps each. ``settle_s``: a pause
    before each timing on 2+ threads, so the other library's idle workers (OpenMP's spin for a
    while after a parallel region) have stopped spinning on the cores this one needs."""
    for step in steps.values():
        for _ in range(3):
            step()
    times = {name: [] for name in steps}
    for _ in range(repeat):
        for name, step in steps.items():
            if settle_s:
                time.sleep(settle_s)
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) * 1e3 for name, ts in times.items()}


def init(np):
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))  # Glorot uniform, Keras's Dense default
        params.append(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32))
        params.append(np.zeros(fan_out, np.float32))
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    labels = rng.integers(0, SIZES[-1], BATCH)
    onehot = np.eye(SIZES[-1], dtype=np.float32)[labels]
    return params, x, labels, onehot


def tapegrad_step_fn(np, params0, x_np, onehot_np):
    import tapegrad as tg

    params = [tg.Variable(p) for p in params0]
    x, onehot = tg.constant(x_np), tg.constant(onehot_np)

    def step():
        w1, b1, w2, b2, w3, b3 = params
        with tg.GradientTape() as tape:
            h = tg.nn.dense(x, w1, b1, "relu")
            h = tg.nn.dense(h, w2, b2, "relu")
            logits = tg.nn.dense(h, w3, b3)
            m = tg.stop_gradient(tg.reduce_max(logits, axis=1, keepdims=True))
            lse = tg.log(tg.reduce_sum(tg.exp(logits - m), axis=1, keepdims=True)) + m
            loss = tg.reduce_mean(tg.reduce_sum(onehot * (lse - logits), axis=1))
        grads = tape.gradient(loss, params)
        for p, g in zip(params, grads):
            p.assign_sub(LR * g)
        return loss

    return step


def torch_step_fn(torch, params0, x_np, labels_np):
    import torch.nn.functional as F

    params = [torch.tensor(p, requires_grad=True) for p in params0]
    x, labels = torch.from_numpy(x_np), torch.from_numpy(labels_np)

    def step():
        w1, b1, w2, b2, w3, b3 = params
        h = torch.relu(F.linear(x, w1.t(), b1))
        h = torch.relu(F.linear(h, w2.t(), b2))
        loss = F.cross_entropy(F.linear(h, w3.t(), b3), labels)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.sub_(LR * p.grad)
        return loss

    return step


def child(threads: int, repeat: int) -> dict:
    import numpy as np

    import tapegrad as tg

    tg.set_num_threads(threads)
    params, x, labels, onehot = init(np)
    tg_step = tapegrad_step_fn(np, params, x, onehot)
    out = {"config": tg.config(), "torch": None}
    tg_loss = float(tg_step())
    try:
        import torch

        torch.set_num_threads(threads)
        t_step = torch_step_fn(torch, params, x, labels)
        t_loss = float(t_step())
        assert abs(tg_loss - t_loss) < 1e-4 * max(1.0, abs(t_loss)), (tg_loss, t_loss)
        out["torch"] = torch.__version__
    except ImportError:
        t_step = None
    out["loss"] = tg_loss
    steps = {"tapegrad": tg_step} if t_step is None else {"tapegrad": tg_step, "torch": t_step}
    for name, ms in interleaved_median_ms(steps, repeat, 0.15 if threads > 1 else 0.0).items():
        out[f"{name}_ms"] = ms
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.repeat)))
        return 0
    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, one SGD step (median ms)")
    print("loss: softmax cross-entropy composed of reduce_max/exp/log/reduce_sum/reduce_mean")
    for threads in [int(t) for t in args.threads.split(",")]:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        cmd = [sys.executable, __file__, "--child", str(threads), "--repeat", str(args.repeat)]
        res = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True).stdout)
        line = f"{threads} thread(s): tapegrad {res['tapegrad_ms']:7.2f} ms"
        if res["torch"]:
            ratio = res["torch_ms"] / res["tapegrad_ms"]
            line += f"   torch {res['torch']} eager {res['torch_ms']:7.2f} ms"
            line += f"   torch/tg {ratio:.2f}"
        print(line + f"   (first loss {res['loss']:.4f}, {res['config']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
