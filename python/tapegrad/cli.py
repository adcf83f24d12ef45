"""The main job: ``tapegrad train`` fits the seed notebook's regressor on California housing;
``tapegrad predict`` serves a saved model; ``tapegrad demo`` runs the seed's derivative cells.

``train`` loads the data (``--data PATH``, ``--synthetic`` for the stand-in, or by default the real
data set shipped in the package, ``tg.data.load_california_housing``),
splits it as the seed does (train/test, then train/validation, 25% each time), puts a
``Normalization`` layer adapted on the training split in front of Dense(hidden, relu) -> Dense(1),
fits it with progress, prints train/validation/test MSE and writes ``--out DIR``: ``model/``
(architecture + weights, normalization included), ``history.json``, ``history.csv``,
``metrics.json`` and ``loss.png`` (when matplotlib is installed). Every epoch it also writes
``checkpoint/`` (model, optimizer state, epochs done), from which ``--resume DIR`` continues a
killed run to the same final weights. ``--distributed`` (under ``mpiexec -n N``) trains
data-parallel over the N ranks (python/tapegrad/distribute.py); rank 0 prints and writes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

DEFAULTS = {"adam": {"lr": 3e-3, "epochs": 20}, "sgd": {"lr": 0.01, "epochs": 100}}


def _thread_count(text: str) -> int:
    """--threads: 0 (all cores) or 1..1024, tg.set_num_threads's range (docs/limits.md)."""
    n = int(text)
    if not 0 <= n <= 1024:
        raise argparse.ArgumentTypeError(f"must be 0 (all cores) or 1 to 1024, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tapegrad", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")

    train = sub.add_parser(
        "train", help="train the seed's housing regressor (or the digits classifier) end to end"
    )
    train.add_argument(
        "--task",
        choices=["housing", "digits"],
        default="housing",
        help="housing: the seed's regressor (MSE); digits: an MLP classifier on the 8x8 digits "
        "(softmax cross-entropy, accuracy, confusion matrix)",
    )
    train.add_argument(
        "--data",
        help=".npz (X, y) or .csv (last column = target); default: the real data set shipped "
        "with tapegrad",
    )
    train.add_argument(
        "--synthetic",
        action="store_true",
        help="train on the deterministic synthetic stand-in instead of the real data",
    )
    train.add_argument("--out", help="output folder (default tapegrad_out, or the --resume DIR)")
    train.add_argument("--optimizer", choices=sorted(DEFAULTS), default="adam")
    train.add_argument("--lr", type=float, help="learning rate (adam 3e-3, sgd 0.01)")
    train.add_argument("--momentum", type=float, default=0.0, help="SGD momentum")
    train.add_argument("--epochs", type=int, help="epochs (adam 20, sgd 100)")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--hidden", type=int, default=128, help="hidden units (default 128)")
    train.add_argument("--seed", type=int, default=1, help="seed for split, init and batches")
    train.add_argument(
        "--threads", type=_thread_count, default=1, help="kernel threads (0 = all cores)"
    )
    train.add_argument(
        "--sampling",
        choices=["random", "epoch"],
        default="random",
        help="random: the seed's with-replacement batches; epoch: shuffled passes",
    )
    train.add_argument(
        "--patience",
        type=int,
        default=0,
        help="early stopping patience in epochs on val_loss (0 = off)",
    )
    train.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1)
    train.add_argument("--no-plot", action="store_true", help="skip loss.png")
    train.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run whose --out was DIR from DIR/checkpoint (give the same flags; "
        "--epochs counts from the run's start)",
    )
    train.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over the ranks of `mpiexec -n N tapegrad train --distributed` "
        "(needs tapegrad[mpi])",
    )

    predict = sub.add_parser("predict", help="predict with a model saved by `tapegrad train`")
    predict.add_argument("--model", required=True, help="the model folder (OUT/model)")
    predict.add_argument("--data", required=True, help=".npz with X (and y) or .csv")
    predict.add_argument("--output", help="write predictions to this .csv (default: print)")
    predict.add_argument(
        "--threads", type=_thread_count, default=1, help="kernel threads (0 = all cores)"
    )

    demo = sub.add_parser("demo", help="run the seed notebook's derivative and GradientTape cells")
    demo.add_argument(
        "--plot",
        nargs="?",
        const="tape_plots",
        metavar="DIR",
        help="also draw each derivative cell's tape to DIR/cell_<number>.png (default DIR "
        "%(const)s; needs tapegrad[viz] and Graphviz's dot)",
    )
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return train_distributed(args) if args.distributed else train(args)
    if args.command == "predict":
        return predict(args)
    from .demo import run_seed_cells

    run_seed_cells(plot_dir=getattr(args, "plot", None))
    return 0


def _split(X: np.ndarray, y: np.ndarray, seed: int):
    from .data import train_test_split

    X_train_all, X_test, y_train_all, y_test = train_test_split(X, y, random_state=seed)
    X_train, X_val, y_train, y_val = train_test_split(X_train_all, y_train_all, random_state=seed)
    return X_train, X_val, X_test, y_train, y_val, y_test


def build_model(n_features: int, hidden: int, X_adapt: np.ndarray):
    from . import layers, models

    norm = layers.Normalization(input_shape=(n_features,), name="normalization")
    norm.adapt(X_adapt)
    return models.Sequential(
        [
            norm,
            layers.Dense(hidden, activation="relu", name="hidden"),
            layers.Dense(1, name="output"),
        ],
        name="housing_regressor",
    )


def train_distributed(args) -> int:
    """``train --distributed``: every rank trains its share, rank 0 prints and writes. A rank
    that raises aborts the whole job, as under ``python -m mpi4py`` (its ``set_abort_status``),
    instead of leaving the other ranks waiting in an allreduce."""
    try:
        from .distribute import MPIStrategy

        strategy = MPIStrategy()
    except ImportError as e:
        print(f"error: --distributed: {e}", file=sys.stderr)
        return 2
    import mpi4py.run

    try:
        if strategy.is_chief:
            return train(args, strategy)
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            return train(args, strategy)
    except BaseException as exc:
        mpi4py.run.set_abort_status(exc)
        raise


def _start(args, build, optimizer, out: Path, strategy):
    """(model, initial_epoch, callbacks) of a run: the model ``build()`` makes, or with
    ``--resume`` the checkpoint's model with ``optimizer``'s state restored; the callbacks log
    to history.csv and checkpoint every epoch (on rank 0)."""
    from . import callbacks

    if args.resume:
        model, initial_epoch = callbacks.resume_from(Path(args.resume) / "checkpoint", optimizer)
        print(f"resuming from {args.resume}/checkpoint after epoch {initial_epoch}")
    else:
        model, initial_epoch = build(), 0
    cbs = [
        callbacks.CSVLogger(out / "history.csv", append=bool(args.resume)),
        callbacks.ModelCheckpoint(out / "checkpoint", optimizer=optimizer),
    ]
    if args.patience > 0:
        cbs.append(callbacks.EarlyStopping(patience=args.patience, restore_best_weights=True))
    if strategy is None or strategy.is_chief:
        out.mkdir(parents=True, exist_ok=True)
    return model, initial_epoch, cbs


def train(args, strategy=None) -> int:
    import tapegrad as tg

    from . import data, optimizers
    from .train import Trainer, TrainingDiverged

    if args.threads:  # 0 keeps the default: all cores (TAPEGRAD_NUM_THREADS if set)
        tg.set_num_threads(args.threads)
    tg.set_random_seed(args.seed)
    if args.task == "digits":
        return train_digits(args, strategy)
    if args.synthetic and args.data is not None:
        raise SystemExit("error: give either --data or --synthetic, not both")
    ds = data.load_california_housing(args.data, synthetic=args.synthetic)
    if args.synthetic:
        print("note: synthetic stand-in data (--synthetic); its numbers are not the real set's")
    print(f"data: {ds.source}  X {ds.X.shape}  y {ds.y.shape}")
    X_train, X_val, X_test, y_train, y_val, y_test = _split(ds.X, ds.y, args.seed)
    print(f"split: train {len(X_train)}  validation {len(X_val)}  test {len(X_test)}")

    lr = args.lr if args.lr is not None else DEFAULTS[args.optimizer]["lr"]
    epochs = args.epochs if args.epochs is not None else DEFAULTS[args.optimizer]["epochs"]
    if args.optimizer == "adam":
        optimizer = optimizers.Adam(lr)
    else:
        optimizer = optimizers.SGD(lr, momentum=args.momentum)
    out = Path(args.out or args.resume or "tapegrad_out")
    model, initial_epoch, cbs = _start(
        args, lambda: build_model(ds.X.shape[1], args.hidden, X_train), optimizer, out, strategy
    )
    if args.verbose:
        model.summary()
    print(
        f"optimizer: {args.optimizer} lr={lr}  epochs {epochs}  batch {args.batch_size}  "
        f"sampling {args.sampling}  threads {tg.num_threads()}"
        + (f"  ranks {strategy.size}" if strategy else "")
    )
    trainer = Trainer(model, loss="mse", optimizer=optimizer, strategy=strategy)
    start = time.perf_counter()
    try:
        history = trainer.fit(
            X_train,
            y_train[:, None],
            epochs=epochs,
            batch_size=args.batch_size,
            validation_data=(X_val, y_val[:, None]),
            sampling=args.sampling,
            callbacks=cbs,
            verbose=args.verbose,
            seed=args.seed,
            initial_epoch=initial_epoch,
        )
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        if err.history is not None and (strategy is None or strategy.is_chief):
            err.history.save(out / "history.json")
        return 1
    seconds = time.perf_counter() - start
    results = {
        "train_mse": trainer.evaluate(X_train, y_train[:, None]),
        "val_mse": trainer.evaluate(X_val, y_val[:, None]),
        "test_mse": trainer.evaluate(X_test, y_test[:, None]),
        "epochs_run": len(history.epoch),
        "seconds": round(seconds, 3),
        "data": ds.source,
        "optimizer": optimizer.get_config(),
        "interrupted": history.interrupted,
    }
    print(
        f"train MSE {results['train_mse']:.4f}  validation MSE {results['val_mse']:.4f}  "
        f"test MSE {results['test_mse']:.4f}  ({len(history.epoch)} epochs in {seconds:.2f}s)"
    )
    if strategy is not None and not strategy.is_chief:
        return 0
    model.save(out / "model")
    history.save(out / "history.json")
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    saved = ["model/", "history.json", "history.csv", "metrics.json"]
    if not args.no_plot and plot_history(history, out / "loss.png"):
        saved.append("loss.png")
    print(f"saved to {out}/: {', '.join(saved)}")
    return 0


DIGITS_DEFAULTS = {"lr": 1e-3, "epochs": 30, "batch_size": 64, "hidden": 256}


def build_digits_model(hidden: int, X_adapt: np.ndarray):
    """64 pixels -> Normalization -> Dense(hidden, relu) x 2 -> Dense(10) logits."""
    from . import layers, models

    norm = layers.Normalization(input_shape=(X_adapt.shape[1],), name="normalization")
    norm.adapt(X_adapt)
    return models.Sequential(
        [
            norm,
            layers.Dense(hidden, activation="relu", name="hidden_1"),
            layers.Dense(hidden, activation="relu", name="hidden_2"),
            layers.Dense(10, name="logits"),
        ],
        name="digits_classifier",
    )


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j]: samples of class i predicted as j."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


def format_confusion(counts: np.ndarray) -> str:
    width = max(3, len(str(counts.max())) + 1)
    head = "true\\pred" + "".join(f"{j:>{width}}" for j in range(counts.shape[1]))
    rows = [f"{i:>9}" + "".join(f"{v:>{width}}" for v in row) for i, row in enumerate(counts)]
    return "\n".join([head, *rows])


def train_digits(args, strategy=None) -> int:
    import tapegrad as tg

    from . import losses, optimizers
    from .train import Trainer, TrainingDiverged

    if args.synthetic:
        raise SystemExit("error: --synthetic is for the housing task; digits always ships")
    if args.data is not None:
        with np.load(args.data, allow_pickle=False) as f:
            X, y = np.asarray(f["X"], np.float64), np.asarray(f["y"], np.int64)
        source = str(args.data)
    else:
        bundle = tg.data.load_digits()
        X, y, source = bundle.X, bundle.y, bundle.source
    print(f"data: {source}  X {X.shape}  y {y.shape}  classes {len(np.unique(y))}")
    X_train, X_val, X_test, y_train, y_val, y_test = _split(X, y, args.seed)
    print(f"split: train {len(X_train)}  validation {len(X_val)}  test {len(X_test)}")
    lr = args.lr if args.lr is not None else DIGITS_DEFAULTS["lr"]
    epochs = args.epochs if args.epochs is not None else DIGITS_DEFAULTS["epochs"]
    batch_size = args.batch_size if args.batch_size != 32 else DIGITS_DEFAULTS["batch_size"]
    hidden = args.hidden if args.hidden != 128 else DIGITS_DEFAULTS["hidden"]
    optimizer = optimizers.Adam(lr)
    out = Path(args.out or args.resume or "tapegrad_out")
    model, initial_epoch, cbs = _start(
        args, lambda: build_digits_model(hidden, X_train), optimizer, out, strategy
    )
    if args.verbose:
        model.summary()
    print(
        f"optimizer: adam lr={lr}  epochs {epochs}  batch {batch_size}  threads {tg.num_threads()}"
    )
    trainer = Trainer(
        model,
        loss=losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=optimizer,
        metrics=["accuracy"],
        strategy=strategy,
    )
    start = time.perf_counter()
    try:
        history = trainer.fit(
            X_train,
            y_train,
            epochs=epochs,
            batch_size=batch_size,
            validation_data=(X_val, y_val),
            callbacks=cbs,
            verbose=args.verbose,
            seed=args.seed,
            initial_epoch=initial_epoch,
        )
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    test_loss, test_accuracy = trainer.evaluate(X_test, y_test)
    predicted = np.argmax(model.predict(X_test), axis=1)
    counts = confusion_matrix(y_test, predicted, 10)
    results = {
        "task": "digits",
        "train_accuracy": trainer.evaluate(X_train, y_train)[1],
        "val_accuracy": trainer.evaluate(X_val, y_val)[1],
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "confusion_matrix": counts.tolist(),
        "epochs_run": len(history.epoch),
        "seconds": round(seconds, 3),
        "data": source,
    }
    print(
        f"test accuracy {test_accuracy:.4f}  test loss {test_loss:.4f}  "
        f"({len(history.epoch)} epochs in {seconds:.2f}s)"
    )
    print("confusion matrix (rows: true class, columns: predicted):")
    print(format_confusion(counts))
    if strategy is not None and not strategy.is_chief:
        return 0
    model.save(out / "model")
    history.save(out / "history.json")
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    saved = ["model/", "history.json", "history.csv", "metrics.json"]
    if not args.no_plot and plot_history(history, out / "loss.png"):
        saved.append("loss.png")
    print(f"saved to {out}/: {', '.join(saved)}")
    return 0


def plot_history(history, path: Path) -> bool:
    """Loss curves to a PNG; False when matplotlib is not installed (the ``plot`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(install tapegrad[plot] for loss.png)")
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [e + 1 for e in history.epoch]
    for key, values in history.history.items():
        ax.plot(epochs, values, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _predict_classes(logits: np.ndarray, y, args) -> int:
    import tapegrad as tg

    probabilities = tg.nn.softmax(logits).numpy()
    labels = np.argmax(probabilities, axis=1)
    if args.output:
        header = "label," + ",".join(f"p{j}" for j in range(probabilities.shape[1]))
        np.savetxt(
            args.output,
            np.column_stack([labels, probabilities]),
            delimiter=",",
            header=header,
            comments="",
            fmt=["%d"] + ["%.6f"] * probabilities.shape[1],
        )
        print(f"wrote {len(labels)} predictions to {args.output}")
    else:
        for label, p in zip(labels[:10], probabilities[:10]):
            print(f"{label}  (p={p[label]:.4f})")
        if len(labels) > 10:
            print(f"... ({len(labels)} predictions; use --output FILE.csv for all)")
    if y is not None:
        print(f"accuracy against y: {float(np.mean(labels == np.asarray(y).astype(np.int64))):.4f}")
    return 0


def predict(args) -> int:
    import tapegrad as tg

    from . import data, models

    if args.threads:
        tg.set_num_threads(args.threads)
    model = models.load_model(args.model)
    path = Path(args.data)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            if "X" not in f.files:
                raise SystemExit(f"error: {path} has no array 'X' (has {f.files})")
            X = np.asarray(f["X"], np.float64)
            y = np.asarray(f["y"], np.float64) if "y" in f.files else None
    else:
        ds = data.load_california_housing(path)
        X, y = ds.X, ds.y
    n_features = model.input_shape[-1]
    if X.ndim != 2 or X.shape[1] != n_features:
        raise SystemExit(
            f"error: the model takes {n_features} features, {path} has X of shape {X.shape}"
        )
    outputs = model.predict(X)
    if outputs.shape[1] > 1:  # a classifier's logits: class labels and probabilities
        return _predict_classes(outputs, y, args)
    pred = outputs[:, 0]
    if args.output:
        np.savetxt(args.output, pred, delimiter=",", header="prediction", comments="")
        print(f"wrote {len(pred)} predictions to {args.output}")
    else:
        for value in pred[:10]:
            print(f"{value:.6f}")
        if len(pred) > 10:
            print(f"... ({len(pred)} predictions; use --output FILE.csv for all)")
    if y is not None:
        print(f"MSE against y: {float(np.mean((pred - y) ** 2)):.4f}")
    return 0
