"""The progress bar (python/tapegrad/progbar.py): a replaceable callback that redraws in place on
a terminal and in a Jupyter notebook (detected as Keras does) and prints a line per epoch
elsewhere."""

from __future__ import annotations

import io
import sys
import types

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.progbar import ProgressBar, in_notebook


class Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def fake_ipython(monkeypatch, shell_class_name: str):
    shell_class = type(shell_class_name, (), {})
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell_class()
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))


def test_notebook_detection(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert not in_notebook()
    fake_ipython(monkeypatch, "TerminalInteractiveShell")
    assert not in_notebook()  # IPython in a terminal is not a notebook
    fake_ipython(monkeypatch, "ZMQInteractiveShell")
    assert in_notebook()
    monkeypatch.setattr(sys.modules["IPython"], "get_ipython", lambda: None)
    assert not in_notebook()


def _draw(bar):
    bar.epoch_begin(0)
    for step in range(4):
        bar._last_draw = 0.0  # draw every step
        bar.step(step, {"loss": 10.0 ** (2 - step)})
    bar.epoch_end(0, {"loss": 0.5}, 4)


def test_a_notebook_bar_redraws_in_place_without_escape_codes(monkeypatch):
    fake_ipython(monkeypatch, "ZMQInteractiveShell")
    stream = Stream(tty=False)  # ipykernel's stdout is not a TTY
    bar = ProgressBar(1, epochs=1, steps=4, stream=stream)
    assert bar.live
    _draw(bar)
    text = stream.getvalue()
    assert "\033" not in text
    assert text.count("\r") == 5 and text.startswith("Epoch 1/1\n")
    draws = text.split("\r")[1:]
    # Each redraw covers the one before it: shorter text is padded with spaces.
    for before, after in zip(draws, draws[1:]):
        assert len(after.rstrip("\n")) >= len(before)
    assert draws[-1].endswith("\n") and "4/4 [==============================]" in draws[-1]


def test_a_terminal_bar_erases_with_ansi_and_a_pipe_gets_lines(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    tty = Stream(tty=True)
    _draw(ProgressBar(1, epochs=1, steps=4, stream=tty))
    assert "\r" in tty.getvalue() and "\033[K" in tty.getvalue()
    pipe = Stream(tty=False)
    bar = ProgressBar(1, epochs=1, steps=4, stream=pipe)
    assert not bar.live
    _draw(bar)
    assert pipe.getvalue().startswith("Epoch 1/1 - ") and "\r" not in pipe.getvalue()


def test_verbose_must_be_0_1_or_2():
    with pytest.raises(ValueError, match="verbose must be 0, 1 or 2, got 3"):
        ProgressBar(3)


class Recorder(ProgressBar):
    def __init__(self):
        super().__init__(verbose=2, stream=Stream(tty=False))
        self.calls = []

    def epoch_begin(self, epoch):
        super().epoch_begin(epoch)
        self.calls.append(("begin", epoch))

    def epoch_end(self, epoch, logs, steps_done):
        self.calls.append(("end", epoch, steps_done, sorted(logs)))


def _model():
    tg.set_random_seed(0)
    model = tg.models.Sequential([tg.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_a_bar_among_the_callbacks_replaces_the_default(capsys):
    x = np.random.default_rng(0).normal(size=(20, 2))
    y = x.sum(axis=1, keepdims=True)
    bar = Recorder()
    _model().fit(x, y, epochs=2, batch_size=5, verbose=2, callbacks=[bar])
    assert capsys.readouterr().out == ""  # the default verbose=2 lines are not printed
    assert bar.epochs == 2 and bar.steps == 4  # from fit, through set_params
    assert bar.calls == [
        ("begin", 0),
        ("end", 0, 4, ["loss"]),
        ("begin", 1),
        ("end", 1, 4, ["loss"]),
    ]


def test_two_bars_are_refused():
    x, y = np.zeros((4, 2)), np.zeros((4, 1))
    with pytest.raises(ValueError, match="callbacks hold 2 progress bars"):
        _model().fit(x, y, callbacks=[Recorder(), Recorder()], verbose=0)


def test_the_default_bar_follows_verbose(capsys):
    x, y = np.zeros((8, 2)), np.zeros((8, 1))
    _model().fit(x, y, epochs=2, batch_size=4, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/2", "Epoch 2/2"]
    _model().fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert capsys.readouterr().out == ""
