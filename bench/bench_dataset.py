"""One epoch of ``tg.data.Dataset`` input against a NumPy fancy-indexing loop, in one run.

    python bench/bench_dataset.py [--repeat 21] [--batch-size 32]

The data are the shipped California housing arrays (X float64 (20640, 8), y float64). Contenders,
each one full epoch of shuffled batches of 32:

- ``Dataset``: iterating ``Dataset.from_tensor_slices((X, y)).shuffle(10000, seed=1).batch(32)``
  (a fresh shuffle order per epoch; batches arrive as tg Tensors);
- ``NumPy loop``: ``order = rng.permutation(n)`` then ``X[order[i:i+32]], y[order[i:i+32]]`` for
  every batch (NumPy arrays; the goal is Dataset / NumPy loop <= 1.5);
- ``NumPy loop + tg.constant``: the same, each batch converted to tensors (what a hand-written
  loop feeding tapegrad does);
- ``Dataset.as_numpy_iterator``: the pipeline yielding NumPy arrays.

Before timing, the Dataset's batches are checked against the NumPy gather of its own row order
(``Dataset._as_array_plan().order``). Each figure is the median over ``--repeat`` rounds of the
time per epoch, the contenders' rounds interleaved (a burst of load on the shared machine hits
every contender alike).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import tapegrad as tg


def numpy_loop(X, y, batch_size: int, rng) -> int:
    order = rng.permutation(len(X))
    count = 0
    for i in range(0, len(X), batch_size):
        idx = order[i : i + batch_size]
        X[idx], y[idx]  # the gathers are what is timed
        count += 1
    return count


def numpy_loop_to_tensors(X, y, batch_size: int, rng) -> int:
    order = rng.permutation(len(X))
    count = 0
    for i in range(0, len(X), batch_size):
        idx = order[i : i + batch_size]
        tg.constant(X[idx]), tg.constant(y[idx])
        count += 1
    return count


def dataset_loop(ds) -> int:
    count = 0
    for _xb, _yb in ds:
        count += 1
    return count


def dataset_numpy_loop(ds) -> int:
    count = 0
    for _xb, _yb in ds.as_numpy_iterator():
        count += 1
    return count


def check(ds, X, y, batch_size: int) -> None:
    plan = ds._as_array_plan()
    order = plan.order(0)
    assert sorted(order.tolist()) == list(range(len(X)))
    for k, (xb, yb) in enumerate(ds):  # the dataset's first pass is the plan's pass 0
        idx = order[k * batch_size : (k + 1) * batch_size]
        np.testing.assert_array_equal(xb.numpy(), X[idx])
        np.testing.assert_array_equal(yb.numpy(), y[idx])
        assert xb.dtype == tg.float64 and yb.dtype == tg.float64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    tg.set_num_threads(1)
    X, y, _, source = tg.data.load_california_housing()
    b = args.batch_size
    make = lambda: tg.data.Dataset.from_tensor_slices((X, y)).shuffle(10000, seed=1).batch(b)  # noqa: E731
    check(make(), X, y, b)
    ds = make()
    rng = np.random.default_rng(1)
    contenders = [
        ("Dataset (tg Tensors)", lambda: dataset_loop(ds)),
        ("NumPy loop X[idx[i:i+b]] (arrays)", lambda: numpy_loop(X, y, b, rng)),
        ("NumPy loop + tg.constant (tensors)", lambda: numpy_loop_to_tensors(X, y, b, rng)),
        ("Dataset.as_numpy_iterator (arrays)", lambda: dataset_numpy_loop(ds)),
    ]
    counts = {fn() for _, fn in contenders}  # warm-up; every contender makes the same batches
    assert counts == {-(-len(X) // b)}, counts
    times: list = [[] for _ in contenders]
    for _ in range(args.repeat):
        for (_, fn), t in zip(contenders, times):
            start = time.perf_counter()
            fn()
            t.append((time.perf_counter() - start) * 1e3)
    medians = [statistics.median(t) for t in times]
    print(f"data: {source}, X {X.shape} float64, batch {b}, {counts.pop()} batches per epoch")
    print(f"median over {args.repeat} interleaved rounds, ms per epoch (one thread):")
    base = medians[1]
    for (name, _), ms in zip(contenders, medians):
        print(f"  {name:<40} {ms:8.3f} ms   {ms / base:5.2f}x NumPy loop")
    print(f"Dataset / NumPy loop = {medians[0] / base:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
