"""The Trainer, callbacks, tg.data and the `tapegrad` command line."""

import json
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import callbacks, data, layers, models, optimizers
from tapegrad.train import Trainer, TrainingDiverged


def linear_problem(n=512, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.3
    return X, y


def small_model(hidden=None):
    tg.set_random_seed(0)
    if hidden:
        return models.Sequential([layers.Dense(hidden, "relu", input_shape=(3,)), layers.Dense(1)])
    return models.Sequential([layers.Dense(1, input_shape=(3,))])


def test_fit_learns_and_returns_history():
    X, y = linear_problem()
    trainer = Trainer(small_model(), loss="mse", optimizer=optimizers.Adam(0.05), metrics=["mae"])
    hist = trainer.fit(X, y, epochs=30, batch_size=32, validation_data=(X, y), verbose=0, seed=0)
    assert hist.epoch == list(range(30))
    assert set(hist.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert hist.history["loss"][-1] < 1e-3 < hist.history["loss"][0]
    loss, _mae = trainer.evaluate(X, y)
    assert loss == pytest.approx(hist.history["val_loss"][-1], rel=1e-4)
    assert trainer.predict(X, batch_size=100).shape == (512, 1)


def test_fit_is_reproducible_with_seed_and_random_sampling_counts_steps():
    X, y = linear_problem()
    runs = []
    for _ in range(2):
        t = Trainer(small_model(4), optimizer=optimizers.SGD(0.05))
        h = t.fit(X, y, epochs=2, batch_size=32, sampling="random", verbose=0, seed=7)
        runs.append(h.history["loss"])
        assert h.params["steps"] == 512 // 32
    assert runs[0] == runs[1]
    with pytest.raises(ValueError, match="sampling"):
        t.fit(X, y, sampling="bootstrap", verbose=0)


def test_sequential_compile_fit_evaluate_predict():
    X, y = linear_problem()
    model = small_model()
    model.compile(optimizer=optimizers.Adam(0.05), loss="mse", metrics=["mae"])
    hist = model.fit(X, y, epochs=20, batch_size=64, verbose=0)
    assert model.history is hist and hist.history["loss"][-1] < 0.01
    assert model.evaluate(X, y, return_dict=True).keys() == {"loss", "mae"}
    assert model.predict(X).shape == (512, 1)
    with pytest.raises(RuntimeError, match="compile"):
        small_model().fit(X, y)


def test_terminate_on_nan_names_epoch_and_step():
    X, y = linear_problem()
    y = y * 1e3
    trainer = Trainer(small_model(8), optimizer=optimizers.SGD(10.0))
    with pytest.raises(TrainingDiverged, match=r"at epoch \d+, step \d+ \(of 16\)") as err:
        trainer.fit(X, y, epochs=50, batch_size=32, verbose=0, seed=0)
    assert err.value.history is not None
    # the weights are those before the step whose loss was not finite: that step was not counted
    assert trainer.optimizer.iterations == 16 * err.value.epoch + err.value.step
    assert isinstance(err.value, FloatingPointError)


def test_ctrl_c_stops_after_the_current_step_and_keeps_history():
    X, y = linear_problem()
    steps_seen = []

    def interrupt(step, logs):
        steps_seen.append(step)
        if len(steps_seen) == 40:
            os.kill(os.getpid(), signal.SIGINT)

    trainer = Trainer(small_model(), optimizer=optimizers.Adam(0.01))
    handler_before = signal.getsignal(signal.SIGINT)  # SIG_IGN when started in the background
    hist = trainer.fit(
        X,
        y,
        epochs=10,
        batch_size=32,
        verbose=0,
        callbacks=[callbacks.LambdaCallback(on_train_batch_end=interrupt)],
    )
    assert hist.interrupted
    assert len(steps_seen) == 40  # stopped right after the step that saw Ctrl-C
    assert hist.epoch == [0, 1]  # the two completed epochs (16 steps each) are kept
    assert signal.getsignal(signal.SIGINT) is handler_before  # fit put the handler back


def test_early_stopping_restores_best_weights():
    X, y = linear_problem()
    model = small_model()
    best = {}

    def remember(epoch, logs):
        best.setdefault("loss", np.inf)
        if logs["val_loss"] < best["loss"]:
            best["loss"], best["weights"] = logs["val_loss"], model.get_weights()

    es = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    # a learning rate that oscillates makes validation loss go up
    hist = Trainer(model, optimizer=optimizers.SGD(0.9)).fit(
        X,
        y,
        epochs=40,
        batch_size=512,
        validation_data=(X[:100], y[:100]),
        verbose=0,
        callbacks=[callbacks.LambdaCallback(on_epoch_end=remember), es],
    )
    assert len(hist.epoch) < 40 and hist.stopped_epoch == hist.epoch[-1]
    for w, b in zip(model.get_weights(), best["weights"]):
        np.testing.assert_array_equal(w, b)


def test_checkpoint_csv_and_json_loggers(tmp_path):
    X, y = linear_problem()
    model = small_model()
    cbs = [
        callbacks.ModelCheckpoint(tmp_path / "ck" / "e{epoch:02d}.npz"),
        callbacks.ModelCheckpoint(tmp_path / "best", save_best_only=True, monitor="loss"),
        callbacks.CSVLogger(tmp_path / "h.csv"),
        callbacks.JSONLogger(tmp_path / "h.json"),
    ]
    hist = Trainer(model, optimizer=optimizers.Adam(0.05)).fit(
        X, y, epochs=3, batch_size=64, verbose=0, callbacks=cbs
    )
    assert sorted(os.listdir(tmp_path / "ck")) == ["e01.npz", "e02.npz", "e03.npz"]
    assert models.load_model(tmp_path / "best").count_params() == 4
    rows = (tmp_path / "h.csv").read_text().strip().splitlines()
    assert rows[0] == "epoch,loss" and len(rows) == 4
    assert float(rows[-1].split(",")[1]) == pytest.approx(hist.history["loss"][-1])
    logged = json.loads((tmp_path / "h.json").read_text())
    assert logged["history"]["loss"] == pytest.approx(hist.history["loss"])


def test_progress_lines_per_epoch(capsys):
    X, y = linear_problem(64)
    Trainer(small_model(), optimizer="adam").fit(X, y, epochs=2, batch_size=32, verbose=1)
    out = capsys.readouterr().out.splitlines()  # not a terminal: one line per epoch
    assert len(out) == 2 and out[0].startswith("Epoch 1/2 - ") and "loss: " in out[0]


def test_progress_bar_live_on_a_terminal():
    class Tty:
        def __init__(self):
            self.text = ""

        def isatty(self):
            return True

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    stream = Tty()
    bar = tg.train.ProgressBar(1, epochs=1, steps=4, stream=stream)
    bar.epoch_begin(0)
    for step in range(4):
        bar.step(step, {"loss": 1.0})
    bar.epoch_end(0, {"loss": 0.5}, 4)
    assert "Epoch 1/1" in stream.text and "ETA" in stream.text
    assert "4/4 [==============================]" in stream.text and "loss: 0.5000" in stream.text


def test_train_test_split_and_minibatches():
    X, y = np.arange(20).reshape(10, 2), np.arange(10)
    a_tr, a_te, b_tr, b_te = data.train_test_split(X, y, random_state=1)
    assert len(a_te) == 3 and len(a_tr) == 7
    np.testing.assert_array_equal(a_tr[:, 0] // 2, b_tr)
    assert sorted(np.concatenate([b_tr, b_te])) == list(range(10))
    # the same rows as scikit-learn's ShuffleSplit for an integer random_state
    perm = np.random.RandomState(1).permutation(10)
    np.testing.assert_array_equal(b_te, perm[:3])
    again = data.train_test_split(X, y, random_state=1)
    np.testing.assert_array_equal(again[3], b_te)
    with pytest.raises(ValueError, match="lengths"):
        data.train_test_split(X, y[:5])
    batches = list(data.minibatches(X, y, batch_size=4, shuffle=False))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert len(list(data.random_batches(X, y, batch_size=3))) == 3


def test_load_california_housing_from_files(tmp_path, housing_npz):
    ds = data.load_california_housing(housing_npz)
    assert ds.X.shape == (20640, 8) and ds.y.shape == (20640,)
    csv = tmp_path / "h.csv"
    np.savetxt(
        csv,
        np.column_stack([ds.X[:50], ds.y[:50]]),
        delimiter=",",
        header=",".join([*ds.feature_names, "MedHouseVal"]),
        comments="",
    )
    small = data.load_california_housing(csv)
    np.testing.assert_allclose(small.X, ds.X[:50])
    assert small.feature_names == ds.feature_names


def test_seed_architecture_on_real_data_adam(housing_npz):
    """Seed split and scaling, Dense(128, relu) -> Dense(1) (linear output, y[:, None]),
    Adam(1e-3), batch 32, 10 epochs: test MSE below 0.40 (var(y) is 1.33)."""
    ds = data.load_california_housing(housing_npz)
    X_train_all, X_test, y_train_all, y_test = data.train_test_split(ds.X, ds.y, random_state=1)
    X_train, X_val, y_train, y_val = data.train_test_split(X_train_all, y_train_all, random_state=1)
    scaler = data.StandardScaler().fit(X_train)
    tg.set_random_seed(0)
    model = models.Sequential([layers.Dense(128, "relu", input_shape=(8,)), layers.Dense(1)])
    trainer = Trainer(model, loss="mse", optimizer=optimizers.Adam(1e-3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # aligned shapes: no warning
        trainer.fit(
            scaler.transform(X_train),
            y_train[:, None],
            epochs=10,
            batch_size=32,
            validation_data=(scaler.transform(X_val), y_val[:, None]),
            verbose=0,
            seed=0,
        )
    test_mse = trainer.evaluate(scaler.transform(X_test), y_test[:, None])
    assert test_mse < 0.40


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "tapegrad", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_train_and_predict_end_to_end(tmp_path, housing_npz):
    out = tmp_path / "run"
    r = run_cli(
        "train",
        "--data",
        str(housing_npz),
        "--epochs",
        "2",
        "--out",
        str(out),
        "--verbose",
        "2",
        "--no-plot",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "Epoch 2/2" in r.stdout and "test MSE" in r.stdout
    for name in [
        "model/model.json",
        "model/weights.npz",
        "history.json",
        "history.csv",
        "metrics.json",
    ]:
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and metrics["test_mse"] < 1.0
    r = run_cli(
        "predict",
        "--model",
        str(out / "model"),
        "--data",
        str(housing_npz),
        "--output",
        str(tmp_path / "p.csv"),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    pred = np.loadtxt(tmp_path / "p.csv", skiprows=1)
    assert pred.shape == (20640,) and "MSE against y" in r.stdout


def test_cli_trains_on_the_shipped_data_by_default_and_synthetic_only_when_asked(tmp_path):
    common = ("--epochs", "1", "--verbose", "0", "--no-plot")
    r = run_cli("train", *common, "--out", str(tmp_path / "real"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "data: tapegrad (shipped california_housing.npz)" in r.stdout
    assert "synthetic" not in r.stdout + r.stderr
    r = run_cli("train", *common, "--synthetic", "--out", str(tmp_path / "syn"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "data: synthetic" in r.stdout and "--synthetic" in r.stdout
    r = run_cli("train", "--synthetic", "--data", "x.npz", cwd=tmp_path)
    assert r.returncode != 0 and "either --data or --synthetic" in r.stderr


def test_cli_divergence_exits_with_the_error(tmp_path, housing_npz):
    r = run_cli(
        "train",
        "--data",
        str(housing_npz),
        "--optimizer",
        "sgd",
        "--lr",
        "5",
        "--epochs",
        "3",
        "--out",
        str(tmp_path / "o"),
        "--verbose",
        "0",
        cwd=tmp_path,
    )
    assert r.returncode == 1
    assert "at epoch 1, step" in r.stderr and "TerminateOnNaN" in r.stderr


def test_plot_history_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from tapegrad.cli import plot_history

    hist = callbacks.History()
    hist.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.2})
    hist.on_epoch_end(1, {"loss": 0.5, "val_loss": 0.7})
    assert plot_history(hist, tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_soft_terminate_on_nan_callback_stops_without_error(capsys):
    X, y = linear_problem()
    trainer = Trainer(small_model(8), optimizer=optimizers.SGD(10.0))
    hist = trainer.fit(
        X,
        y * 1e3,
        epochs=50,
        batch_size=32,
        verbose=0,
        seed=0,
        terminate_on_nan=False,
        callbacks=[callbacks.TerminateOnNaN()],
    )
    assert len(hist.epoch) < 50
    assert not np.isfinite(hist.history["loss"][-1])
    assert "invalid loss" in capsys.readouterr().out


def test_validation_split_holds_out_the_last_fraction():
    X, y = linear_problem(100)
    hist = Trainer(small_model(), optimizer="adam").fit(
        X, y, epochs=1, batch_size=10, validation_split=0.2, verbose=0
    )
    assert hist.params["samples"] == 80 and "val_loss" in hist.history
    with pytest.raises(ValueError, match="validation_split"):
        Trainer(small_model()).fit(X, y, validation_split=1.5, verbose=0)


def test_ctrl_c_without_step_callbacks_stops_after_whole_steps():
    import threading

    X, y = linear_problem()
    trainer = Trainer(small_model(8), optimizer=optimizers.SGD(0.01))
    handler_before = signal.getsignal(signal.SIGINT)  # SIG_IGN when started in the background
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        hist = trainer.fit(X, y, epochs=20000, batch_size=32, verbose=0)
    finally:
        timer.cancel()
    assert hist.interrupted and 0 < len(hist.epoch) < 20000
    # whole steps only: every step of the completed epochs, and at most one epoch's more
    completed_steps = 16 * len(hist.epoch)
    assert completed_steps <= trainer.optimizer.iterations <= completed_steps + 16
    assert signal.getsignal(signal.SIGINT) is handler_before


@pytest.mark.parametrize("acts", [("relu", None), ("tanh", "sigmoid")])
def test_predict_and_evaluate_in_batches_match_the_model(acts):
    X, y = linear_problem(300)
    Y = np.stack([y, -y], axis=1)
    norm = layers.Normalization(input_shape=(3,))
    norm.adapt(X)
    model = models.Sequential([norm, layers.Dense(32, acts[0]), layers.Dense(2, acts[1])])
    whole = model(X).numpy()
    # 300 rows in batches of 64: the last batch is short
    np.testing.assert_allclose(
        tg.train.predict(model, X, batch_size=64), whole, rtol=1e-5, atol=1e-6
    )
    loss = Trainer(model, loss="mse").evaluate(X, Y, batch_size=64)
    assert loss == pytest.approx(np.mean((whole - Y) ** 2), rel=1e-5)


# ---- compiled steps: the Trainer's default ------------------------------------------------------

SCHEDULE = optimizers.schedules.ExponentialDecay(0.05, decay_steps=7, decay_rate=0.8)

OPTIMIZER_ROWS = {
    "sgd": lambda: optimizers.SGD(0.05),
    "sgd-momentum-nesterov": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: optimizers.Adam(0.01),
    "adamw": lambda: optimizers.AdamW(0.01, weight_decay=0.1),
    "rmsprop-centered": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: optimizers.Adagrad(0.1),
    "adam-clipnorm": lambda: optimizers.Adam(0.01, clipnorm=0.1),
    "sgd-global-clipnorm": lambda: optimizers.SGD(0.05, global_clipnorm=0.5),
    "sgd-builtin-schedule": lambda: optimizers.SGD(SCHEDULE),
    "sgd-python-schedule": lambda: optimizers.SGD(lambda step: 0.05 / (1.0 + 0.1 * step)),
}


def fit_both_ways(make_optimizer, *, dtype=np.float32, metrics=("mse", "mae"), **fit_kwargs):
    """Weights, history and iterations after the same fit, compiled and eager."""
    X, y = linear_problem(200)
    results = []
    for compiled in (True, False):
        model = small_model(16)
        if dtype == np.float64:
            model = models.Sequential(
                [
                    layers.Dense(16, "tanh", input_shape=(3,), dtype="float64"),
                    layers.Dense(1, dtype="float64"),
                ]
            )
        trainer = Trainer(
            model, loss="mse", optimizer=make_optimizer(), metrics=list(metrics), compiled=compiled
        )
        kwargs = {"epochs": 3, "batch_size": 32, "verbose": 0, "seed": 5, **fit_kwargs}
        hist = trainer.fit(X, y, **kwargs)
        results.append(([v.numpy() for v in model.variables], hist.history, trainer))
    return results


@pytest.mark.parametrize("name", sorted(OPTIMIZER_ROWS))
def test_compiled_and_eager_training_give_bitwise_equal_weights(name):
    (w_c, h_c, t_c), (w_e, h_e, t_e) = fit_both_ways(OPTIMIZER_ROWS[name])
    for a, b in zip(w_c, w_e):
        np.testing.assert_array_equal(a, b)
    assert h_c == h_e  # losses and metrics, every epoch
    assert t_c.optimizer.iterations == t_e.optimizer.iterations == 3 * 7


@pytest.mark.parametrize("sampling", ["epoch", "random"])
def test_compiled_training_matches_eager_across_samplings_and_dtypes(sampling):
    # a shuffled pass over 200 samples in batches of 32 ends in a short batch of 8: two programs
    for dtype in (np.float32, np.float64):
        (w_c, h_c, _), (w_e, h_e, _) = fit_both_ways(
            OPTIMIZER_ROWS["adam"], dtype=dtype, sampling=sampling
        )
        for a, b in zip(w_c, w_e):
            np.testing.assert_array_equal(a, b)
        assert h_c == h_e


def test_compiled_trainer_traces_once_per_batch_size_and_replays():
    X, y = linear_problem(200)
    trainer = Trainer(small_model(8), optimizer=optimizers.SGD(0.05), metrics=["mse"])
    steps = []
    real_step_function = trainer._step_function

    def counting_step_function(*args, **kwargs):
        runner = real_step_function(*args, **kwargs)
        steps.append(runner)
        return runner

    trainer._step_function = counting_step_function
    trainer.fit(X, y, epochs=4, batch_size=32, verbose=0, seed=1)
    (runner,) = steps
    assert runner.step.trace_count == 2  # batches of 32, and the last pass's batch of 8
    assert sorted(runner.programs) == [8, 32]
    program = runner.programs[32]
    names = program.op_names()
    assert "SGD.apply" in names and "check_finite" in names
    assert names.count("assign") == 2  # the MSE metric's total and count
    assert trainer.optimizer.iterations == 4 * 7


def test_compiled_divergence_stops_before_the_update_at_the_right_step():
    X, y = linear_problem()
    y = y * 1e3
    for compiled in (True, False):
        trainer = Trainer(small_model(8), optimizer=optimizers.SGD(10.0), compiled=compiled)
        with pytest.raises(TrainingDiverged, match=r"at epoch \d+, step \d+ \(of 16\)") as err:
            trainer.fit(X, y, epochs=50, batch_size=32, verbose=0, seed=0)
        assert trainer.optimizer.iterations == 16 * err.value.epoch + err.value.step
        if compiled:
            compiled_at = (err.value.epoch, err.value.step)
            compiled_weights = [v.numpy() for v in trainer.model.variables]
        else:
            assert (err.value.epoch, err.value.step) == compiled_at
            for a, b in zip(compiled_weights, [v.numpy() for v in trainer.model.variables]):
                np.testing.assert_array_equal(a, b)


def test_per_batch_callbacks_see_every_step_of_a_compiled_fit():
    X, y = linear_problem(200)
    seen = []
    cb = callbacks.LambdaCallback(on_train_batch_end=lambda step, logs: seen.append(logs["loss"]))
    trainer = Trainer(small_model(8), optimizer=optimizers.SGD(0.05))
    hist = trainer.fit(X, y, epochs=2, batch_size=32, verbose=0, seed=2, callbacks=[cb])
    assert len(seen) == 14
    # the running loss the callback saw last is the epoch's loss
    assert seen[-1] == pytest.approx(hist.history["loss"][-1], rel=1e-12)


def test_sequential_run_eagerly_trains_like_the_compiled_default():
    X, y = linear_problem(200)
    weights = []
    for run_eagerly in (False, True):
        model = small_model(8)
        model.compile(optimizer=optimizers.Adam(0.01), loss="mse", run_eagerly=run_eagerly)
        model.fit(X, y, epochs=2, batch_size=32, verbose=0, seed=3)
        assert model._get_trainer().compiled is (not run_eagerly)
        weights.append([v.numpy() for v in model.variables])
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_random_batch_indices_are_drawn_in_cpp_uniform_and_deterministic():
    a = tg._core.random_batch_indices(10, 2000, 32, 7)
    assert a.shape == (2000, 32) and a.dtype == np.int64
    np.testing.assert_array_equal(a, tg._core.random_batch_indices(10, 2000, 32, 7))
    assert not np.array_equal(a, tg._core.random_batch_indices(10, 2000, 32, 8))
    counts = np.bincount(a.ravel(), minlength=10)
    assert counts.min() > 0.9 * 6400 and counts.max() < 1.1 * 6400  # 64000 draws over 10 rows
    assert tg._core.random_batch_indices(1, 3, 2, 0).tolist() == [[0, 0]] * 3
    assert tg._core.random_batch_indices(5, 0, 4, 1).shape == (0, 4)
    with pytest.raises(ValueError, match="no samples"):
        tg._core.random_batch_indices(0, 3, 2, 0)


def test_a_model_that_reads_values_in_python_gets_a_hint_to_train_eagerly():
    class PeekingModel:
        """Branches on a tensor's value in Python: cannot be compiled."""

        def __init__(self):
            self.dense = layers.Dense(1, input_shape=(3,))
            self.trainable_variables = self.dense.trainable_variables
            self.stop_training = False

        def __call__(self, x, training=False):
            y = self.dense(x)
            return y * 2.0 if float(tg.reduce_sum(y)) > 0 else y

    X, y = linear_problem(64)
    with pytest.raises(TypeError, match=r"while tracing(.|\n)*compiled=False"):
        Trainer(PeekingModel(), optimizer=optimizers.SGD(0.01)).fit(X, y, verbose=0)
    hist = Trainer(PeekingModel(), optimizer=optimizers.SGD(0.01), compiled=False).fit(
        X, y, epochs=2, verbose=0
    )
    assert len(hist.history["loss"]) == 2


def test_early_stopping_state_survives_a_checkpoint_and_resume(tmp_path):
    """A run checkpointed after epoch 2 and resumed stops at the epoch an unbroken run stops at
    and restores the same best weights: EarlyStopping's counters and best weights are in the
    checkpoint (ModelCheckpoint's state_of, restore_callback_states)."""
    val_losses = [1.0, 0.5, 0.7, 0.8, 0.9, 0.6, 0.4]  # best at epoch 1; patience 3 stops at 4

    def run(model, es, epochs, checkpoint=None):
        es.set_model(model)
        cbs = [es] + ([checkpoint] if checkpoint else [])
        for cb in cbs:
            cb.set_model(model)
        es.on_train_begin()
        stopped = None
        for epoch in epochs:
            model.set_weights([np.full(w.shape, epoch, w.dtype) for w in model.get_weights()])
            for cb in cbs:
                cb.on_epoch_end(epoch, {"val_loss": val_losses[epoch]})
            if getattr(model, "stop_training", False):
                stopped = epoch
                break
        es.on_train_end()
        return stopped, [w.copy() for w in model.get_weights()]

    def fresh():
        return callbacks.EarlyStopping(patience=3, restore_best_weights=True)

    model = small_model()
    unbroken = run(model, fresh(), range(7))
    assert unbroken[0] == 4 and all(np.all(w == 1) for w in unbroken[1])

    model = small_model()
    first = fresh()
    saver = callbacks.ModelCheckpoint(tmp_path / "ckpt", state_of=[first])
    run(model, first, range(3), checkpoint=saver)
    resumed_model, epochs_done = callbacks.resume_from(tmp_path / "ckpt")
    assert epochs_done == 3
    second = fresh()
    assert callbacks.restore_callback_states(tmp_path / "ckpt", [second]) == 1
    resumed = run(resumed_model, second, range(3, 7))
    assert resumed[0] == unbroken[0]
    for a, b in zip(resumed[1], unbroken[1]):
        np.testing.assert_array_equal(a, b)
    # without the saved state the resumed run would count afresh from epoch 3 and stop later
    assert run(callbacks.resume_from(tmp_path / "ckpt")[0], fresh(), range(3, 7))[0] != 4
