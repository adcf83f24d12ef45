"""Tapes and compiled programs as pictures: ``tape_to_dot`` writes Graphviz DOT text (no
dependency), ``plot_tape`` renders it to a file (needs the ``graphviz`` package and Graphviz's
``dot`` program: ``pip install "tapegrad[viz]"`` plus ``apt-get install graphviz`` or
``brew install graphviz``).

What a picture shows:

- one node per recorded op (ellipse): its name, output shape and dtype; for a program also the
  instructions that write variables (``assign*``, an optimizer's update) and ``check_finite``
  (hexagons);
- Variables as blue boxes with their names (grey and dashed when not trainable), one box per
  variable however often it was read; tensors watched with ``tape.watch`` as green rounded boxes;
  a program's arguments as gold rounded boxes; constants (numbers, NumPy arrays, seeds) as small
  grey text;
- one edge per distinct input -> op; targets and a program's outputs have a double border.

Long chains are collapsed so a graph of a few hundred ops stays readable. Two ops are linked
when the second one's only non-constant input is the first one's output, that output has no
other consumer and is not a target or an output. A run of linked ops longer than ``max_chain``
is drawn as one 3-D box labelled with the number of ops and the first and last op names, with
the last op's shape and dtype; the constants read inside such a chain are not drawn.

The data comes from the C++ engine as plain Python data (``GradientTape._graph()`` in
cpp/bindings/tape.cpp, ``Program._graph()`` in cpp/bindings/function.cpp).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ._core import GradientTape, Program, Tensor
from .compiled import Function

VIZ_INSTALL_HINT = 'pip install "tapegrad[viz]"'
DOT_INSTALL_HINT = "apt-get install graphviz (Debian/Ubuntu) or brew install graphviz (macOS)"


@dataclass
class _Op:
    """One recorded op or program instruction; values are named by string keys."""

    name: str
    inputs: list  # value keys, in input order
    output: Optional[str]  # value key (None for an assign, an effect or check_finite)
    label: str  # the lines under the name: shape and dtype, or the variable written
    kind: str = "op"  # "op", or "sink" for instructions that only have side effects


@dataclass
class _Leaf:
    """A value no op made: a variable, a watched tensor, an argument or a constant."""

    node: str  # the DOT node id (several values may share one: the reads of one variable)
    kind: str  # "variable", "fixed_variable", "watched", "argument", "constant"
    label: str


@dataclass
class _Graph:
    name: str
    ops: list = field(default_factory=list)  # _Op, in recording / replay order
    leaves: dict = field(default_factory=dict)  # value key -> _Leaf
    marked: set = field(default_factory=set)  # value keys drawn with a double border
    always_drawn: list = field(default_factory=list)  # leaf value keys drawn even when unused


def _type_text(shape, dtype) -> str:
    return f"{tuple(shape)} {dtype}"


# ---- reading a tape or a program -------------------------------------------------------------


def _tape_graph(tape: GradientTape) -> _Graph:
    data = tape._graph()
    if not data["nodes"]:
        raise ValueError(
            "tape_to_dot: the tape holds no recorded ops (a non-persistent tape drops them at "
            "its gradient call: draw it before, or use GradientTape(persistent=True))"
        )
    graph = _Graph("tape")
    for read in data["variable_reads"]:
        kind = "variable" if read["trainable"] else "fixed_variable"
        label = f"{read['name']}\n{_type_text(read['shape'], read['dtype'])}"
        key = f"t{read['id']}"
        graph.leaves[key] = _Leaf(f"var{read['variable']}", kind, label)
        graph.always_drawn.append(key)
    input_types = {}  # tensor id -> "shape dtype", as the ops that read it saw it
    for node in data["nodes"]:
        for tensor_id, shape, dtype in zip(
            node["inputs"], node["input_shapes"], node["input_dtypes"]
        ):
            input_types.setdefault(tensor_id, _type_text(shape, dtype))
    for tensor_id in data["watched"]:  # an unused watched tensor is drawn without its type
        key = f"t{tensor_id}"
        label = f"watched\n{input_types[tensor_id]}" if tensor_id in input_types else "watched"
        graph.leaves[key] = _Leaf(f"watched{tensor_id}", "watched", label)
        graph.always_drawn.append(key)
    made = set()
    for node in data["nodes"]:
        inputs = [f"t{tensor_id}" for tensor_id in node["inputs"]]
        for tensor_id, key in zip(node["inputs"], inputs):
            if key not in graph.leaves and key not in made:  # a number, an array, a seed
                label = f"constant\n{input_types[tensor_id]}"
                graph.leaves[key] = _Leaf(f"const{tensor_id}", "constant", label)
        output = f"t{node['output']}"
        made.add(output)
        label = _type_text(node["shape"], node["dtype"])
        graph.ops.append(_Op(node["op"], inputs, output, label))
    return graph


def _program_graph(program: Program) -> _Graph:
    data = program._graph()
    graph = _Graph(data["name"])
    for arg in data["arguments"]:
        key = f"s{arg['slot']}"
        label = f"argument {arg['slot']}\n{_type_text(arg['shape'], arg['dtype'])}"
        graph.leaves[key] = _Leaf(f"arg{arg['slot']}", "argument", label)
        graph.always_drawn.append(key)
    for const in data["constants"]:
        key = f"s{const['slot']}"
        label = f"constant\n{_type_text(const['shape'], const['dtype'])}"
        graph.leaves[key] = _Leaf(f"const{const['slot']}", "constant", label)
    for ins in data["instructions"]:
        inputs = [f"s{slot}" for slot in ins["inputs"]]
        output = None if ins["output"] is None else f"s{ins['output']}"
        if ins["kind"] == "read_variable":
            kind = "variable" if ins["trainable"] else "fixed_variable"
            label = f"{ins['variable']}\n{_type_text(ins['shape'], ins['dtype'])}"
            graph.leaves[output] = _Leaf(f"var{ins['variable_id']}", kind, label)
        elif ins["kind"] == "op":
            label = _type_text(ins["shape"], ins["dtype"])
            graph.ops.append(_Op(ins["name"], inputs, output, label))
        else:  # assign, an optimizer's update, check_finite: side effects only
            label = ins["variable"] or ""
            graph.ops.append(_Op(ins["name"], inputs, None, label, kind="sink"))
    graph.marked.update(f"s{slot}" for slot in data["outputs"])
    return graph


def _graph_of(tape_or_program, args: tuple, kwargs: Optional[dict]) -> _Graph:
    if isinstance(tape_or_program, GradientTape):
        if args or kwargs:
            raise TypeError("tape_to_dot: args/kwargs are example arguments for a tg.function")
        return _tape_graph(tape_or_program)
    if isinstance(tape_or_program, Function):
        return _program_graph(_program_of(tape_or_program, args, kwargs))
    if isinstance(tape_or_program, Program):
        return _program_graph(tape_or_program)
    raise TypeError(
        "tape_to_dot: expected a GradientTape, a tg.function or its program, got "
        f"{type(tape_or_program).__name__}"
    )


def _program_of(f: Function, args: tuple, kwargs: Optional[dict]) -> Program:
    if args or kwargs:
        return f.get_program(*args, **(kwargs or {}))
    programs = [program for program, _ in f._programs.values()]
    if len(programs) != 1:
        raise ValueError(
            f"tape_to_dot: tg.function '{f.name}' has {len(programs)} traced programs; pass "
            "example arguments as args=(...) to pick one"
        )
    return programs[0]


# ---- pruning to targets and collapsing chains ------------------------------------------------


def _target_keys(targets) -> list:
    items = targets if isinstance(targets, (list, tuple)) else [targets]
    keys = []
    for t in items:
        if type(t) is not Tensor:
            raise TypeError(f"tape_to_dot: targets must be tensors, got {type(t).__name__}")
        keys.append(f"t{t.id}")
    return keys


def _prune(graph: _Graph, target_keys: list) -> None:
    """Keeps only the ops and leaves the targets depend on."""
    producer = {op.output: i for i, op in enumerate(graph.ops)}
    for key in target_keys:
        if key not in producer and key not in graph.leaves:
            raise ValueError("tape_to_dot: a target was not recorded on this tape")
    needed, keep = set(target_keys), set()
    for i in range(len(graph.ops) - 1, -1, -1):  # recording order is topological
        if graph.ops[i].output in needed:
            keep.add(i)
            needed.update(graph.ops[i].inputs)
    graph.ops = [op for i, op in enumerate(graph.ops) if i in keep]
    graph.always_drawn = [key for key in graph.always_drawn if key in needed]
    graph.marked.update(target_keys)


def _chains(graph: _Graph, max_chain: Optional[int]) -> list:
    """Runs of linked ops (see the module docstring), as lists of op indices in order; every op
    is in exactly one run."""
    consumers: dict = {}
    for i, op in enumerate(graph.ops):
        for key in set(op.inputs):
            consumers.setdefault(key, []).append(i)
    producer = {op.output: i for i, op in enumerate(graph.ops) if op.output is not None}
    previous: dict = {}
    if max_chain is not None:
        for i, op in enumerate(graph.ops):
            dynamic = {k for k in op.inputs if graph.leaves.get(k, _NOT_LEAF).kind != "constant"}
            if op.kind != "op" or len(dynamic) != 1:
                continue
            (key,) = dynamic
            j = producer.get(key)
            if j is not None and consumers[key] == [i] and key not in graph.marked:
                previous[i] = j
    following = {j: i for i, j in previous.items()}
    runs = []
    for i in range(len(graph.ops)):
        if i in previous:
            continue
        run = [i]
        while run[-1] in following:
            run.append(following[run[-1]])
        runs.append(run)
    return runs


_NOT_LEAF = _Leaf("", "", "")


# ---- DOT text ----------------------------------------------------------------------------------

_LEAF_STYLE = {
    "variable": 'shape=box, style=filled, fillcolor="#cfe2f3"',
    "fixed_variable": 'shape=box, style="filled,dashed", fillcolor="#eeeeee"',
    "watched": 'shape=box, style="rounded,filled", fillcolor="#d9ead3"',
    "argument": 'shape=box, style="rounded,filled", fillcolor="#ffe599"',
    "constant": "shape=plaintext, fontsize=8, fontcolor=gray40",
}
_OP_STYLE = {"op": "shape=ellipse", "sink": 'shape=hexagon, style=filled, fillcolor="#f4cccc"'}
_CHAIN_STYLE = 'shape=box3d, style=filled, fillcolor="#f3f3f3"'


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _run_nodes(graph: _Graph, run: list, max_chain: Optional[int]) -> list:
    """The DOT nodes of a run of linked ops: (node id, label, style, the ops it stands for);
    one node per op, or one for the whole run when it is longer than max_chain."""
    ops = [graph.ops[i] for i in run]
    if len(run) > 1 and len(run) > max_chain:
        label = f"{len(run)} ops: {ops[0].name} ... {ops[-1].name}\n{ops[-1].label}"
        return [(f"chain{run[0]}", label, _CHAIN_STYLE, ops)]
    nodes = []
    for i, op in zip(run, ops):
        label = f"{op.name}\n{op.label}" if op.label else op.name
        nodes.append((f"op{i}", label, _OP_STYLE[op.kind], [op]))
    return nodes


def tape_to_dot(
    tape_or_program,
    targets=None,
    *,
    max_chain: Optional[int] = 3,
    args: tuple = (),
    kwargs: Optional[dict] = None,
    rankdir: str = "LR",
) -> str:
    """Graphviz DOT text of what a tape recorded or what a compiled program runs.

    ``tape_or_program``: a ``GradientTape`` still holding its ops (a persistent tape, or one
    whose gradient was not called yet), a ``tg.function`` (the program traced for ``args`` /
    ``kwargs``, or its only program) or a program from ``f.get_program(...)``.
    ``targets``: a tensor or list of tensors recorded on the tape; only the ops they depend on
    are drawn. ``max_chain``: runs of more than this many linked ops become one node (the rule
    is in this module's docstring); ``None`` draws every op.
    """
    if max_chain is not None and max_chain < 1:
        raise ValueError(f"tape_to_dot: max_chain must be at least 1 or None, got {max_chain}")
    graph = _graph_of(tape_or_program, args, kwargs)
    if targets is not None:
        if not isinstance(tape_or_program, GradientTape):
            raise TypeError(
                "tape_to_dot: targets apply to tapes (a program holds only what its outputs and "
                "side effects need)"
            )
        _prune(graph, _target_keys(targets))

    lines = [
        f"digraph {_quote(graph.name)} {{",
        f"  rankdir={rankdir};",
        '  node [fontname="Helvetica", fontsize=10];',
        "  edge [arrowsize=0.6];",
    ]
    value_node: dict = {}  # value key -> DOT node id of what made it
    collapsed_readers: dict = {}  # value key -> chain nodes reading it
    individually_read: set = set()  # value keys an op drawn on its own reads
    op_lines, edges = [], []

    for run in _chains(graph, max_chain):
        for node, label, style, covered in _run_nodes(graph, run, max_chain):
            if covered[-1].output is not None:
                value_node[covered[-1].output] = node
            if covered[-1].output in graph.marked:
                style += ", peripheries=2"
            op_lines.append(f"  {node} [label={_quote(label)}, {style}];")
            if len(covered) == 1:
                for key in dict.fromkeys(covered[0].inputs):  # distinct, in input order
                    individually_read.add(key)
                    edges.append((key, node))
            else:
                outside = {k for op in covered for k in op.inputs} - {op.output for op in covered}
                for key in sorted(outside):
                    collapsed_readers.setdefault(key, []).append(node)

    leaf_nodes: dict = {}  # DOT node id -> _Leaf, in order of first use
    for key in graph.always_drawn:
        leaf_nodes.setdefault(graph.leaves[key].node, graph.leaves[key])
    for key, _ in edges:
        if key in graph.leaves:
            leaf_nodes.setdefault(graph.leaves[key].node, graph.leaves[key])
    for key, readers in collapsed_readers.items():
        leaf = graph.leaves.get(key)
        if leaf is not None and leaf.kind == "constant" and key not in individually_read:
            continue  # a constant read only inside collapsed chains is folded into them
        edges.extend((key, node) for node in readers)
        if leaf is not None:
            leaf_nodes.setdefault(leaf.node, leaf)
    marked_leaves = {graph.leaves[k].node for k in graph.marked if k in graph.leaves}

    for node, leaf in leaf_nodes.items():
        style = _LEAF_STYLE[leaf.kind] + (", peripheries=2" if node in marked_leaves else "")
        lines.append(f"  {node} [label={_quote(leaf.label)}, {style}];")
    lines.extend(op_lines)
    seen = set()
    for key, node in edges:
        source = graph.leaves[key].node if key in graph.leaves else value_node[key]
        if (source, node) not in seen:
            seen.add((source, node))
            lines.append(f"  {source} -> {node};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---- rendering ---------------------------------------------------------------------------------


def renderer_missing() -> Optional[str]:
    """Why ``plot_tape`` cannot render here (the missing piece and how to install it), or
    ``None`` when the ``graphviz`` package and the ``dot`` program are both present."""
    try:
        import graphviz  # noqa: F401
    except ImportError:
        return f"the graphviz Python package is not installed ({VIZ_INSTALL_HINT})"
    if shutil.which("dot") is None:
        return f"Graphviz's `dot` program is not on PATH ({DOT_INSTALL_HINT})"
    return None


def plot_tape(
    tape_or_program,
    path: str | Path = "tape.png",
    targets=None,
    *,
    max_chain: Optional[int] = 3,
    args: tuple = (),
    kwargs: Optional[dict] = None,
) -> Path:
    """Renders ``tape_to_dot(...)`` to ``path`` (the format from its suffix: .png, .svg, .pdf;
    PNG when it has none) and returns the path. ImportError when the ``graphviz`` package is
    missing, RuntimeError when Graphviz's ``dot`` program is, each saying how to install it."""
    try:
        import graphviz
    except ImportError as err:
        raise ImportError(
            f"plot_tape needs the graphviz Python package: {VIZ_INSTALL_HINT}"
        ) from err
    if shutil.which("dot") is None:
        raise RuntimeError(f"plot_tape needs Graphviz's `dot` program on PATH: {DOT_INSTALL_HINT}")
    dot = tape_to_dot(tape_or_program, targets, max_chain=max_chain, args=args, kwargs=kwargs)
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    path.write_bytes(graphviz.Source(dot).pipe(format=path.suffix[1:]))
    return path


__all__ = ["plot_tape", "renderer_missing", "tape_to_dot"]
