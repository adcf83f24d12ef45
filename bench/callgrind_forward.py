"""Instructions per call of bench_forward.py's cases, counted by callgrind (timings on a shared,
busy machine drift; instruction counts do not).

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=deque_init \\
        python bench/callgrind_forward.py hvp 50

counts only the ``count`` timed calls (the loop runs inside ``collections.deque``, whose
``deque_init`` is the toggle; the warm-up calls before it are not counted). Divide the total by
``count``. Cases: ``hvp`` (tg.hvp), ``double_backward`` (nested tapes), ``gradient`` (one tape),
``plain`` and ``custom`` (log1pexp under a tape, undecorated and with tg.custom_gradient). Build
the extension with ``-DCMAKE_BUILD_TYPE=RelWithDebInfo`` to see function names.
"""

from __future__ import annotations

import collections
import sys

import numpy as np
from bench_higher_order import nested_tapes_hvp, seed_mlp_hvp_problem

import tapegrad as tg


def cases() -> dict:
    _, _, params, vs, loss, _ = seed_mlp_hvp_problem()
    xc = tg.constant(np.linspace(-3, 3, 8, dtype=np.float32))

    def gradient():
        with tg.GradientTape() as tape:
            value = loss(params)
        return tape.gradient(value, params)

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
                tape.watch(xc)
                f(xc)

        return call

    return {
        "hvp": lambda: tg.hvp(loss, params, vs),
        "double_backward": lambda: nested_tapes_hvp(loss, params, vs),
        "gradient": gradient,
        "plain": under_tape(log1pexp_plain),
        "custom": under_tape(log1pexp),
    }


def main() -> int:
    table = cases()
    if len(sys.argv) != 3 or sys.argv[1] not in table:
        print(__doc__)
        print(f"case: one of {sorted(table)}")
        return 2
    fn, count = table[sys.argv[1]], int(sys.argv[2])
    tg.set_num_threads(1)
    for _ in range(3):
        fn()  # warm-up, not counted
    collections.deque(map(lambda _: fn(), range(count)), maxlen=0)  # the counted calls
    return 0


if __name__ == "__main__":
    sys.exit(main())
