"""The seed notebook's cells 5.1 to 5.4, run with tapegrad (``python -m tapegrad``).

With ``plot_dir`` (``tapegrad demo --plot [DIR]``) each derivative cell also draws one of its
tapes to ``DIR/cell_<number>.png`` (tg.utils.plot_tape), before the gradient call that would
drop a non-persistent tape's ops; 5.3 and 5.4 draw their first step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from . import keras, utils
from ._core import GradientTape, Variable
from .ops import constant
from .tape import approximate_derivative


def _tape_plotter(plot_dir, print_fn) -> Callable:
    """plot(tape, cell): draws the tape to plot_dir/cell_<cell>.png, or does nothing (without
    plot_dir, or when Graphviz is missing: then it says why, once, and the cells still run)."""
    if plot_dir is None:
        return lambda tape, cell: None
    missing = utils.renderer_missing()
    if missing is not None:
        print_fn(f"--plot: no tape pictures, {missing}")
        return lambda tape, cell: None
    folder = Path(plot_dir)
    folder.mkdir(parents=True, exist_ok=True)

    def plot(tape, cell: str) -> None:
        print_fn(f"  (tape drawn to {utils.plot_tape(tape, folder / f'cell_{cell}.png')})")

    return plot


def run_seed_cells(print_fn=print, plot_dir: Optional[str | Path] = None) -> None:
    plot = _tape_plotter(plot_dir, print_fn)
    print_fn("5.1 central difference of 3x^2 + 2x - 1 at x = 1:")
    print_fn(approximate_derivative(lambda x: 3.0 * x**2 + 2 * x - 1, 1.0))

    print_fn("5.2.1 GradientTape: dz/dx1 of x1^2 + x2^3, then a second call on the same tape:")
    x1, x2 = Variable(2.0), Variable(3.0)
    with GradientTape() as tape:
        z = x1**2 + x2**3
    print_fn(tape.gradient(z, x1))
    try:
        tape.gradient(z, x2)
    except RuntimeError as ex:
        print_fn(ex)
    with GradientTape(persistent=True) as tape:
        z = x1**2 + x2**3
    plot(tape, "5.2.1")
    print_fn(tape.gradient(z, x1))
    print_fn(tape.gradient(z, x2))
    del tape
    c1, c2 = constant(2.0), constant(3.0)
    with GradientTape() as tape:
        tape.watch(c1)
        tape.watch(c2)
        z = c1**2 + c2**3
    print_fn(tape.gradient(z, [c1, c2]))

    print_fn("5.2.2 gradient of [3x, x^2] at x = 5 (their sum):")
    x = Variable(5.0)
    with GradientTape() as tape:
        z1 = 3 * x
        z2 = x**2
    plot(tape, "5.2.2")
    print_fn(repr(tape.gradient([z1, z2], x)))

    print_fn("5.2.3 second derivatives of x1^2 + x2 + 1 by nested tapes:")
    x1, x2 = Variable(2.0), Variable(3.0)
    with GradientTape(persistent=True) as outer_tape:
        with GradientTape(persistent=True) as inner_tape:
            z = x1**2 + x2 + 1
        inner_grads = inner_tape.gradient(z, [x1, x2])
    print_fn([outer_tape.gradient(g, [x1, x2]) for g in inner_grads])
    plot(outer_tape, "5.2.3")  # the inner gradient's ops, which the outer tape recorded

    def f(x):
        return x**2 - x * 2 + 1

    print_fn("5.3 gradient descent on x^2 - 2x + 1 (100 steps, lr 0.1):")
    x = Variable(0.0)
    for step in range(100):
        with GradientTape() as tape:
            z = f(x)
        if step == 0:
            plot(tape, "5.3")
        x.assign_sub(0.1 * tape.gradient(z, x))
    print_fn(x)

    print_fn("5.4 the same with keras.optimizers.SGD(lr=0.1):")
    x = Variable(0.0)
    optimizer = keras.optimizers.SGD(lr=0.1)
    for step in range(100):
        with GradientTape() as tape:
            z = f(x)
        if step == 0:
            plot(tape, "5.4")
        optimizer.apply_gradients([(tape.gradient(z, x), x)])
    print_fn(x)
