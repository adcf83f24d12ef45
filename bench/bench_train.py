"""The seed's training step and epoch, tapegrad against PyTorch eager, side by side in one run.

    python bench/bench_train.py [--data PATH] [--repeat 7]

Model Dense(8 -> 128, relu) -> Dense(1), batch 32, MSE, SGD(0.01), one kernel thread; an epoch
is the seed's ``len(X_train) // 32`` = 362 steps on random batches drawn with replacement, plus the
running train metric. Rows:
  step        forward + loss + gradient + update on a fixed batch (us per step)
  hand epoch  the seed's hand-written loop: NumPy random_batch, tape, metric, apply_gradients
  Trainer     tg.train.Trainer.fit(sampling="random") (ms per epoch), training through the tape;
              the PyTorch column is an eager loop over torch-gathered batches
Figures are medians over repeats; ratios are against tapegrad. PyTorch is optional
(`pip install torch==2.13.0`), a benchmark tool here, never a dependency.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import tapegrad as tg
from tapegrad import data, layers, losses, metrics, models, optimizers
from tapegrad.train import Trainer

try:
    import torch

    torch.set_num_threads(1)
except ImportError:
    torch = None

BATCH = 32


def load(path: str | None):
    candidates = [path] if path else []
    here = Path(__file__).resolve()
    candidates += [str(p / "shared" / "data" / "california_housing.npz") for p in here.parents]
    for c in candidates:
        if c and Path(c).exists():
            ds = data.load_california_housing(c)
            break
    else:
        ds = data.synthetic_california_housing()
    X_train_all, _, y_train_all, _ = data.train_test_split(ds.X, ds.y, random_state=1)
    X_train, _, y_train, _ = data.train_test_split(X_train_all, y_train_all, random_state=1)
    X = data.StandardScaler().fit_transform(X_train).astype(np.float32)
    return X, y_train.astype(np.float32)[:, None], ds.source


def median_of(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tapegrad_rows(X, y, repeat: int, steps: int) -> dict:
    tg.set_num_threads(1)
    tg.set_random_seed(0)
    model = models.Sequential()
    model.add(layers.Dense(128, activation="relu", input_shape=(8,)))
    model.add(layers.Dense(1))
    optimizer = optimizers.SGD(0.01)
    metric = metrics.MeanSquaredError()
    xb, yb = X[:BATCH], y[:BATCH]
    initial = model.get_weights()  # every timed run starts here (SGD(0.01) can diverge later)

    def step_loop(n=2000):
        model.set_weights(initial)
        for _ in range(n):
            with tg.GradientTape() as tape:
                loss = tg.reduce_mean(losses.mean_squared_error(yb, model(xb)))
            grads = tape.gradient(loss, model.variables)
            optimizer.apply_gradients(zip(grads, model.variables))

    def random_batch(x, y, batch_size=32):
        idx = np.random.randint(0, len(x), size=batch_size)
        return x[idx], y[idx]

    def hand_epoch():
        np.random.seed(0)  # the same batches every run (SGD(0.01) diverges for some draws)
        model.set_weights(initial)
        metric.reset_states()
        for _ in range(steps):
            x_batch, y_batch = random_batch(X, y)
            with tg.GradientTape() as tape:
                y_hat = model(x_batch)
                loss = tg.reduce_mean(losses.mean_squared_error(y_batch, y_hat))
                metric(y_batch, y_hat)
            grads = tape.gradient(loss, model.variables)
            optimizer.apply_gradients(zip(grads, model.variables))

    def trainer_epochs(n=5):
        trainer = Trainer(model, loss="mse", optimizer=optimizers.SGD(0.01))

        def run():
            model.set_weights(initial)
            trainer.fit(X, y, epochs=n, batch_size=BATCH, sampling="random", verbose=0, seed=0)

        return median_of(run, repeat) / n * 1e3

    return {
        "step_us": median_of(step_loop, repeat) / 2000 * 1e6,
        "hand_epoch_ms": median_of(hand_epoch, repeat) * 1e3,
        "trainer_epoch_ms": trainer_epochs(),
    }


def torch_rows(X, y, repeat: int, steps: int) -> dict:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 128), torch.nn.ReLU(), torch.nn.Linear(128, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    xb, yb = Xt[:BATCH], yt[:BATCH]

    def step_loop(n=2000):
        model.load_state_dict(initial)
        for _ in range(n):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()

    def hand_epoch():
        np.random.seed(0)
        model.load_state_dict(initial)
        total, count = 0.0, 0
        for _ in range(steps):
            idx = np.random.randint(0, len(X), size=BATCH)
            x_batch, y_batch = torch.from_numpy(X[idx]), torch.from_numpy(y[idx])
            optimizer.zero_grad()
            y_hat = model(x_batch)
            loss = torch.nn.functional.mse_loss(y_hat, y_batch)
            with torch.no_grad():  # the running metric, as the seed's keras metric
                total += float(((y_hat - y_batch) ** 2).mean(dim=-1).sum())
                count += BATCH
            loss.backward()
            optimizer.step()

    def loader_epoch():  # the Trainer's counterpart: indices drawn once, batches gathered by torch
        model.load_state_dict(initial)
        idx = torch.randint(0, len(X), (steps, BATCH))
        for i in range(steps):
            x_batch, y_batch = Xt[idx[i]], yt[idx[i]]
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x_batch), y_batch)
            loss.backward()
            optimizer.step()

    return {
        "step_us": median_of(step_loop, repeat) / 2000 * 1e6,
        "hand_epoch_ms": median_of(hand_epoch, repeat) * 1e3,
        "trainer_epoch_ms": median_of(loader_epoch, repeat) * 1e3,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="california_housing.npz (default: the shared copy)")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    X, y, source = load(args.data)
    steps = len(X) // BATCH
    print(
        f"data: {source}, X_train {X.shape}, {steps} steps/epoch, batch {BATCH}, 1 thread, "
        f"kernels {tg.config()['isa']}"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = tapegrad_rows(X, y, args.repeat, steps)
    theirs = torch_rows(X, y, args.repeat, steps) if torch is not None else None
    goals = {
        "step_us": 15.0,
        "hand_epoch_ms": 8.0,
        "trainer_epoch_ms": 5.0,
    }
    labels = {
        "step_us": "step, fixed batch (tape)      us",
        "hand_epoch_ms": "seed's hand-written epoch     ms",
        "trainer_epoch_ms": "Trainer epoch (tape)          ms",
    }
    header = f"{'':34} {'tapegrad':>10} {'goal':>7}"
    if theirs:
        header += f" {'torch ' + torch.__version__.split('+')[0]:>13} {'torch/tg':>9}"
    print(header)
    for key, label in labels.items():
        line = f"{label:34} {ours[key]:10.2f} {goals[key]:7.1f}"
        if theirs:
            line += f" {theirs[key]:13.2f} {theirs[key] / ours[key]:9.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
