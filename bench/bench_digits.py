"""The digits classifier's training epoch, side by side in one run (one thread): tapegrad's
Trainer (compiled steps replayed in C++) against a Python loop over a jax.jit step and a PyTorch
eager loop, all the same MLP 64-256-256-10 (relu), sparse softmax cross-entropy from logits,
Adam(1e-3), batches of 64 over one shuffled pass of the shipped 8x8 digits (1,797 samples; the
last, short batch dropped everywhere).

    python bench/bench_digits.py [--rounds 11]

The Trainer's epoch is (fit(1 + 4) - fit(1)) / 4 timed in the same round, so tracing and fit's
setup cancel. Goals (the classification issue): jax.jit loop / Trainer >= 8 and PyTorch eager /
Trainer >= 20. JAX and PyTorch are optional benchmark tools (`pip install jax`,
`pip install torch==2.13.0`), never dependencies.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

# import_optional: the sibling benchmark's (the script's folder is on sys.path).
from bench_compiled import import_optional

import tapegrad as tg
from tapegrad import keras

BATCH, HIDDEN, LR = 64, 256, 1e-3
EXTRA_EPOCHS = 4


def digits():
    X, y, _, _ = tg.data.load_digits()
    return (X / 16.0).astype(np.float32), y.astype(np.int64)


def make_model(initial=None):
    model = keras.Sequential(
        [
            keras.layers.Dense(HIDDEN, activation="relu", input_shape=(64,)),
            keras.layers.Dense(HIDDEN, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    if initial is not None:
        model.set_weights(initial)
    return model


def jax_epoch_fn(jax, X, y, rows, initial):
    jnp = jax.numpy

    def loss_fn(params, xb, yb):
        h = xb
        for i in range(0, len(params) - 2, 2):
            h = jax.nn.relu(h @ params[i] + params[i + 1])
        logits = h @ params[-2] + params[-1]
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    @jax.jit
    def step(params, m, v, t, X_all, y_all, idx):
        loss, grads = jax.value_and_grad(loss_fn)(params, X_all[idx], y_all[idx])
        t = t + 1
        m = [0.9 * a + 0.1 * g for a, g in zip(m, grads)]
        v = [0.999 * a + 0.001 * g * g for a, g in zip(v, grads)]
        lr_t = LR * jnp.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        params = [p - lr_t * a / (jnp.sqrt(b) + 1e-7) for p, a, b in zip(params, m, v)]
        return params, m, v, t, loss

    jX, jy = jax.device_put(X), jax.device_put(y)
    rows32 = rows.astype(np.int32)

    def epoch():
        params = [jax.device_put(w) for w in initial]
        m = [jnp.zeros_like(p) for p in params]
        v = [jnp.zeros_like(p) for p in params]
        t = jnp.zeros((), jnp.float32)
        losses = []
        for k in range(len(rows32)):
            params, m, v, t, loss = step(params, m, v, t, jX, jy, rows32[k])
            losses.append(loss)
        jax.block_until_ready(params)
        return np.asarray(losses)

    return epoch


def torch_epoch_fn(torch, X, y, rows, initial):
    nn, F = torch.nn, torch.nn.functional
    tX, ty = torch.tensor(X), torch.tensor(y)
    trows = [torch.tensor(r) for r in rows]

    def epoch():
        model = nn.Sequential(
            nn.Linear(64, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, 10),
        )
        with torch.no_grad():
            for layer, (w, b) in zip(
                [model[0], model[2], model[4]], zip(initial[::2], initial[1::2])
            ):
                layer.weight.copy_(torch.tensor(w.T))
                layer.bias.copy_(torch.tensor(b))
        opt = torch.optim.Adam(model.parameters(), lr=LR, eps=1e-7)
        losses = []
        for r in trows:
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(tX[r]), ty[r])
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return np.asarray(losses)

    return epoch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    tg.set_num_threads(1)
    jax, torch = import_optional("jax"), import_optional("torch")
    X, y = digits()
    tg.set_random_seed(0)
    initial = make_model().get_weights()
    model = make_model(initial)
    model.compile(
        optimizer=keras.optimizers.Adam(LR),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    steps = len(X) // BATCH
    # The Trainer's first epoch order (fit(seed=0), shuffled pass): the same rows for the others.
    order = np.random.default_rng(int(np.random.default_rng(0).integers(2**63))).permutation(len(X))
    rows = np.stack([order[k * BATCH : (k + 1) * BATCH] for k in range(steps)])
    X_fit, y_fit = X, y

    def fit(epochs: int):
        model.set_weights(initial)
        model.optimizer.iterations.assign(0) if hasattr(
            model.optimizer.iterations, "assign"
        ) else None
        model.fit(
            X_fit, y_fit, epochs=epochs, batch_size=BATCH, steps_per_epoch=steps, verbose=0, seed=0
        )

    contenders = {"fit(1)": lambda: fit(1), "fit(5)": lambda: fit(1 + EXTRA_EPOCHS)}
    if jax is not None:
        contenders["jax.jit loop"] = jax_epoch_fn(jax, X, y, rows, initial)
    if torch is not None:
        contenders["PyTorch eager"] = torch_epoch_fn(torch, X, y, rows, initial)
    for fn in contenders.values():
        fn()  # warm-up (and jit compilation)
    times = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    trainer = [(b - a) / EXTRA_EPOCHS for a, b in zip(times["fit(1)"], times["fit(5)"])]
    print(f"digits MLP 64-{HIDDEN}-{HIDDEN}-10, batch {BATCH}, {steps} steps per epoch, one thread")
    print(f"  {'Trainer epoch (compiled)':<28} {statistics.median(trainer) * 1e3:8.3f} ms")
    for name in ("jax.jit loop", "PyTorch eager"):
        if name in times:
            ratio = statistics.median([o / t for o, t in zip(times[name], trainer)])
            goal = 8 if name.startswith("jax") else 20
            verdict = "met" if ratio >= goal else "NOT met"
            print(
                f"  {name:<28} {statistics.median(times[name]) * 1e3:8.3f} ms   "
                f"{ratio:6.2f}x the Trainer (goal >= {goal}: {verdict})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
