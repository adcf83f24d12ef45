"""Sparse softmax cross-entropy, forward + backward, side by side in one run (one thread):
tapegrad (the fused op pair, and through a GradientTape) against PyTorch's F.cross_entropy and
a NumPy copy of the logits (the memory floor).

    python bench/bench_sparse_xent.py [--repeat 15]

Goals (the classification issue): at least 2x faster than PyTorch at (256, 10) and (4096, 1000)
float32, and within 2x of a memcpy of the logits at the large size. Figures are medians of
interleaved rounds. PyTorch is optional (`pip install torch==2.13.0`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit

import numpy as np

import tapegrad as tg

ops = tg._core.ops
try:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
except ImportError:
    torch = None


def side_by_side(fns: list, number: int, repeat: int) -> list:
    """Median microseconds per call of each fn, their rounds interleaved."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, t in zip(fns, times):
            t.append(timeit.timeit(fn, number=number) / number * 1e6)
    return [statistics.median(t) for t in times]


def bench(rows: int, classes: int, repeat: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, classes)).astype(np.float32)
    y = rng.integers(0, classes, rows)
    logits, labels = tg.constant(x), tg.constant(y)
    scale = tg.constant(np.full(rows, 1.0 / rows, np.float32))

    def tg_ops():  # the two fused kernels: loss per row, then d(mean loss)/dlogits
        loss = ops.sparse_softmax_cross_entropy_with_logits(labels, logits)
        return loss, ops.sparse_softmax_cross_entropy_grad(scale, labels, logits)

    def tg_tape():
        with tg.GradientTape() as tape:
            tape.watch(logits)
            loss = tg.reduce_mean(tg.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        return tape.gradient(loss, logits)

    dst = np.empty_like(x)

    def memcpy():
        np.copyto(dst, x)

    names = [
        "tapegrad fused ops (fwd + bwd)",
        "tapegrad GradientTape (mean loss)",
        "NumPy copy of the logits",
    ]
    fns = [tg_ops, tg_tape, memcpy]
    if torch is not None:
        xt = torch.tensor(x, requires_grad=True)
        yt = torch.tensor(y)

        def torch_step():
            xt.grad = None
            F.cross_entropy(xt, yt).backward()
            return xt.grad

        want = torch_step().numpy()
        np.testing.assert_allclose(tg_tape().numpy(), want, rtol=1e-4, atol=1e-7)
        names.append("PyTorch F.cross_entropy + backward")
        fns.append(torch_step)
    number = max(1, 2_000_000 // (rows * classes))
    us = side_by_side(fns, number, repeat)
    print(f"\nsparse softmax cross-entropy, logits ({rows}, {classes}) float32, fwd + bwd")
    for name, t in zip(names, us):
        print(f"  {name:<40} {t:10.2f} us   {t / us[0]:6.2f}x fused ops")
    if torch is not None:
        print(f"  {'PyTorch / tapegrad fused (goal >= 2)':<40} {us[3] / us[0]:10.2f}")
        print(f"  {'PyTorch / tapegrad tape (goal >= 2)':<40} {us[3] / us[1]:10.2f}")
    print(f"  {'tapegrad fused / memcpy (goal <= 2, large)':<40} {us[0] / us[2]:10.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    tg.set_num_threads(1)
    bench(256, 10, args.repeat)
    bench(4096, 1000, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
