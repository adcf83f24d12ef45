"""Side-by-side timings of tapegrad, NumPy and PyTorch (when installed), measured in one run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compare.py [--only tape,matmul]
    python bench/compare.py --only relu,relu_bwd,mse      (1e7 float32, 1 and 2 threads)

Each figure is the median over repeats of the mean time per call; ratios are against tapegrad.
PyTorch is optional (`pip install torch==2.13.0`); it is a benchmark tool, not a dependency.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import timeit

import numpy as np

import tapegrad as tg

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # the comparison runs without it
    torch = None


def median_us(fn, number: int, repeat: int = 9) -> float:
    fn()  # warm-up (and a result check by the caller before timing)
    times = timeit.repeat(fn, number=number, repeat=repeat)
    return statistics.median(times) / number * 1e6


def report(title: str, rows: list[tuple[str, float]]) -> None:
    base = rows[0][1]
    print(f"\n{title}")
    for name, us in rows:
        print(f"  {name:<40} {us:10.2f} us   {us / base:6.2f}x tapegrad")


def bench_tape() -> None:
    """The seed's cell 5.2.1: with tape: z = x1**2 + x2**3; tape.gradient(z, [x1, x2])."""
    x1, x2 = tg.Variable(2.0), tg.Variable(3.0)

    def tapegrad_cell():
        with tg.GradientTape() as tape:
            z = x1**2 + x2**3
        return tape.gradient(z, [x1, x2])

    got = [float(g) for g in tapegrad_cell()]
    assert got == [4.0, 27.0], got
    rows = [("tapegrad GradientTape", median_us(tapegrad_cell, 20000))]
    if torch is not None:
        t1 = torch.tensor(2.0, requires_grad=True)
        t2 = torch.tensor(3.0, requires_grad=True)

        def torch_cell():
            z = t1**2 + t2**3
            return torch.autograd.grad(z, [t1, t2])

        assert [float(g) for g in torch_cell()] == [4.0, 27.0]
        rows.append((f"torch {torch.__version__} eager", median_us(torch_cell, 20000)))
    report("seed cell 5.2.1 (two scalar variables, three ops, one gradient), one thread", rows)
    # The seed's cell 5.2.3 (nested tapes) is timed by bench/bench_higher_order.py.


def bench_matmul() -> None:
    """One x @ w with the seed's first layer shapes: (32, 8) @ (8, 128), float32."""
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((32, 8)).astype(np.float32)
    w_np = rng.standard_normal((8, 128)).astype(np.float32)
    x, w = tg.constant(x_np), tg.constant(w_np)
    np.testing.assert_allclose((x @ w).numpy(), x_np @ w_np, rtol=1e-5, atol=1e-5)
    rows = [
        ("tapegrad x @ w", median_us(lambda: x @ w, 50000)),
        ("numpy x @ w", median_us(lambda: x_np @ w_np, 50000)),
    ]
    if torch is not None:
        xt, wt = torch.from_numpy(x_np), torch.from_numpy(w_np)
        rows.append(("torch x @ w", median_us(lambda: xt @ wt, 50000)))
    report("matmul (32, 8) @ (8, 128) float32, one thread", rows)


N_LARGE = 10_000_000


def _large(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 2, N_LARGE).astype(np.float32)


def _threads_rows(name: str, fn, number: int) -> list[tuple[str, float]]:
    """fn timed with tapegrad on 1 and on 2 threads (restored to 1 after)."""
    rows = []
    for n in (1, 2):
        tg.set_num_threads(n)
        rows.append((f"{name}, {n} thread{'s' if n > 1 else ''}", median_us(fn, number, 7)))
    tg.set_num_threads(1)
    return rows


def _torch_rows(name: str, fn, number: int) -> list[tuple[str, float]]:
    rows = []
    for n in (1, 2):
        torch.set_num_threads(n)
        rows.append((f"{name}, {n} thread{'s' if n > 1 else ''}", median_us(fn, number, 7)))
    torch.set_num_threads(1)
    return rows


def bench_relu() -> None:
    """relu of 1e7 float32 into a fresh output (the issue's goal: <= 2.2 ms on its Zen 5)."""
    x_np = _large(1)
    x = tg.constant(x_np)
    np.testing.assert_array_equal(tg.nn.relu(x).numpy(), np.maximum(x_np, 0))
    rows = _threads_rows("tapegrad tg.nn.relu", lambda: tg.nn.relu(x), 5)
    rows.append(("numpy np.maximum(x, 0)", median_us(lambda: np.maximum(x_np, 0), 5, 7)))
    if torch is not None:
        xt = torch.from_numpy(x_np)
        rows += _torch_rows("torch.relu", lambda: torch.relu(xt), 5)
    report("relu forward, 1e7 float32, fresh output", rows)


def bench_relu_bwd() -> None:
    """relu forward and backward through the tape (output_gradients g), 1e7 float32."""
    x_np, g_np = _large(1), _large(2)
    x, g = tg.constant(x_np), tg.constant(g_np)

    def tapegrad_step():
        with tg.GradientTape() as tape:
            tape.watch(x)
            y = tg.nn.relu(x)
        return tape.gradient(y, x, output_gradients=g)

    def numpy_step():
        y = np.maximum(x_np, 0)
        return y, g_np * (x_np > 0)

    np.testing.assert_array_equal(tapegrad_step().numpy(), numpy_step()[1])
    rows = _threads_rows("tapegrad tape relu + gradient", tapegrad_step, 3)
    rows.append(("numpy maximum + g * (x > 0)", median_us(numpy_step, 3, 7)))
    if torch is not None:
        xt = torch.from_numpy(x_np).requires_grad_(True)
        gt = torch.from_numpy(g_np)

        def torch_step():
            return torch.autograd.grad(torch.relu(xt), xt, gt)[0]

        np.testing.assert_array_equal(torch_step().numpy(), numpy_step()[1])
        rows += _torch_rows("torch relu + autograd.grad", torch_step, 3)
    report("relu forward + backward, 1e7 float32", rows)


def bench_mse() -> None:
    """mean_squared_error(y_true, y_pred) of 1e7 float32 (one sample: a scalar loss) and its
    gradient w.r.t. y_pred through the tape."""
    t_np, p_np = _large(3), _large(4)
    t, p = tg.constant(t_np), tg.constant(p_np)

    def tapegrad_step():
        with tg.GradientTape() as tape:
            tape.watch(p)
            loss = tg.nn.mean_squared_error(t, p)
        return loss, tape.gradient(loss, p)

    def numpy_step():
        d = p_np - t_np
        return np.mean(d * d), d * np.float32(2.0 / N_LARGE)

    loss, grad = tapegrad_step()
    ref_loss, ref_grad = numpy_step()
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-5)
    np.testing.assert_allclose(grad.numpy(), ref_grad, rtol=1e-5, atol=1e-12)
    rows = _threads_rows("tapegrad tape mse + gradient", tapegrad_step, 3)
    rows.append(("numpy mean((p-t)**2) + 2(p-t)/n", median_us(numpy_step, 3, 7)))
    if torch is not None:
        tt = torch.from_numpy(t_np)
        pt = torch.from_numpy(p_np).requires_grad_(True)

        def torch_step():
            loss = torch.nn.functional.mse_loss(pt, tt)
            return loss, torch.autograd.grad(loss, pt)[0]

        np.testing.assert_allclose(torch_step()[1].numpy(), ref_grad, rtol=1e-5, atol=1e-12)
        rows += _torch_rows("torch mse_loss + autograd.grad", torch_step, 3)
    report("mean_squared_error forward + backward, 1e7 float32", rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="tape,matmul,relu,relu_bwd,mse")
    args = parser.parse_args()
    tg.set_num_threads(1)
    blas_env = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    print(
        f"tapegrad {tg.__version__} {tg.config()}, numpy {np.__version__}, "
        f"torch {torch.__version__ if torch else 'not installed'}"
    )
    if blas_env:
        print(f"note: {blas_env} set: NumPy's BLAS runs a slower kernel (unset them for baselines)")
    for name in args.only.split(","):
        {
            "tape": bench_tape,
            "matmul": bench_matmul,
            "relu": bench_relu,
            "relu_bwd": bench_relu_bwd,
            "mse": bench_mse,
        }[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
