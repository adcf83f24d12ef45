"""Forward mode timed against its alternatives (and PyTorch), in one run.

    python bench/bench_forward.py [--repeat 15] [--only jvp,jac,hvp,custom,parts]

- ``jvp``: ``tg.jvp`` of the seed model's output (Dense 8->128 relu -> Dense 1, batch 32) with
  respect to its input, against the model's forward pass alone (goal: jvp/forward <= 2.5);
- ``jac``: the Jacobian of ``y = tanh(W @ x + b) * c`` (4 inputs, 1000 outputs, float64) by
  ``tg.jacfwd`` (4 forward passes) against ``GradientTape.jacobian`` and ``tg.jacrev`` (reverse
  sweeps; goal: jacobian/jacfwd >= 3);
- ``hvp``: ``tg.hvp`` (forward over reverse) on bench_higher_order.py's MLP HVP against double
  backward by nested tapes, ``torch.func.jvp(torch.func.grad(loss))`` (PyTorch's forward over
  reverse) and PyTorch's double backward (goals: double-backward/hvp >= 1.3, torch.func/hvp >= 3);
- ``custom``: a ``tg.custom_gradient`` function (log1pexp) called under a tape against the same
  ops undecorated under a tape: the decorator's cost in microseconds per call (goal <= 2 us);
- with ``parts``: the pieces of the ``jvp`` and ``hvp`` cases timed alone (where the time goes).

Each figure is the median over ``--repeat`` rounds of the mean time per call, the contenders'
rounds interleaved (on a shared, busy machine a burst of load hits every contender alike); every
result is checked against a reference before it is timed. One thread for every library.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit

import numpy as np
from bench_higher_order import nested_tapes_hvp, seed_mlp_hvp_problem, torch_double_backward_hvp

import tapegrad as tg

try:
    import torch
    import torch.func

    torch.set_num_threads(1)
except ImportError:  # tapegrad's figures still print
    torch = None


def side_by_side(fns: list, number: int, repeat: int) -> list:
    """Median microseconds per call of each fn, their rounds interleaved."""
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
        print(f"  {name:<52} {us:10.2f} us   {us / base:6.2f}x first")


def goal(text: str, value: float, target: float, at_least: bool) -> None:
    ok = value >= target if at_least else value <= target
    sign = ">=" if at_least else "<="
    print(f"  {text:<52} {value:10.2f}      (goal {sign} {target}: {'met' if ok else 'NOT met'})")


# ---- 1. tg.jvp of the seed model's output w.r.t. its input ---------------------------------------


def bench_jvp(repeat: int, results: dict) -> None:
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((32, 8)).astype(np.float32)
    t_np = rng.standard_normal((32, 8)).astype(np.float32)
    model = tg.models.Sequential()
    model.add(tg.layers.Dense(128, activation="relu", input_shape=(8,)))
    model.add(tg.layers.Dense(1))
    x, t = tg.constant(x_np), tg.constant(t_np)
    model(x)  # builds the weights

    def forward():
        return model(x)

    def jvp():
        return tg.jvp(model, [x], [t])

    # reference: J t = (relu'(x W1 + b1) * (t W1)) W2, in float64 with NumPy
    w1, b1, w2, b2 = (w.numpy().astype(np.float64) for w in model.trainable_variables)
    pre = x_np @ w1 + b1
    ref_y = np.maximum(pre, 0) @ w2 + b2
    ref_jt = ((pre > 0) * (t_np @ w1)) @ w2
    y, jt = jvp()
    np.testing.assert_allclose(y.numpy(), ref_y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(forward().numpy(), ref_y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jt.numpy(), ref_jt, rtol=1e-5, atol=1e-5)

    names = ["tapegrad model(x) (forward alone)", "tapegrad tg.jvp(model, [x], [t])"]
    fns = [forward, jvp]
    if torch is not None:
        tm = torch.nn.Sequential(torch.nn.Linear(8, 128), torch.nn.ReLU(), torch.nn.Linear(128, 1))
        with torch.no_grad():
            for p, w in zip(tm.parameters(), model.trainable_variables):
                p.copy_(torch.tensor(np.array(w.numpy()).T))  # Linear's weight is (out, in)
        xt, tt = torch.from_numpy(x_np), torch.from_numpy(t_np)

        def torch_forward():
            with torch.no_grad():
                return tm(xt)

        def torch_jvp():
            return torch.func.jvp(tm, (xt,), (tt,))

        ty, tjt = torch_jvp()
        np.testing.assert_allclose(ty.detach().numpy(), ref_y, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(tjt.detach().numpy(), ref_jt, rtol=1e-5, atol=1e-5)
        names += [f"torch {torch.__version__} model(x) no_grad", "torch torch.func.jvp(model)"]
        fns += [torch_forward, torch_jvp]
    us = side_by_side(fns, 500, repeat)
    report(
        "1. JVP of the seed model's output (Dense 8->128 relu -> Dense 1, batch 32, float32) "
        "w.r.t. its input, one thread",
        list(zip(names, us)),
    )
    goal("ratio tg.jvp / forward", us[1] / us[0], 2.5, at_least=False)
    if torch is not None:
        print(f"  {'(torch: torch.func.jvp / forward)':<52} {us[3] / us[2]:10.2f}")


# ---- 2. a tall Jacobian: jacfwd vs GradientTape.jacobian / jacrev --------------------------------


def bench_jac(repeat: int, results: dict) -> None:
    rng = np.random.default_rng(1)
    n_in, n_out = 4, 1000
    w_np = rng.standard_normal((n_out, n_in)) * 0.5
    b_np = rng.standard_normal((n_out, 1)) * 0.1
    c_np = rng.standard_normal((n_out, 1))
    x_np = rng.standard_normal((n_in, 1))
    w, b, c = tg.constant(w_np), tg.constant(b_np), tg.constant(c_np)
    x = tg.constant(x_np)

    def f(x):  # (4, 1) -> (1000, 1)
        return tg.tanh(w @ x + b) * c

    jacfwd_f, jacrev_f = tg.jacfwd(f), tg.jacrev(f)

    def jacfwd():
        return jacfwd_f(x)

    def tape_jacobian():
        with tg.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        return tape.jacobian(y, x)

    def jacrev():
        return jacrev_f(x)

    # reference: dy_i/dx_j = c_i (1 - tanh(W x + b)_i^2) W_ij, shaped y.shape + x.shape
    ref = ((c_np * (1 - np.tanh(w_np @ x_np + b_np) ** 2)) * w_np).reshape(n_out, 1, n_in, 1)
    for name, fn in (
        ("jacfwd", jacfwd),
        ("GradientTape.jacobian", tape_jacobian),
        ("jacrev", jacrev),
    ):
        got = fn().numpy()
        assert got.shape == ref.shape, (name, got.shape)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12, err_msg=name)

    us = side_by_side([jacfwd, tape_jacobian, jacrev], 20, repeat)
    names = [
        "tapegrad tg.jacfwd(f)(x)",
        "tapegrad GradientTape.jacobian(y, x)",
        "tapegrad tg.jacrev(f)(x)",
    ]
    report(
        f"2. Jacobian of y = tanh(W @ x + b) * c, {n_in} inputs -> {n_out} outputs, float64, "
        "one thread",
        list(zip(names, us)),
    )
    goal("ratio GradientTape.jacobian / jacfwd", us[1] / us[0], 3, at_least=True)
    print(f"  {'ratio jacrev / jacfwd':<52} {us[2] / us[0]:10.2f}")


# ---- 3. HVP of the seed MLP's loss: forward over reverse vs double backward ----------------------


def bench_hvp(repeat: int, results: dict) -> None:
    x, y, params, vs, loss, torch_problem = seed_mlp_hvp_problem()  # bench_higher_order.py's

    def tapegrad_hvp():
        return tg.hvp(loss, params, vs)

    def tapegrad_double_backward():
        return nested_tapes_hvp(loss, params, vs)

    hv = [h.numpy() for h in tapegrad_hvp()]
    for a, b in zip(hv, tapegrad_double_backward()):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6)
    names = ["tapegrad tg.hvp (forward over reverse)", "tapegrad double backward (nested tapes)"]
    fns = [tapegrad_hvp, tapegrad_double_backward]
    # The same two compiled: tg.function traces each once and replays its ops in C++ (what
    # remains is the ops themselves, without the Python calls between them).
    compiled_hvp = tg.function(tapegrad_hvp)
    compiled_double_backward = tg.function(tapegrad_double_backward)
    for a, b in zip(hv, compiled_hvp()):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(hv, compiled_double_backward()):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6)
    names += ["tapegrad tg.function(tg.hvp)", "tapegrad tg.function(double backward)"]
    fns += [compiled_hvp, compiled_double_backward]
    if torch_problem is not None:
        torch_loss, weights, vt = torch_problem
        pt = [w.clone().requires_grad_(True) for w in weights]
        grad_loss = torch.func.grad(torch_loss)

        def torch_func_hvp():
            return torch.func.jvp(grad_loss, (tuple(weights),), (tuple(vt),))[1]

        def torch_double_backward():
            return torch_double_backward_hvp(torch_loss, pt, vt)

        for name, fn in (
            ("torch.func", torch_func_hvp),
            ("double backward", torch_double_backward),
        ):
            for a, b in zip(hv, fn()):
                np.testing.assert_allclose(a, b.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
        names += [
            f"torch {torch.__version__} torch.func.jvp(grad(loss))",
            "torch double backward (create_graph=True)",
        ]
        fns += [torch_func_hvp, torch_double_backward]
    us = side_by_side(fns, 200, repeat)
    report(
        "3. HVP of the seed MLP's MSE loss (Dense 8->128 relu -> Dense 1, batch 32) w.r.t. its "
        "4 weights, float32, one thread",
        list(zip(names, us)),
    )
    goal("ratio double backward / tg.hvp", us[1] / us[0], 1.3, at_least=True)
    print(f"  {'ratio compiled double backward / compiled tg.hvp':<52} {us[3] / us[2]:10.2f}")
    results["hvp eager: double backward / tg.hvp"] = (us[1] / us[0], 1.3, True)
    results["hvp compiled: double backward / tg.hvp"] = (us[3] / us[2], None, True)
    if torch_problem is not None:
        goal("ratio torch.func / tg.hvp", us[4] / us[0], 3, at_least=True)
        print(f"  {'ratio torch double backward / tg.hvp':<52} {us[5] / us[0]:10.2f}")

    # The same model as the Dense layers run it: fused dense (bias, relu) and MSE ops, whose JVP
    # and VJP rules are a few GEMMs each, so forward mode adds fewer small ops.
    def fused_loss(p):
        h = tg.nn.dense(x, p[0], p[1], "relu")
        return tg.reduce_mean(tg.nn.mean_squared_error(y, tg.nn.dense(h, p[2], p[3])))

    def fused_hvp():
        return tg.hvp(fused_loss, params, vs)

    def fused_double_backward():
        return nested_tapes_hvp(fused_loss, params, vs)

    for a, b in zip(fused_hvp(), fused_double_backward()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(fused_hvp(), hv):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-4, atol=1e-5)
    fused_us = side_by_side([fused_hvp, fused_double_backward], 200, repeat)
    report(
        "3b. the same HVP with the fused ops the Dense layers use (tg.nn.dense, "
        "tg.nn.mean_squared_error)",
        [
            ("tapegrad tg.hvp (forward over reverse)", fused_us[0]),
            ("tapegrad double backward (nested tapes)", fused_us[1]),
        ],
    )
    print(f"  {'ratio double backward / tg.hvp':<52} {fused_us[1] / fused_us[0]:10.2f}")


# ---- 4. the cost of tg.custom_gradient -----------------------------------------------------------


def bench_custom(repeat: int, results: dict) -> None:
    x = tg.constant(np.linspace(-3, 3, 8, dtype=np.float32))

    def log1pexp_plain(x):
        return tg.log(1 + tg.exp(x))

    @tg.custom_gradient
    def log1pexp(x):
        e = tg.exp(x)

        def grad_fn(upstream):
            return upstream * (1 - 1 / (1 + e))

        return tg.log(1 + e), grad_fn

    def under_tape(f):
        def call():
            with tg.GradientTape() as tape:
                tape.watch(x)
                f(x)

        return call

    def with_gradient(f):
        def call():
            with tg.GradientTape() as tape:
                tape.watch(x)
                y = f(x)
            return tape.gradient(y, x)

        return call

    ref = np.log1p(np.exp(x.numpy().astype(np.float64)))
    ref_grad = 1 / (1 + np.exp(-x.numpy().astype(np.float64)))
    for f in (log1pexp_plain, log1pexp):
        np.testing.assert_allclose(f(x).numpy(), ref, rtol=1e-6)
        np.testing.assert_allclose(with_gradient(f)().numpy(), ref_grad, rtol=1e-6)

    fns = [
        under_tape(log1pexp_plain),
        under_tape(log1pexp),
        with_gradient(log1pexp_plain),
        with_gradient(log1pexp),
    ]
    us = side_by_side(fns, 2000, repeat)
    names = [
        "tape + log(1 + exp(x)) plain ops",
        "tape + @tg.custom_gradient log1pexp(x)",
        "tape + plain ops + tape.gradient",
        "tape + custom_gradient + tape.gradient",
    ]
    report(
        "4. tg.custom_gradient (log1pexp on 8 float32) under a GradientTape vs the same ops "
        "undecorated, one thread",
        list(zip(names, us)),
    )
    goal("custom_gradient call - plain call (us per call)", us[1] - us[0], 2, at_least=False)
    results["custom_gradient: extra us per call under a tape"] = (us[1] - us[0], 2, False)
    print(f"  {'same with tape.gradient (us per call)':<52} {us[3] - us[2]:10.2f}")


# ---- where the jvp and hvp microseconds go -------------------------------------------------------


def bench_parts(repeat: int, results: dict) -> None:
    from tapegrad import _core
    from tapegrad._core import ops

    rng = np.random.default_rng(0)
    x = tg.constant(rng.standard_normal((32, 8)).astype(np.float32))
    t = tg.constant(rng.standard_normal((32, 8)).astype(np.float32))
    model = tg.models.Sequential()
    model.add(tg.layers.Dense(128, activation="relu", input_shape=(8,)))
    model.add(tg.layers.Dense(1))
    model(x)
    w1, b1, w2, b2 = model.trainable_variables
    h = ops.dense(x, w1, b1, "relu")

    def two_dense():  # what model(x) runs: two fused dense ops
        return ops.dense(ops.dense(x, w1, b1, "relu"), w2, b2, None)

    def tangent_ops():  # what the two dense JVP rules run: matmul, relu_grad, matmul
        return ops.matmul(ops.relu_grad(ops.matmul(t, w1.value()), h), w2.value())

    def core_jvp():  # the C++ accumulator without the Python layer
        acc = _core.ForwardAccumulator()
        acc.watch(x, t)
        acc.enter()
        y = two_dense()
        acc.exit()
        return acc.tangent(y)

    with tg.autodiff.ForwardAccumulator([x], [t]) as acc:
        y = model(x)

    rows = [
        ("tg.jvp(model, [x], [t])", lambda: tg.jvp(model, [x], [t])),
        ("model(x)", lambda: model(x)),
        ("two fused dense ops (model(x) without Sequential)", two_dense),
        ("the 3 tangent ops called from Python", tangent_ops),
        ("_core accumulator: watch, enter, 2 dense, tangent", core_jvp),
        (
            "tg.autodiff.ForwardAccumulator([x], [t]) (Python)",
            lambda: tg.autodiff.ForwardAccumulator([x], [t]),
        ),
        (
            "acc.jvp(y, unconnected_gradients='zero')",
            lambda: acc.jvp(y, unconnected_gradients="zero"),
        ),
    ]
    us = side_by_side([fn for _, fn in rows], 1000, repeat)
    report("pieces of tg.jvp (case 1, tapegrad alone)", list(zip([n for n, _ in rows], us)))

    rng = np.random.default_rng(0)  # bench_hvp's model, data and v
    xs, ys = (tg.constant(rng.standard_normal((32, k)).astype(np.float32)) for k in (8, 1))
    w_np = [
        (rng.standard_normal((8, 128)) * 0.3).astype(np.float32),
        (rng.standard_normal(128) * 0.1).astype(np.float32),
        (rng.standard_normal((128, 1)) * 0.1).astype(np.float32),
        np.zeros(1, np.float32),
    ]
    vs = [tg.constant(rng.standard_normal(w.shape).astype(np.float32)) for w in w_np]
    params = [tg.Variable(w) for w in w_np]

    def loss(p):
        w1, b1, w2, b2 = p
        return tg.reduce_mean((tg.relu(xs @ w1 + b1) @ w2 + b2 - ys) ** 2)

    def core_hvp():  # tg.hvp without its Python layer
        acc = _core.ForwardAccumulator()
        for p, v in zip(params, vs):
            acc.watch(p, v)
        acc.enter()
        with tg.GradientTape() as tape:
            value = loss(params)
        gs = tape.gradient(value, params)
        acc.exit()
        return [acc.tangent(g) for g in gs]

    def loss_under_acc():
        acc = _core.ForwardAccumulator()
        for p, v in zip(params, vs):
            acc.watch(p, v)
        acc.enter()
        loss(params)
        acc.exit()

    def gradient():
        with tg.GradientTape() as tape:
            value = loss(params)
        return tape.gradient(value, params)

    for a, b in zip(tg.hvp(loss, params, vs), core_hvp()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)
    rows = [
        ("tg.hvp(loss, params, vs)", lambda: tg.hvp(loss, params, vs)),
        ("the same by hand with the _core accumulator", core_hvp),
        ("loss(params) (9 ops)", lambda: loss(params)),
        ("loss(params) under a _core accumulator (+11 ops)", loss_under_acc),
        ("tape + loss + tape.gradient (no accumulator)", gradient),
        (
            "tg.autodiff.ForwardAccumulator(params, vs) (Python)",
            lambda: tg.autodiff.ForwardAccumulator(params, vs),
        ),
    ]
    us = side_by_side([fn for _, fn in rows], 200, repeat)
    report("pieces of tg.hvp (case 3, tapegrad alone)", list(zip([n for n, _ in rows], us)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="jvp,jac,hvp,custom")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    tg.set_num_threads(1)
    print(
        f"tapegrad {tg.__version__} {tg.config()}, numpy {np.__version__}, "
        f"torch {torch.__version__ if torch else 'not installed'}"
    )
    benches = {
        "jvp": bench_jvp,
        "jac": bench_jac,
        "hvp": bench_hvp,
        "custom": bench_custom,
        "parts": bench_parts,
    }
    results = {}  # name -> (value, goal or None, at_least)
    for name in args.only.split(","):
        benches[name](args.repeat, results)
    if results:
        print("\nissue 12's speed goals, side by side (medians of interleaved rounds, this run)")
        for text, (value, target, at_least) in results.items():
            if target is None:
                print(f"  {text:<52} {value:10.2f}")
            else:
                goal(text, value, target, at_least)
    return 0


if __name__ == "__main__":
    sys.exit(main())
