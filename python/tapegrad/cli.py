"""The main job: ``tapegrad train`` fits the seed notebook's regressor on California housing (or
the digits classifier); ``tapegrad predict`` serves a saved model; ``tapegrad demo`` runs the
seed's derivative cells. docs/cli.md describes the options, files and exit codes.

``train`` loads the data (``--data PATH``, ``--synthetic`` for the stand-in, or by default the real
data set shipped in the package, ``tg.data.load_california_housing``),
splits it as the seed does (train/test, then train/validation, 25% each time), puts a
``Normalization`` layer adapted on the training split in front of Dense(hidden, relu) -> Dense(1),
fits it with progress, prints train/validation/test MSE and writes ``--out DIR``: ``model/``
(architecture + weights, normalization included), ``history.json``, ``history.csv``,
``metrics.json`` (results plus the run's whole configuration and the command that repeats it) and
``loss.png`` (when matplotlib is installed). Every epoch it also writes ``checkpoint/`` (model,
optimizer state, epochs done), from which ``--resume DIR`` continues a killed run to the same
final weights. ``--distributed`` (under ``mpiexec -n N``) trains data-parallel over the N ranks
(python/tapegrad/distribute.py); rank 0 prints and writes.

Bad arguments or data end in one line on stderr and exit code 2 (``UsageError``), Ctrl-C in one
line and 130; the argument parser is built from one ``_add_<command>_arguments`` function per
command.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
import warnings
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

# Per task and optimizer; a flag left out takes these (metrics.json records what was used).
DEFAULTS = {
    "housing": {
        "adam": {"lr": 3e-3, "epochs": 20},
        "sgd": {"lr": 0.01, "epochs": 100},
        "batch_size": 32,
        "hidden": 128,
        "sampling": "random",
    },
    "digits": {
        "adam": {"lr": 1e-3, "epochs": 30},
        "sgd": {"lr": 0.01, "epochs": 30},
        "batch_size": 64,
        "hidden": 256,
        "sampling": "epoch",
    },
}
DATA_SUFFIXES = (".npz", ".csv")
EXIT_USAGE = 2  # bad arguments or data, as argparse uses
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports after Ctrl-C


class UsageError(Exception):
    """Bad arguments or data: main prints the message as one line and exits with EXIT_USAGE."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``tapegrad train: error: ...`` instead of usage + error."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _int_in(low: int, high: Optional[int] = None):
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if n < low or (high is not None and n > high):
            bound = f"from {low} to {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {n}")
        return n

    return parse


def _positive_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return x


def _momentum(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= x < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return x


# --threads: 0 (all cores) or 1..1024, tg.set_num_threads's range (docs/limits.md).
_thread_count = _int_in(0, 1024)


def _per_task(key: str) -> str:
    return ", ".join(f"{task} {DEFAULTS[task][key]}" for task in DEFAULTS)


def _per_optimizer(key: str) -> str:
    return "; ".join(
        f"{task}: " + ", ".join(f"{opt} {DEFAULTS[task][opt][key]}" for opt in ("adam", "sgd"))
        for task in DEFAULTS
    )


def _add_train_arguments(train: argparse.ArgumentParser) -> None:
    train.add_argument(
        "--task",
        choices=sorted(DEFAULTS),
        default="housing",
        help="housing: the seed's regressor (MSE); digits: an MLP classifier on the 8x8 digits "
        "(softmax cross-entropy, accuracy, confusion matrix) (default: %(default)s)",
    )
    train.add_argument(
        "--data",
        metavar="PATH",
        help=".npz (arrays X, y) or .csv (last column = target) (default: the real data set "
        "shipped with tapegrad)",
    )
    train.add_argument(
        "--synthetic",
        action="store_true",
        help="train on the deterministic synthetic stand-in instead of the real data (housing "
        "only; default: off)",
    )
    train.add_argument(
        "--out",
        metavar="DIR",
        help="output folder; with --resume, the resumed DIR (default: tapegrad_out)",
    )
    train.add_argument(
        "--force",
        action="store_true",
        help="write into --out even when it is not empty (default: refuse)",
    )
    train.add_argument(
        "--optimizer", choices=["adam", "sgd"], default="adam", help="(default: %(default)s)"
    )
    train.add_argument(
        "--lr", type=_positive_float, help=f"learning rate (default: {_per_optimizer('lr')})"
    )
    train.add_argument(
        "--momentum", type=_momentum, default=0.0, help="SGD momentum (default: %(default)s)"
    )
    train.add_argument(
        "--epochs", type=_int_in(1), help=f"epochs (default: {_per_optimizer('epochs')})"
    )
    train.add_argument(
        "--batch-size", type=_int_in(1), help=f"batch size (default: {_per_task('batch_size')})"
    )
    train.add_argument(
        "--hidden", type=_int_in(1), help=f"hidden units (default: {_per_task('hidden')})"
    )
    train.add_argument(
        "--seed",
        type=_int_in(0, 2**32 - 1),
        default=1,
        help="seed for split, init and batches (default: %(default)s)",
    )
    train.add_argument(
        "--threads",
        type=_thread_count,
        default=1,
        help="kernel threads, 0 = all cores (default: %(default)s)",
    )
    train.add_argument(
        "--sampling",
        choices=["random", "epoch"],
        help="random: the seed's with-replacement batches; epoch: shuffled passes "
        f"(default: {_per_task('sampling')})",
    )
    train.add_argument(
        "--patience",
        type=_int_in(0),
        default=0,
        help="early stopping patience in epochs on val_loss, 0 = off (default: %(default)s)",
    )
    train.add_argument(
        "--verbose",
        type=int,
        choices=[0, 1, 2],
        default=1,
        help="0 silent, 1 progress bar, 2 one line per epoch (default: %(default)s)",
    )
    train.add_argument(
        "--no-plot",
        action="store_true",
        help="skip loss.png (default: draw it when matplotlib is installed)",
    )
    train.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run whose --out was DIR from DIR/checkpoint (give the same flags; "
        "--epochs counts from the run's start) (default: a new run)",
    )
    train.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over the ranks of `mpiexec -n N tapegrad train --distributed` "
        "(needs tapegrad[mpi]) (default: one process)",
    )


def _add_predict_arguments(predict: argparse.ArgumentParser) -> None:
    predict.add_argument(
        "--model", required=True, metavar="DIR", help="the model folder (OUT/model; required)"
    )
    predict.add_argument(
        "--data",
        required=True,
        metavar="PATH",
        help=".npz with X (and y) or .csv (features, optionally the target last; required)",
    )
    predict.add_argument(
        "--output", metavar="FILE", help="write predictions to this .csv (default: print them)"
    )
    predict.add_argument(
        "--threads",
        type=_thread_count,
        default=1,
        help="kernel threads, 0 = all cores (default: %(default)s)",
    )


def _add_demo_arguments(demo: argparse.ArgumentParser) -> None:
    demo.add_argument(
        "--plot",
        nargs="?",
        const="tape_plots",
        metavar="DIR",
        help="also draw each derivative cell's tape to DIR/cell_<number>.png (DIR defaults to "
        "%(const)s; needs tapegrad[viz] and Graphviz's dot; default: no drawings)",
    )


class _VersionAction(argparse.Action):
    """--version: imports the engine only when asked, to report its ISA and thread count."""

    def __init__(self, option_strings, dest, **kwargs):
        kwargs.setdefault("help", "print the version, the kernels' ISA and thread count, and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_line())
        parser.exit(0)


def version_line() -> str:
    import tapegrad as tg

    runtime = tg.config()
    return (
        f"tapegrad {tg.__version__} (isa {runtime['isa']}, {runtime['num_threads']} threads, "
        f"Python {sys.version.split()[0]}, NumPy {np.__version__})"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tapegrad", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="{train,predict,demo}", required=True)
    _add_train_arguments(
        sub.add_parser(
            "train",
            help="train the seed's housing regressor (or the digits classifier) end to end",
            description="train the seed's housing regressor (or the digits classifier) end to end",
        )
    )
    _add_predict_arguments(
        sub.add_parser(
            "predict",
            help="predict with a model saved by `tapegrad train`",
            description="predict with a model saved by `tapegrad train`",
        )
    )
    _add_demo_arguments(
        sub.add_parser(
            "demo",
            help="run the seed notebook's derivative and GradientTape cells",
            description="run the seed notebook's derivative and GradientTape cells",
        )
    )
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    """The ``tapegrad`` command: without arguments it prints the help. Bad arguments or data end
    with one line on stderr and exit code 2; Ctrl-C with one line and 130."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        parser.print_help()
        return 0
    try:
        args = parser.parse_args(argv)
        if args.command == "train":
            return train_distributed(args) if args.distributed else train(args)
        if args.command == "predict":
            return predict(args)
        from .demo import run_seed_cells

        run_seed_cells(plot_dir=args.plot)
        return 0
    except UsageError as err:
        print(f"tapegrad {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tapegrad: interrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED


def read_data(path_text: str, *, labels: bool = False) -> tuple:
    """(X, y or None) from an .npz (arrays X and optionally y) or a .csv whose last column is the
    target. Every fault (missing file, unknown suffix, unreadable or non-numeric content, shapes
    that do not fit) is a UsageError naming the file."""
    from . import data

    path = Path(path_text)
    where = f"--data {os.fspath(path)}"
    if not path.exists():
        raise UsageError(f"{where}: no such file")
    if path.is_dir():
        raise UsageError(f"{where}: is a folder, not a data file")
    suffix = path.suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise UsageError(
            f"{where}: unknown suffix {suffix or '(none)'!r}; expected .npz (arrays X, y) or "
            ".csv (last column = target)"
        )
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                if "X" not in f.files:
                    raise UsageError(f"{where}: has no array 'X' (has {f.files})")
                X = np.asarray(f["X"])
                y = np.asarray(f["y"]) if "y" in f.files else None
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # np.loadtxt warns on an empty file
                X, y, _ = data._load_csv(path)
    except UsageError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
        reason = "not numeric" if suffix == ".csv" and "convert" in str(e) else "unreadable"
        raise UsageError(f"{where}: {reason}: {_first_line(e)}") from None
    if X.dtype.kind not in "biuf" or (y is not None and y.dtype.kind not in "biuf"):
        dtypes = f"X {X.dtype}" + ("" if y is None else f", y {y.dtype}")
        raise UsageError(f"{where}: arrays must be numeric, got {dtypes}")
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise UsageError(f"{where}: expected X of shape (samples, features), got {X.shape}")
    if y is not None and (y.ndim != 1 or len(y) != len(X)):
        raise UsageError(f"{where}: expected y of shape ({len(X)},), got {y.shape}")
    if labels and y is not None:
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)) or np.any(y < 0):
            raise UsageError(f"{where}: class labels y must be non-negative integers")
        y = y.astype(np.int64)
    elif y is not None:
        y = y.astype(np.float64)
    return np.asarray(X, np.float64), y


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def _out_dir(args) -> Path:
    return Path(args.out or args.resume or "tapegrad_out")


def _prepare_out(args) -> Path:
    """--out: created when missing; refused when it holds files unless --force."""
    _check_out(args)
    out = _out_dir(args)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {os.fspath(out)}: cannot create it: {_first_line(e)}") from None
    return out


def run_config(args) -> dict:
    """Every setting of a ``train`` run, defaults resolved: what metrics.json records and what
    ``config_to_argv`` turns back into a command line that repeats the run."""
    task = DEFAULTS[args.task]
    pick = task[args.optimizer]
    return {
        "task": args.task,
        "data": args.data,
        "synthetic": bool(args.synthetic),
        "seed": args.seed,
        "optimizer": args.optimizer,
        "lr": args.lr if args.lr is not None else pick["lr"],
        "momentum": args.momentum,
        "epochs": args.epochs if args.epochs is not None else pick["epochs"],
        "batch_size": args.batch_size if args.batch_size is not None else task["batch_size"],
        "hidden": args.hidden if args.hidden is not None else task["hidden"],
        "sampling": args.sampling if args.sampling is not None else task["sampling"],
        "patience": args.patience,
        "threads": args.threads,
    }


def config_to_argv(config: dict) -> list[str]:
    """The ``tapegrad train`` arguments that repeat a run recorded by ``run_config``."""
    argv = ["train"]
    for key, value in config.items():
        flag = "--" + key.replace("_", "-")
        if key == "synthetic":
            argv += [flag] if value else []
        elif value is not None:
            argv += [flag, str(value)]
    return argv


def _runtime() -> dict:
    import tapegrad as tg

    return {
        "tapegrad_version": tg.__version__,
        "isa": tg.config()["isa"],
        "num_threads": tg.num_threads(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
    }


def _make_optimizer(config: dict):
    from . import optimizers

    if config["optimizer"] == "adam":
        return optimizers.Adam(config["lr"])
    return optimizers.SGD(config["lr"], momentum=config["momentum"])


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
        raise UsageError(f"--distributed: {e}") from None
    import mpi4py.run

    try:
        if strategy.is_chief:
            return train(args, strategy)
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            return train(args, strategy)
    except BaseException as exc:
        mpi4py.run.set_abort_status(exc)
        raise


def train(args, strategy=None) -> int:
    """``tapegrad train``: check the arguments and --out, load and split the data, fit, report,
    save. Exit 0 when done, 1 when training diverged, 130 after Ctrl-C (the results so far are
    saved), 2 for bad arguments or data. With a strategy (``--distributed``) every rank trains
    its share of each batch and only rank 0 writes."""
    import tapegrad as tg

    config = run_config(args)
    if args.synthetic and args.data is not None:
        raise UsageError("give either --data or --synthetic, not both")
    if args.synthetic and args.task == "digits":
        raise UsageError("--synthetic is for the housing task; digits always ships")
    if args.threads:  # 0 keeps the default: all cores (TAPEGRAD_NUM_THREADS if set)
        tg.set_num_threads(args.threads)
    tg.set_random_seed(args.seed)
    chief = strategy is None or strategy.is_chief
    if chief:
        _check_out(args)  # before the data loads and the model trains
    X, y, source = _task_data(args)
    classes = None
    if args.task == "digits":
        classes = int(y.max()) + 1
        print(f"data: {source}  X {X.shape}  y {y.shape}  classes {len(np.unique(y))}")
    else:
        if args.synthetic:
            print("note: synthetic stand-in data (--synthetic); its numbers are not the real set's")
        print(f"data: {source}  X {X.shape}  y {y.shape}")
    if len(X) < 4:
        raise UsageError(f"--data: {len(X)} samples cannot be split into train/validation/test")
    X_train, X_val, X_test, y_train, y_val, y_test = _split(X, y, args.seed)
    print(f"split: train {len(X_train)}  validation {len(X_val)}  test {len(X_test)}")
    if classes is None:
        y_train, y_val, y_test = y_train[:, None], y_val[:, None], y_test[:, None]

    def build():
        if classes is None:
            return build_model(X.shape[1], config["hidden"], X_train)
        return build_digits_model(config["hidden"], X_train, classes)

    optimizer = _make_optimizer(config)
    model, initial_epoch = _start(args, build, optimizer)
    if args.verbose:
        model.summary()
    print(
        f"optimizer: {config['optimizer']} lr={config['lr']}  epochs {config['epochs']}  batch "
        f"{config['batch_size']}  sampling {config['sampling']}  threads {tg.num_threads()}"
        + (f"  ranks {strategy.size}" if strategy else "")
    )
    out = _prepare_out(args) if chief else _out_dir(args)
    trainer = _trainer(model, optimizer, classes, strategy)
    outcome = _fit(
        trainer, config, args, out, (X_train, y_train), (X_val, y_val), optimizer, initial_epoch
    )
    if isinstance(outcome, int):
        return outcome
    history, seconds = outcome
    results = {"task": args.task}
    if classes is None:
        results.update(
            train_mse=trainer.evaluate(X_train, y_train),
            val_mse=trainer.evaluate(X_val, y_val),
            test_mse=trainer.evaluate(X_test, y_test),
        )
        print(
            f"train MSE {results['train_mse']:.4f}  validation MSE {results['val_mse']:.4f}  "
            f"test MSE {results['test_mse']:.4f}  ({len(history.epoch)} epochs in {seconds:.2f}s)"
        )
    else:
        test_loss, test_accuracy = trainer.evaluate(X_test, y_test)
        counts = confusion_matrix(y_test, np.argmax(model.predict(X_test), axis=1), classes)
        results.update(
            train_accuracy=trainer.evaluate(X_train, y_train)[1],
            val_accuracy=trainer.evaluate(X_val, y_val)[1],
            test_accuracy=test_accuracy,
            test_loss=test_loss,
            confusion_matrix=counts.tolist(),
        )
        print(
            f"test accuracy {test_accuracy:.4f}  test loss {test_loss:.4f}  "
            f"({len(history.epoch)} epochs in {seconds:.2f}s)"
        )
        print("confusion matrix (rows: true class, columns: predicted):")
        print(format_confusion(counts))
    results.update(
        epochs_run=len(history.epoch),
        seconds=round(seconds, 3),
        data=source,
        interrupted=history.interrupted,
        optimizer=optimizer.get_config(),
        config=config,
        command=["tapegrad", *config_to_argv(config)],
        runtime=_runtime(),
    )
    if not chief:
        return 0
    saved = _save_run(model, history, results, out, args)
    print(f"saved to {out}/: {', '.join(saved)}")
    if history.interrupted:
        print("tapegrad train: interrupted (Ctrl-C); saved the results so far", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _start(args, build, optimizer) -> tuple:
    """(model, initial_epoch): the model ``build()`` makes, or with ``--resume`` the checkpoint's
    model with ``optimizer``'s state restored."""
    from . import callbacks

    if not args.resume:
        return build(), 0
    checkpoint = Path(args.resume) / "checkpoint"
    if not checkpoint.is_dir():
        raise UsageError(f"--resume {args.resume}: has no checkpoint/ folder to resume from")
    model, initial_epoch = callbacks.resume_from(checkpoint, optimizer)
    print(f"resuming from {checkpoint} after epoch {initial_epoch}")
    return model, initial_epoch


def _check_out(args) -> None:
    out = _out_dir(args)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {os.fspath(out)}: is a file, not a folder")
    resuming_here = args.resume is not None and out.resolve() == Path(args.resume).resolve()
    if out.is_dir() and any(out.iterdir()) and not args.force and not resuming_here:
        raise UsageError(
            f"--out {os.fspath(out)}: folder is not empty; pass --force to write into it, or "
            "choose another --out"
        )


def _task_data(args) -> tuple:
    """(X, y, source) of the task: --data, the synthetic stand-in or the shipped set."""
    import tapegrad as tg

    if args.data is not None:
        X, y = read_data(args.data, labels=args.task == "digits")
        if y is None:
            raise UsageError(f"--data {args.data}: has no target (array 'y' or a last column)")
        return X, y, str(args.data)
    if args.task == "digits":
        bundle = tg.data.load_digits()
        return bundle.X, bundle.y, bundle.source
    try:
        bundle = tg.data.load_california_housing(synthetic=args.synthetic)
    except (OSError, ValueError) as e:  # TAPEGRAD_DATA naming a bad file, or no data at all
        raise UsageError(_first_line(e)) from None
    return bundle.X, bundle.y, bundle.source


def _trainer(model, optimizer, classes: Optional[int], strategy=None):
    from . import losses
    from .train import Trainer

    if classes is None:
        return Trainer(model, loss="mse", optimizer=optimizer, strategy=strategy)
    return Trainer(
        model,
        loss=losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=optimizer,
        metrics=["accuracy"],
        strategy=strategy,
    )


def _fit(trainer, config, args, out: Path, train_data, val_data, optimizer, initial_epoch: int):
    """(history, seconds) of the fit, or the exit code 1 when it diverged. Logs history.csv and
    checkpoints every epoch (the file-writing callbacks run on rank 0 only)."""
    from . import callbacks
    from .train import TrainingDiverged

    stateful = []  # callbacks whose counters the checkpoint keeps, so --resume goes on counting
    if config["patience"] > 0:
        stateful.append(
            callbacks.EarlyStopping(patience=config["patience"], restore_best_weights=True)
        )
        if args.resume:
            callbacks.restore_callback_states(Path(args.resume) / "checkpoint", stateful)
    cbs = [  # the stateful ones before the checkpoint, which then saves their epoch's state
        callbacks.CSVLogger(out / "history.csv", append=bool(args.resume)),
        *stateful,
        callbacks.ModelCheckpoint(out / "checkpoint", optimizer=optimizer, state_of=stateful),
    ]
    start = time.perf_counter()
    try:
        history = trainer.fit(
            *train_data,
            epochs=config["epochs"],
            batch_size=config["batch_size"],
            validation_data=val_data,
            sampling=config["sampling"],
            callbacks=cbs,
            verbose=args.verbose,
            seed=config["seed"],
            initial_epoch=initial_epoch,
        )
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        if err.history is not None and (trainer.strategy is None or trainer.strategy.is_chief):
            err.history.save(out / "history.json")
        return 1
    return history, time.perf_counter() - start


def _save_run(model, history, results: dict, out: Path, args) -> list[str]:
    model.save(out / "model")
    history.save(out / "history.json")
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    saved = ["model/", "history.json", "history.csv", "metrics.json"]
    if not args.no_plot and history.epoch and plot_history(history, out / "loss.png"):
        saved.append("loss.png")
    return saved


def build_digits_model(hidden: int, X_adapt: np.ndarray, classes: int = 10):
    """64 pixels -> Normalization -> Dense(hidden, relu) x 2 -> Dense(classes) logits."""
    from . import layers, models

    norm = layers.Normalization(input_shape=(X_adapt.shape[1],), name="normalization")
    norm.adapt(X_adapt)
    return models.Sequential(
        [
            norm,
            layers.Dense(hidden, activation="relu", name="hidden_1"),
            layers.Dense(hidden, activation="relu", name="hidden_2"),
            layers.Dense(classes, name="logits"),
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
    """``tapegrad predict``: a saved model over --data's X. A model folder that does not load or
    data with another feature count than the model's is a UsageError (exit 2)."""
    import tapegrad as tg

    from . import models

    if args.threads:
        tg.set_num_threads(args.threads)
    try:
        model = models.load_model(args.model)
    except (OSError, ValueError) as e:  # ModelFileError names the file and the fault
        raise UsageError(f"--model {args.model}: {_first_line(e)}") from None
    if args.output and Path(args.output).is_dir():
        raise UsageError(f"--output {args.output}: is a folder, not a file")
    if args.output and not Path(args.output).resolve().parent.is_dir():
        raise UsageError(f"--output {args.output}: its folder does not exist")
    X, y = read_data(args.data)
    n_features = model.input_shape[-1]
    if Path(args.data).suffix.lower() == ".csv" and X.shape[1] == n_features - 1:
        X, y = np.column_stack([X, y]), None  # a CSV of features only, no target column
    if X.shape[1] != n_features:
        raise UsageError(
            f"--data {args.data}: the model takes {n_features} features, the data has "
            f"{X.shape[1]} (X of shape {X.shape})"
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
