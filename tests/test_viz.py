"""Tapes and programs as pictures (tg.utils.tape_to_dot, plot_tape, `tapegrad demo --plot`).
Only the real render test needs Graphviz; everything else checks the DOT text."""

from __future__ import annotations

import builtins
import re
import shutil

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import utils
from tapegrad.cli import main

NODE = re.compile(r"^  (\w+) \[label=\"((?:[^\"\\]|\\.)*)\", (.*)\];$")
EDGE = re.compile(r"^  (\w+) -> (\w+);$")


def parse(dot: str):
    """(nodes {id: (label, attributes)}, edges [(a, b)]) of tape_to_dot's output, checking that
    it is one well-formed digraph whose edges join declared nodes."""
    assert dot.count("{") == dot.count("}") == 1
    lines = dot.strip().splitlines()
    assert lines[0].startswith("digraph ") and lines[0].endswith("{")
    assert lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if m := NODE.match(line):
            assert m.group(1) not in nodes, f"node {m.group(1)} declared twice"
            nodes[m.group(1)] = (m.group(2).replace("\\n", "\n"), m.group(3))
        elif m := EDGE.match(line):
            edges.append((m.group(1), m.group(2)))
        else:
            assert re.match(r"^  (rankdir=\w+|node \[.*\]|edge \[.*\]);$", line), line
    for a, b in edges:
        assert a in nodes and b in nodes, f"edge {a} -> {b} joins an undeclared node"
    assert len(set(edges)) == len(edges), "duplicate edge"
    return nodes, edges


def labels(nodes) -> list:
    return sorted(label for label, _ in nodes.values())


@pytest.fixture
def z_tape():
    x1, x2 = tg.Variable(2.0, name="x1"), tg.Variable(3.0, name="x2")
    with tg.GradientTape(persistent=True) as tape:
        z = x1**2 + x2**3
    return tape, z


def test_seed_tape_has_two_variables_three_ops_four_edges(z_tape):
    tape, _ = z_tape
    nodes, edges = parse(utils.tape_to_dot(tape))
    assert labels(nodes) == [
        "add\n() float32",
        "pow_scalar\n() float32",
        "pow_scalar\n() float32",
        "x1\n() float32",
        "x2\n() float32",
    ]
    assert len(edges) == 4
    by_label = {label: node for node, (label, _) in nodes.items()}
    assert "shape=box" in nodes[by_label["x1\n() float32"]][1]
    assert "shape=ellipse" in nodes[by_label["add\n() float32"]][1]
    add = by_label["add\n() float32"]
    assert sum(b == add for _, b in edges) == 2
    assert sum(a == by_label["x1\n() float32"] for a, _ in edges) == 1


def test_tape_graph_is_plain_data(z_tape):
    tape, z = z_tape
    graph = tape._graph()
    assert graph["persistent"] is True
    assert [n["op"] for n in graph["nodes"]] == ["pow_scalar", "pow_scalar", "add"]
    assert graph["nodes"][-1]["output"] == z.id
    assert graph["nodes"][-1]["shape"] == () and graph["nodes"][-1]["dtype"] == "float32"
    assert [(r["name"], r["trainable"]) for r in graph["variable_reads"]] == [
        ("x1", True),
        ("x2", True),
    ]
    assert graph["watched"] == []


def test_watched_tensors_constants_and_fixed_variables_are_distinguished():
    c = tg.constant([1.0, 2.0])
    frozen = tg.Variable(5.0, trainable=False, name="frozen")
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(c)
        tape.watch(frozen)
        y = 3.0 * c * frozen
    assert tape._graph()["watched"] == [c.id]
    nodes, edges = parse(utils.tape_to_dot(tape, targets=y))
    styles = {label.split("\n")[0]: attrs for label, attrs in nodes.values()}
    assert "#d9ead3" in styles["watched"]  # green rounded box
    assert "dashed" in styles["frozen"]  # not trainable
    assert "plaintext" in styles["constant"]
    assert "peripheries=2" in styles["multiply"]  # the target
    assert len(nodes) == 5 and len(edges) == 4


def test_unused_watched_tensors_and_variables_are_drawn_without_targets():
    used, unused = tg.constant(1.0), tg.constant([1.0, 2.0])
    idle = tg.Variable(0.0, name="idle")
    with tg.GradientTape(persistent=True) as tape:
        tape.watch([used, unused, idle])
        tg.exp(used)
    nodes, edges = parse(utils.tape_to_dot(tape))
    assert labels(nodes) == [
        "exp\n() float32",
        "idle\n() float32",
        "watched",
        "watched\n() float32",
    ]
    assert len(edges) == 1


def test_one_box_per_variable_and_one_edge_per_distinct_input():
    x = tg.Variable(2.0, name="x")
    with tg.GradientTape(persistent=True) as tape:
        y = x * x
        x.assign_add(1.0)
        y = y + x  # a second read (a new value) of the same variable
    nodes, edges = parse(utils.tape_to_dot(tape, targets=y))
    assert labels(nodes) == ["add\n() float32", "multiply\n() float32", "x\n() float32"]
    assert len(edges) == 3


def test_program_dot_shows_arguments_variables_constants_updates_and_outputs():
    w = tg.Variable(np.ones((3, 1), np.float32), name="w")
    opt = tg.optimizers.SGD(0.1)

    @tg.function
    def step(x, y):
        with tg.GradientTape() as tape:
            loss = tg.reduce_mean((x @ w - y) ** 2)
        opt.apply_gradients([(tape.gradient(loss, w), w)])
        return loss

    x, y = tg.constant(np.ones((4, 3), np.float32)), tg.constant(np.ones((4, 1), np.float32))
    program = step.get_program(x, y)
    graph = program._graph()
    assert [a["slot"] for a in graph["arguments"]] == [0, 1]
    assert graph["instructions"][0]["kind"] == "read_variable"
    assert graph["instructions"][-1]["kind"] == "effect"
    for dot in (utils.tape_to_dot(program), utils.tape_to_dot(step, args=(x, y))):
        nodes, edges = parse(dot)
        assert dot.startswith('digraph "step" {')
        first_lines = sorted(label.split("\n")[0] for label in labels(nodes))
        assert first_lines.count("w") == 1
        assert "argument 0" in first_lines and "argument 1" in first_lines
        update = [n for n, (label, attrs) in nodes.items() if "hexagon" in attrs]
        assert len(update) == 1 and sum(b == update[0] for _, b in edges) >= 1
        outputs = [label for label, attrs in nodes.values() if "peripheries=2" in attrs]
        assert outputs == ["multiply\n() float32"]  # the mean's 1/N scaling
    assert utils.tape_to_dot(step) == utils.tape_to_dot(program)  # its only program


def test_chain_of_300_ops_collapses_to_one_node():
    x = tg.constant(0.5)
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        h = x
        for _ in range(300):
            h = tg.tanh(h)
    nodes, edges = parse(utils.tape_to_dot(tape))
    assert labels(nodes) == ["300 ops: tanh ... tanh\n() float32", "watched\n() float32"]
    assert len(edges) == 1
    full_nodes, full_edges = parse(utils.tape_to_dot(tape, max_chain=None))
    assert len(full_nodes) == 301 and len(full_edges) == 300


def test_chain_rule_keeps_short_runs_branches_and_folds_constants():
    x = tg.constant(np.ones(4, np.float32))
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        a = tg.exp(x)
        h = a
        for _ in range(10):
            h = h * 0.5 + 1.0  # constants inside the chain are not drawn
        out = h + a  # `a` has two consumers: it ends its run
        short = tg.sqrt(tg.exp(out))
    nodes, edges = parse(utils.tape_to_dot(tape, max_chain=3))
    assert labels(nodes) == [
        "20 ops: multiply ... add\n(4,) float32",
        "add\n(4,) float32",
        "exp\n(4,) float32",
        "exp\n(4,) float32",
        "sqrt\n(4,) float32",
        "watched\n(4,) float32",
    ]
    assert len(edges) == 6
    assert short is not None
    with pytest.raises(ValueError, match="max_chain"):
        utils.tape_to_dot(tape, max_chain=0)


def test_targets_prune_to_what_they_depend_on():
    x1, x2 = tg.Variable(2.0, name="x1"), tg.Variable(3.0, name="x2")
    with tg.GradientTape(persistent=True) as tape:
        a = x1**2
        b = tg.exp(x2)
        c = a * b
    nodes, edges = parse(utils.tape_to_dot(tape, targets=a))
    assert labels(nodes) == ["pow_scalar\n() float32", "x1\n() float32"]
    assert len(edges) == 1
    nodes, edges = parse(utils.tape_to_dot(tape, targets=[a, b]))
    assert len(nodes) == 4 and len(edges) == 2
    nodes, _ = parse(utils.tape_to_dot(tape, targets=c))
    assert len(nodes) == 5
    with pytest.raises(ValueError, match="not recorded"):
        utils.tape_to_dot(tape, targets=tg.constant(1.0))
    with pytest.raises(TypeError, match="tensors"):
        utils.tape_to_dot(tape, targets=x1)


def test_unusable_inputs_raise_clear_errors():
    x = tg.Variable(1.0)
    with tg.GradientTape() as tape:
        y = x * 2.0
    tape.gradient(y, x)
    with pytest.raises(ValueError, match="persistent=True"):
        utils.tape_to_dot(tape)
    with pytest.raises(TypeError, match="GradientTape"):
        utils.tape_to_dot(42)

    f = tg.function(lambda t: t + 1.0)
    f(tg.constant(1.0))
    f(tg.constant([1.0, 2.0]))
    with pytest.raises(ValueError, match="args="):
        utils.tape_to_dot(f)
    with pytest.raises(TypeError, match="targets apply to tapes"):
        utils.tape_to_dot(f, targets=y, args=(tg.constant(1.0),))


def test_labels_are_escaped():
    x = tg.Variable(1.0, name='say "hi" \\ there')
    with tg.GradientTape(persistent=True) as tape:
        tg.exp(x)
    nodes, _ = parse(utils.tape_to_dot(tape))
    assert 'say \\"hi\\" \\\\ there\n() float32' in labels(nodes)


def hide_graphviz_package(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("No module named 'graphviz'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_plot_tape_without_the_graphviz_package_says_how_to_install_it(
    monkeypatch, tmp_path, z_tape
):
    hide_graphviz_package(monkeypatch)
    with pytest.raises(ImportError, match=re.escape('pip install "tapegrad[viz]"')):
        utils.plot_tape(z_tape[0], tmp_path / "z.png")
    assert "tapegrad[viz]" in utils.renderer_missing()


def test_plot_tape_without_dot_says_how_to_install_it(monkeypatch, tmp_path, z_tape):
    pytest.importorskip("graphviz")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match=r"apt-get install graphviz.*brew install graphviz"):
        utils.plot_tape(z_tape[0], tmp_path / "z.png")
    assert "dot" in utils.renderer_missing()


def test_demo_plot_without_graphviz_says_why_and_runs_the_cells(monkeypatch, tmp_path, capsys):
    hide_graphviz_package(monkeypatch)
    assert main(["demo", "--plot", str(tmp_path / "pictures")]) == 0
    out = capsys.readouterr().out
    assert "--plot: no tape pictures" in out and "tapegrad[viz]" in out
    assert "5.4 the same with keras.optimizers.SGD" in out
    assert not (tmp_path / "pictures").exists()


needs_graphviz = pytest.mark.skipif(
    utils.renderer_missing() is not None, reason=f"{utils.renderer_missing()}"
)


@needs_graphviz
def test_plot_tape_renders_png_and_svg(tmp_path, z_tape):
    png = utils.plot_tape(z_tape[0], tmp_path / "z")
    assert png.name == "z.png" and png.read_bytes().startswith(b"\x89PNG")
    svg = utils.plot_tape(z_tape[0], tmp_path / "z.svg", targets=z_tape[1])
    assert "<svg" in svg.read_text()


@needs_graphviz
def test_demo_plot_writes_one_picture_per_derivative_cell(tmp_path, capsys):
    assert main(["demo", "--plot", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cell_5.2.1.png",
        "cell_5.2.2.png",
        "cell_5.2.3.png",
        "cell_5.3.png",
        "cell_5.4.png",
    ]
    assert capsys.readouterr().out.count("tape drawn to") == 5
