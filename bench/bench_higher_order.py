"""Higher-order derivatives side by side with PyTorch (issue 3), measured in one run.

    python bench/bench_higher_order.py [--repeat 15] [--only cell,hvp,parts]

- the seed's cell 5.2.3: two persistent nested tapes, four second derivatives (PyTorch:
  ``torch.autograd.grad(..., create_graph=True)``, then one grad per first derivative);
- a Hessian-vector product of the seed MLP's loss (Dense 8->128 relu -> Dense 1, batch 32, MSE)
  with respect to its four weights: ``tg.hvp`` and hand-written nested tapes against PyTorch's
  double backward;
- with ``parts``: the pieces of the 5.2.3 cell timed alone (where the microseconds go).

Each figure is the median over ``--repeat`` repeats of the mean time per call; every result is
checked against the other library before it is timed. One thread for both libraries.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit

import numpy as np

import tapegrad as tg

try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # tapegrad's figures still print
    torch = None


def median_us(fn, number: int, repeat: int) -> float:
    fn()  # warm-up
    times = timeit.repeat(fn, number=number, repeat=repeat)
    return statistics.median(times) / number * 1e6


def side_by_side(fns: list, number: int, repeat: int) -> list:
    """Median microseconds per call of each fn, their repeats interleaved (on a shared, busy
    machine a burst of load then hits every contender alike, and the ratios stay honest)."""
    for fn in fns:
        fn()  # warm-up
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, t in zip(fns, times):
            t.append(timeit.timeit(fn, number=number) / number * 1e6)
    return [statistics.median(t) for t in times]


def report(title: str, rows: list) -> None:
    base = rows[0][1]
    print(f"\n{title}")
    for name, us in rows:
        print(f"  {name:<44} {us:10.2f} us   {us / base:6.2f}x tapegrad")


# ---- seed cell 5.2.3 ----------------------------------------------------------------------------


def bench_cell(repeat: int) -> None:
    x1, x2 = tg.Variable(2.0), tg.Variable(3.0)

    def tapegrad_cell():
        with tg.GradientTape(persistent=True) as outer_tape:
            with tg.GradientTape(persistent=True) as inner_tape:
                z = x1**2 + x2 + 1
            inner_grads = inner_tape.gradient(z, [x1, x2])
        return [outer_tape.gradient(g, [x1, x2]) for g in inner_grads]

    out = tapegrad_cell()
    got = [[None if g is None else float(g) for g in row] for row in out]
    assert got == [[2.0, None], [None, None]], got
    names, fns = ["tapegrad nested persistent tapes"], [tapegrad_cell]
    if torch is not None:
        t1 = torch.tensor(2.0, requires_grad=True)
        t2 = torch.tensor(3.0, requires_grad=True)

        def torch_cell():
            z = t1**2 + t2 + 1
            inner = torch.autograd.grad(z, [t1, t2], create_graph=True)
            # a first derivative with no graph (dz/dx2 = 1) has no second derivatives: None, None
            return [
                torch.autograd.grad(g, [t1, t2], allow_unused=True)
                if g.requires_grad
                else (None, None)
                for g in inner
            ]

        tout = torch_cell()
        tgot = [[None if g is None else float(g) for g in row] for row in tout]
        assert tgot == got, tgot
        names.append(f"torch {torch.__version__} create_graph=True")
        fns.append(torch_cell)
    rows = list(zip(names, side_by_side(fns, 2000, repeat)))
    report(
        "seed cell 5.2.3 (two persistent nested tapes, four second derivatives), one thread", rows
    )


# ---- HVP of the seed MLP's loss ----------------------------------------------------------------


def seed_mlp_hvp_problem():
    """(x, y, params, vs, loss, torch_problem): the seed MLP's batch, its weights as Variables, a
    direction v and the MSE loss of the weights; with PyTorch also (torch_loss, weights, v) as
    torch tensors, else None. bench_forward.py uses it too."""
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((32, 8)).astype(np.float32)
    y_np = rng.standard_normal((32, 1)).astype(np.float32)
    w_np = [
        (rng.standard_normal((8, 128)) * 0.3).astype(np.float32),
        (rng.standard_normal(128) * 0.1).astype(np.float32),
        (rng.standard_normal((128, 1)) * 0.1).astype(np.float32),
        np.zeros(1, np.float32),
    ]
    v_np = [rng.standard_normal(w.shape).astype(np.float32) for w in w_np]
    x, y = tg.constant(x_np), tg.constant(y_np)

    def loss(p):
        w1, b1, w2, b2 = p
        h = tg.relu(x @ w1 + b1)
        return tg.reduce_mean((h @ w2 + b2 - y) ** 2)

    params = [tg.Variable(w) for w in w_np]
    vs = [tg.constant(v) for v in v_np]
    if torch is None:
        return x, y, params, vs, loss, None
    xt, yt = torch.from_numpy(x_np), torch.from_numpy(y_np)

    def torch_loss(p):
        w1, b1, w2, b2 = p
        return ((torch.relu(xt @ w1 + b1) @ w2 + b2 - yt) ** 2).mean()

    torch_problem = (
        torch_loss,
        [torch.from_numpy(w) for w in w_np],
        [torch.from_numpy(v) for v in v_np],
    )
    return x, y, params, vs, loss, torch_problem


def nested_tapes_hvp(loss, params, vs):
    """H v by double backward, written by hand: outer.gradient(sum(inner.gradient(loss) * v))."""
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            value = loss(params)
        gs = inner.gradient(value, params)
        dot = tg.reduce_sum(gs[0] * vs[0])
        for g, v in zip(gs[1:], vs[1:]):
            dot = dot + tg.reduce_sum(g * v)
    return outer.gradient(dot, params)


def torch_double_backward_hvp(torch_loss, weights, vs):
    """The same by PyTorch's double backward (weights require grad)."""
    gs = torch.autograd.grad(torch_loss(weights), weights, create_graph=True)
    dot = sum((g * v).sum() for g, v in zip(gs, vs))
    return torch.autograd.grad(dot, weights)


def bench_hvp(repeat: int) -> None:
    _, _, params, vs, loss, torch_problem = seed_mlp_hvp_problem()

    def tapegrad_hvp():
        return tg.hvp(loss, params, vs)

    def tapegrad_nested():
        return nested_tapes_hvp(loss, params, vs)

    hv = [h.numpy() for h in tapegrad_hvp()]
    for a, b in zip(hv, tapegrad_nested()):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-6, atol=1e-6)
    names = ["tapegrad tg.hvp", "tapegrad nested tapes by hand"]
    fns = [tapegrad_hvp, tapegrad_nested]
    if torch_problem is not None:
        torch_loss, weights, vt = torch_problem
        pt = [w.clone().requires_grad_(True) for w in weights]

        def torch_hvp():
            return torch_double_backward_hvp(torch_loss, pt, vt)

        for a, b in zip(hv, torch_hvp()):
            np.testing.assert_allclose(a, b.numpy(), rtol=1e-4, atol=1e-5)
        names.append(f"torch {torch.__version__} double backward")
        fns.append(torch_hvp)
    rows = list(zip(names, side_by_side(fns, 200, repeat)))
    report(
        "HVP of the seed MLP's MSE loss (Dense 8->128 relu -> Dense 1, batch 32) w.r.t. its "
        "4 weights, float32, one thread",
        rows,
    )


# ---- where the 5.2.3 microseconds go -------------------------------------------------------------


def bench_parts(repeat: int) -> None:
    x1, x2 = tg.Variable(2.0), tg.Variable(3.0)
    n = 20000

    def enter_exit():
        with tg.GradientTape(persistent=True):
            pass

    def forward():
        with tg.GradientTape(persistent=True):
            with tg.GradientTape(persistent=True):
                x1**2 + x2 + 1

    with tg.GradientTape(persistent=True) as outer:
        with tg.GradientTape(persistent=True) as inner:
            z = x1**2 + x2 + 1
        g1, _ = inner.gradient(z, [x1, x2])
    sources = [x1, x2]

    rows = [
        ("the whole cell", None),
        ("GradientTape(persistent=True) enter+exit", median_us(enter_exit, n, repeat)),
        ("two tapes + forward x1**2 + x2 + 1", median_us(forward, n, repeat)),
        (
            "inner.gradient(z, [x1, x2]) (nothing records)",
            median_us(lambda: inner.gradient(z, sources), n, repeat),
        ),
        (
            "outer.gradient(dz/dx1, [x1, x2])",
            median_us(lambda: outer.gradient(g1, sources), n, repeat),
        ),
        ("one scalar op x1 * 2.0 (no tape)", median_us(lambda: x1 * 2.0, n, repeat)),
    ]

    def cell():
        with tg.GradientTape(persistent=True) as o:
            with tg.GradientTape(persistent=True) as i:
                zz = x1**2 + x2 + 1
            gs = i.gradient(zz, sources)
        return [o.gradient(g, sources) for g in gs]

    rows[0] = ("the whole cell", median_us(cell, 5000, repeat))
    report("pieces of cell 5.2.3 (tapegrad alone)", rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="cell,hvp")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    tg.set_num_threads(1)
    print(
        f"tapegrad {tg.__version__} {tg.config()}, numpy {np.__version__}, "
        f"torch {torch.__version__ if torch else 'not installed'}"
    )
    benches = {"cell": bench_cell, "hvp": bench_hvp, "parts": bench_parts}
    for name in args.only.split(","):
        benches[name](args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
