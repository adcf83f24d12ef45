"""One rank of the data-parallel tests in tests/test_distributed.py, started by
``mpiexec -n N python -m mpi4py tests/mpi_worker.py SCENARIO OUT [options]``.

Scenarios: ``fit`` trains the regression model of ``make_problem`` with a Trainer under
MPIStrategy (``--eager`` for the tape path, else compiled) and rank 0 writes the final weights
and the history to OUT; ``loop`` does the same steps by hand with ``strategy.allreduce``. Both
run in one process without a strategy too: the tests' reference. ``--unused`` adds a weight
the loss does not reach (a None gradient).
``shapes`` builds a different model on rank 1; ``raise`` makes rank 1 raise mid-training;
``slow`` trains long and writes each rank's pid to OUT (for the kill and Ctrl-C tests).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

import tapegrad as tg

STEPS = 100


def make_problem(seed: int = 3, n: int = 640, features: int = 5):
    """A small regression set (the same on every rank) and its model."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features)).astype(np.float32)
    y = (X @ rng.normal(size=(features, 1)) + 0.1 * rng.normal(size=(n, 1))).astype(np.float32)
    return X, y


def make_model(hidden: int = 16, features: int = 5):
    tg.set_random_seed(7)
    return tg.models.Sequential(
        [
            tg.layers.Dense(hidden, activation="relu", input_shape=(features,)),
            tg.layers.Dense(1),
        ]
    )


def fit(strategy, args) -> dict:
    X, y = make_problem()
    model = make_model(hidden=args.hidden)
    if args.unused:  # a trainable weight the loss does not reach: its gradient is None
        model.layers[0].add_weight("unused", np.ones(3, np.float32))
    trainer = tg.train.Trainer(
        model,
        loss="mse",
        optimizer=tg.optimizers.Adam(1e-2),
        metrics=["mae"],
        compiled=not args.eager,
        strategy=strategy,
    )
    history = trainer.fit(
        X[:480],
        y[:480],
        epochs=math.ceil(STEPS / math.ceil(480 / args.batch_size)),  # at least STEPS steps
        batch_size=args.batch_size,
        validation_data=(X[480:], y[480:]),
        verbose=0,
        seed=11,
    )
    steps = trainer.optimizer.iterations
    return {"weights": model.get_weights(), "history": history.history, "steps": steps}


def loop(strategy, args) -> dict:
    X, y = make_problem()
    model = make_model()
    optimizer = tg.optimizers.SGD(0.05)
    if strategy is not None:
        strategy.broadcast_variables(model.variables)
    variables = model.trainable_variables
    rng = np.random.default_rng(11)
    for _ in range(STEPS):
        rows = rng.choice(480, size=args.batch_size, replace=False)
        mine = rows if strategy is None else strategy.shard(rows)
        with tg.GradientTape() as tape:
            loss = tg.reduce_mean(tg.losses.mean_squared_error(y[mine], model(X[mine])))
        grads = tape.gradient(loss, variables)
        if strategy is not None:  # the batch splits evenly: the mean of the shares' means
            grads = strategy.allreduce(grads)
        optimizer.apply_gradients(zip(grads, variables))
    return {"weights": model.get_weights(), "history": {}}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["fit", "loop", "shapes", "raise", "slow"])
    parser.add_argument("out")
    parser.add_argument("--eager", action="store_true")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--unused", action="store_true")
    args = parser.parse_args()
    tg.set_num_threads(1)
    strategy = tg.distribute.MPIStrategy()
    out = Path(args.out)
    if args.scenario == "shapes":
        args.hidden = 16 if strategy.rank == 0 else 24
        args.scenario = "fit"
    if args.scenario in ("raise", "slow"):
        (out / f"pid.{strategy.rank}").write_text(str(os.getpid()))
        X, y = make_problem(n=4096)
        model = make_model()
        model.compile(optimizer="sgd", loss="mse")

        def fail(epoch, logs):
            if strategy.rank == 1 and epoch == 2:
                raise RuntimeError("rank 1 fails on purpose")

        with strategy.scope():
            model.fit(
                X,
                y,
                epochs=100000 if args.scenario == "slow" else 50,
                batch_size=8,
                verbose=0,
                callbacks=[tg.callbacks.LambdaCallback(on_epoch_end=fail)],
            )
        return 0
    result = (fit if args.scenario == "fit" else loop)(strategy, args)
    if strategy.is_chief:
        np.savez(out / "weights.npz", *result["weights"])
        (out / "history.json").write_text(json.dumps(result["history"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
