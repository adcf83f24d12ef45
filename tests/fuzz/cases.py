"""Hypothesis strategies that write fuzz cases as Python source.

A case is a few lines of set-up plus steps, each step a statement or block run on its own: the
first that raises ends the case (tape and shapes cases go on: their steps use only names the
set-up made).
Because a case is source text, the
reproducer run.py prints for a crash is the case itself. Families:

ops         every row of tests/op_table.py, on the row's shapes or mutated ones (0-size,
            broadcast-incompatible), mutated keyword arguments, inputs of any dtype (int, bool,
            complex, float16, object, str arrays; Python scalars and lists) and layout
            (Fortran order, negative strides, steps, stride 0, misaligned, read-only), NaN/Inf,
            recorded on a tape and differentiated
index       ``x[key]`` with keys NumPy may or may not accept
tape        GradientTape misuse: gradient twice, inside the recording block, watch of
            non-tensors, nested tapes entered and exited out of order
api         tensor makers, casts, Variables, optimizers, tg.function, functional transforms
trainer     Sequential models, compile and fit/evaluate/predict arguments
shapes      overflowing shapes (2**62, 2**32 x 2**32, 2**64) through reshape, broadcast_to,
            zeros, constant(shape=), slicing with huge steps
model_dir   corrupted model folders through tg.models.load_model
threads     tg.set_num_threads counts followed by threaded kernels
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import op_table
from hypothesis import strategies as st

import tapegrad as tg

PRELUDE = "import numpy as np\nimport tapegrad as tg\n"


@dataclass(frozen=True)
class Case:
    family: str
    setup: str
    steps: tuple
    keep_going: bool = False  # run the steps after one that raised (each names only set-up names)

    def script(self) -> str:
        """The case as a standalone script that runs as the runner does: steps in order, up to
        the first that raises (with ``keep_going`` each step in a try block that prints it)."""
        lines = [PRELUDE, f"# fuzz family: {self.family}", self.setup]
        for step in self.steps:
            if self.keep_going:
                body = "\n".join("    " + line for line in step.splitlines())
                step = f"try:\n{body}\nexcept Exception as e:\n    print(repr(e)[:200])"
            lines.append(step)
        return "\n".join(lines) + "\n"


# ---- literals -----------------------------------------------------------------------------------


def lit(v) -> str:
    """Python source that evaluates to ``v`` (arrays, dtypes, slices, special floats)."""
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "fc":
            body = np.array2string(v.ravel(), separator=",", threshold=10**6, floatmode="unique")
            body = body.replace("nan", "np.nan").replace("inf", "np.inf")
        else:
            body = repr(v.ravel().tolist())
        return f"np.array({body}, dtype={v.dtype.name!r}).reshape({v.shape!r})"
    if isinstance(v, tg.DType):
        return f"tg.{v.name}"
    if isinstance(v, type):
        return f"np.{v.__name__}" if v.__module__ == "numpy" else v.__name__
    if isinstance(v, np.dtype):
        return f"np.dtype({v.name!r})"
    if isinstance(v, float) and not math.isfinite(v):
        return f"float({str(v)!r})"
    if isinstance(v, np.generic):
        return f"np.{type(v).__name__}({lit(v.item())})"
    if isinstance(v, slice):
        return f"slice({lit(v.start)}, {lit(v.stop)}, {lit(v.step)})"
    if isinstance(v, tuple):
        return "(" + "".join(lit(e) + ", " for e in v) + ")"
    if isinstance(v, list):
        return "[" + ", ".join(lit(e) for e in v) + "]"
    if v is Ellipsis:
        return "Ellipsis"
    return repr(v)


# ---- values -------------------------------------------------------------------------------------

HUGE_INTS = (2**31 - 1, 2**31, 2**32, 2**32 + 1, 2**62, 2**63 - 1, 2**63, 2**64, -(2**63), -(2**31))
SPECIAL = (float("nan"), float("inf"), float("-inf"), -0.0, 3.4e38, -3.4e38, 1e-45, 1e308)
NUMERIC_DTYPES = ("float32", "float64", "float16", "int32", "int64", "int8", "uint8", "bool")
ODD_DTYPES = ("complex64", "complex128", "object", "str")

small_int = st.integers(-4, 6)
weird_int = st.one_of(small_int, st.sampled_from(HUGE_INTS))
weird_scalar = st.one_of(
    weird_int,
    st.sampled_from((0.5, -2.5, *SPECIAL)),
    st.sampled_from((True, False, 1 + 2j, "2", b"x", None, (), [], [1, [2]])),
)
small_shape = st.lists(st.sampled_from((0, 1, 2, 3, 5)), min_size=0, max_size=4).map(tuple)


@st.composite
def array_code(draw, name: str, shape: tuple, dtype: str = "float32") -> str:
    """Source building a NumPy array ``name`` of ``shape``: random values, maybe NaN/Inf/-0 and
    extremes, then a dtype (usually ``dtype``) and a memory layout."""
    seed = draw(st.integers(0, 2**16))
    lines = [f"{name} = np.asarray(np.random.default_rng({seed}).standard_normal({shape!r}) * 2.0)"]
    size = math.prod(shape)
    if size and draw(st.integers(0, 4)) == 0:
        at = draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=3))
        vals = [draw(st.sampled_from(SPECIAL)) for _ in at]
        lines.append(f"{name}.flat[{at!r}] = {lit(vals)}")
    kind = draw(
        st.sampled_from((dtype,) * 12 + NUMERIC_DTYPES + ODD_DTYPES)
        if draw(st.integers(0, 3)) == 0
        else st.just(dtype)
    )
    if kind in ("int32", "int64", "int8", "uint8"):
        lines.append(f"{name} = np.nan_to_num({name} * 3).astype(np.{kind})")
    elif kind == "bool":
        lines.append(f"{name} = {name} > 0")
    elif kind.startswith("complex"):
        lines.append(f"{name} = ({name} + 0.5j * {name}).astype(np.{kind})")
    elif kind in ("object", "str"):
        lines.append(f"{name} = {name}.astype({kind})")
    elif kind != "float64":
        lines.append(f"{name} = {name}.astype(np.{kind})")
    layout = draw(
        st.sampled_from(("c",) * 6 + ("f", "T", "neg", "step", "zero_stride", "misaligned", "ro"))
    )
    if layout == "f":
        lines.append(f"{name} = np.asfortranarray({name})")
    elif layout == "T":
        lines.append(f"{name} = np.ascontiguousarray({name}.T).T")
    elif layout == "neg" and shape:
        lines.append(f"{name} = np.flip(np.flip({name}).copy())")
    elif layout == "step" and shape:
        lines.append(f"{name} = np.repeat({name}, 2, axis=-1)[..., ::2]")
    elif layout == "zero_stride" and shape and shape[-1]:
        lines.append(f"{name} = np.broadcast_to({name}[..., :1], {name}.shape)")
    elif layout == "misaligned" and kind not in ("object", "str"):
        lines.append(
            f"_buf = np.zeros({name}.nbytes + 1, np.uint8)[1:].view({name}.dtype)"
            f".reshape({name}.shape)\n_buf[...] = {name}\n{name} = _buf"
        )
    elif layout == "ro":
        lines.append(f"{name}.flags.writeable = False")
    return "\n".join(lines)


@st.composite
def tensor_code(draw, name: str, shape: tuple, dtype: str = "float32") -> str:
    """Source binding ``name`` to an input of ``shape``: a Tensor, Variable, NumPy array, list or
    (rarely) an unrelated Python value."""
    how = draw(
        st.sampled_from(
            ("constant",) * 6 + ("variable", "variable", "numpy", "list", "cast", "other")
        )
    )
    if how == "other":
        return f"{name} = {lit(draw(weird_scalar))}"
    arr = draw(array_code(f"_{name}", shape, dtype))
    if how == "constant":
        return f"{arr}\n{name} = tg.constant(_{name})"
    if how == "cast":
        to = draw(st.sampled_from(("tg.float64", "tg.float32", "'float16'", "np.int32", "'x'")))
        return f"{arr}\n{name} = tg.constant(_{name}, dtype={to})"
    if how == "variable":
        return f"{arr}\n{name} = tg.Variable(_{name})"
    if how == "list":
        return f"{arr}\n{name} = _{name}.tolist()"
    return f"{arr}\n{name} = _{name}"


# ---- ops ----------------------------------------------------------------------------------------

TG_NAMES = set(tg.__all__)
ROWS = op_table.ALL_ROWS


def _op_call(row, args: list, kwargs: dict) -> str:
    """The public call a row's ``fn`` makes, as source."""
    name = row.name
    kw = "".join(f", {k}={lit(v)}" for k, v in kwargs.items())
    if row.op is None:  # Python operators: the row's name is the expression
        if name == "x[key]":
            return f"x0[{lit(kwargs.get('key'))}]"
        expr = re.sub(r"\by\b", "x1", re.sub(r"\bx\b", "x0", name))
        return expr.replace("pow(", "tg.pow(").replace("ndarray", lit(kwargs.get("c")))
    if name in ("concat", "stack"):
        return f"tg.{name}([{', '.join(args)}]{kw})"
    if name == "where":
        rest = ", ".join(args[:2])
        return f"tg.where({lit(kwargs.get('cond'))}, {rest})"
    if name == "dense":
        bias = args[2] if len(args) > 2 else "None"
        return f"tg._core.ops.dense({args[0]}, {args[1]}, {bias}, {lit(kwargs.get('activation'))})"
    prefix = "tg." if name in TG_NAMES else "tg._core.ops."
    return f"{prefix}{name}({', '.join(args)}{kw})"


def _mutate_kwarg(draw, key, value):
    if isinstance(value, bool):
        return draw(st.one_of(st.booleans(), weird_scalar))
    if isinstance(value, int):
        return draw(weird_int)
    if isinstance(value, (list, tuple)) and all(isinstance(e, int) for e in value):
        n = draw(st.integers(max(0, len(value) - 1), len(value) + 1))
        return type(value)(draw(st.lists(weird_int, min_size=n, max_size=n)))
    if isinstance(value, np.ndarray):
        shape = draw(small_shape)
        dtype = draw(st.sampled_from(("bool", "int64", "float64", "int32")))
        return (np.random.default_rng(0).standard_normal(shape) * 3).astype(dtype)
    return draw(weird_scalar)


def _mutate_shape(draw, shape):
    roll = draw(st.integers(0, 5))
    if roll == 0:
        return draw(small_shape)
    if roll == 1 and shape:
        i = draw(st.integers(0, len(shape) - 1))
        return (*shape[:i], draw(st.sampled_from((0, 1, 2, 7))), *shape[i + 1 :])
    return shape


@st.composite
def op_cases(draw) -> Case:
    row = draw(st.sampled_from(ROWS))
    base = draw(st.sampled_from(row.cases))
    mutate = draw(st.integers(0, 2)) == 0
    shapes = [_mutate_shape(draw, s) if mutate else s for s in base.shapes]
    kwargs = dict(base.kwargs)
    for k in list(kwargs):
        if draw(st.integers(0, 6)) == 0:
            kwargs[k] = _mutate_kwarg(draw, k, kwargs[k])
    dtype = draw(st.sampled_from(("float32", "float64")))
    args = [f"x{i}" for i in range(len(shapes))]
    inputs = [draw(tensor_code(a, s, dtype)) for a, s in zip(args, shapes)]
    if row.op is None and inputs:
        # A Python operator on plain Python values never reaches tapegrad (3 / 0, (2**63)**(2**63)):
        # an operator row's first operand is always a tensor.
        inputs[0] = draw(array_code("_x0", shapes[0], dtype)) + "\nx0 = tg.constant(_x0)"
    setup = "\n".join(inputs)
    call = _op_call(row, args, kwargs)
    steps = [f"y = {call}"]
    if draw(st.booleans()):  # recorded and differentiated, twice (persistent), with output grads
        watch = "".join(f"    tape.watch({a})\n" for a in args)
        steps = [
            f"with tg.GradientTape(persistent=True) as tape:\n{watch}    y = {call}",
            f"g = tape.gradient(y, [{', '.join(args)}])",
            f"g = tape.gradient(y, {args[0] if args else 'y'}, output_gradients=y)",
        ]
        if draw(st.booleans()):
            steps.append("with tg.GradientTape() as t2:\n    t2.watch(y)\n    z = y * y")
            steps.append("g2 = t2.gradient(z, y)")
    steps.append("out = np.asarray(y)")
    return Case("ops", setup, tuple(steps))


# ---- indexing -----------------------------------------------------------------------------------

index_atom = st.one_of(
    small_int,
    st.sampled_from(HUGE_INTS),
    st.builds(
        slice,
        st.one_of(st.none(), small_int, st.sampled_from(HUGE_INTS)),
        st.one_of(st.none(), small_int, st.sampled_from(HUGE_INTS)),
        st.one_of(st.none(), small_int, st.sampled_from((0, 2**62, 2**63 - 1, -(2**63)))),
    ),
    st.sampled_from((None, Ellipsis, 1.5, "a", True, False)),
    st.lists(small_int, max_size=4),
    st.lists(st.booleans(), max_size=6).map(np.array),
    st.lists(small_int, min_size=1, max_size=4).map(lambda v: np.array(v, dtype=np.int64)),
    st.lists(st.lists(small_int, min_size=2, max_size=2), min_size=1, max_size=2).map(np.array),
)


@st.composite
def index_cases(draw) -> Case:
    shape = draw(small_shape)
    key = draw(st.one_of(index_atom, st.lists(index_atom, max_size=5).map(tuple)))
    setup = draw(tensor_code("x0", shape, draw(st.sampled_from(("float32", "float64")))))
    steps = (
        f"y = x0[{lit(key)}]",
        "out = np.asarray(y)",
        f"x = tg.Variable(np.ones({shape!r}))\nwith tg.GradientTape() as tape:\n"
        f"    y = tg.reduce_sum(x[{lit(key)}])",
        "g = tape.gradient(y, x)",
    )
    return Case("index", setup, steps)


# ---- tape misuse ------------------------------------------------------------------------------

WATCHABLE = (
    "x",
    "c",
    "1.0",
    "'s'",
    "None",
    "[x, c]",
    "(x, 'a')",
    "{'a': x}",
    "np.ones(3)",
    "tg.constant(np.arange(3))",
    "object()",
    "tape0",
    "[[x], [c, None]]",
)
TARGETS = ("y", "[y, y]", "c", "x", "None", "'y'", "{'a': y}", "[y, None]", "y0", "1.0")
SOURCES = ("x", "[x, c]", "c", "None", "'x'", "[]", "(x,)", "{'k': x}", "[x, 3]", "y")
TAPE_ACTIONS = (
    "tape{k}.__enter__()",
    "tape{k}.__exit__(None, None, None)",
    "tape{k}.watch({watch})",
    "y = tg.reduce_sum(tg.tanh(x * c))",
    "y = x * 2.0",
    "g = tape{k}.gradient({target}, {source})",
    "g = tape{k}.gradient(y, x, output_gradients={ograd})",
    "g = tape{k}.gradient(y, x, unconnected_gradients={uncon})",
    "g = tape{k}.jacobian({target}, {source})",
    "g = tape{k}.batch_jacobian(y, x)",
    "tape{k}.reset()",
    "_s = tape{k}.stop_recording()\n_s.__enter__()",
    "v = tape{k}.watched_variables()",
    "tape{k} = tg.GradientTape(persistent={persistent}, watch_accessed_variables={persistent})",
    "with tape{k}:\n    y = tg.reduce_sum(x * x)\n    g = tape{k}.gradient(y, x)",
    "with tape{k}:\n    with tape{k}:\n        y = x * x",
    "x.assign({ograd})",
    "del y\ny = y0",
)
OGRADS = ("None", "1.0", "np.ones((2, 3))", "np.ones((5,))", "'g'", "[1.0]", "tg.constant(2)")


@st.composite
def tape_cases(draw) -> Case:
    setup = (
        "x = tg.Variable(np.linspace(-1.0, 1.0, 6).reshape(2, 3))\n"
        "c = tg.constant(np.full((2, 3), 0.5))\n"
        "y0 = y = tg.reduce_sum(x * c)\n"
        "tape0 = tg.GradientTape(persistent=False)\n"
        "tape1 = tg.GradientTape(persistent=True)"
    )
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        template = draw(st.sampled_from(TAPE_ACTIONS))
        steps.append(
            template.format(
                k=draw(st.integers(0, 1)),
                watch=draw(st.sampled_from(WATCHABLE)),
                target=draw(st.sampled_from(TARGETS)),
                source=draw(st.sampled_from(SOURCES)),
                ograd=draw(st.sampled_from(OGRADS)),
                uncon=draw(st.sampled_from(("'zero'", "'none'", "'ZERO'", "3", "None"))),
                persistent=draw(st.sampled_from(("True", "False", "None", "'yes'", "2"))),
            )
        )
    steps.append("tape0.__exit__(None, None, None)\ntape1.__exit__(None, None, None)")
    steps.append("with tg.GradientTape() as t:\n    z = tg.reduce_sum(x * x)\ng = t.gradient(z, x)")
    return Case("tape", setup, tuple(steps), keep_going=True)


# ---- tensor makers, variables, optimizers, compiled functions -----------------------------------

DTYPE_ARGS = (
    "None",
    "tg.float32",
    "tg.float64",
    "'float64'",
    "np.float16",
    "np.int64",
    "'int32'",
    "bool",
    "complex",
    "'nonsense'",
    "3",
    "object",
)
API_CALLS = (
    "r = tg.constant({v}, dtype={dt})",
    "r = tg.constant({v}, shape={shape})",
    "r = tg.convert_to_tensor({v}, dtype={dt})",
    "r = tg.zeros({shape}, dtype={dt})",
    "r = tg.ones({shape})",
    "r = tg.zeros_like({v})",
    "r = tg.cast(x, {dt})",
    "r = tg.Variable({v})",
    "r = tg.Variable({v}, dtype={dt})",
    "x.assign({v})",
    "x.assign_add({v})",
    "x.assign_sub({v})",
    "r = float(tg.constant({v}))",
    "r = int(tg.constant({v}))",
    "r = len(tg.constant({v}))",
    "r = bool(tg.constant({v}))",
    "r = tg.constant({v}).numpy()",
    "r = np.asarray(tg.constant({v}))",
    "r = repr(tg.constant({v}))",
    "r = tg.constant({v}) == x",
    "opt = tg.optimizers.{opt}({lr})\nopt.apply_gradients([({v}, x)])",
    "opt = tg.optimizers.{opt}({lr})\nopt.apply_gradients(zip([{v}], [x]))",
    "opt = tg.optimizers.get({optname})",
    "f = tg.function(lambda a: a * 2.0)\nr = f({v})\nr = f(tg.constant({v}))",
    "r = tg.grad(lambda a: tg.reduce_sum(a * a))({v})",
    "r = tg.hessian(lambda a: tg.reduce_sum(a * a * a), {v})",
    "r = tg.jvp(lambda a: a * a, ({v},), ({v},))",
    "r = tg.hvp(lambda a: tg.reduce_sum(a * a * a), {v}, {v})",
    "r = tg.value_and_grad(lambda a: a)({v})",
    "r = tg.reduce_sum({v}, axis={axis})",
    "r = tg.gather(x, {v}, axis={axis})",
    "r = tg.activations.get({optname})",
    "r = tg.losses.mean_squared_error({v}, {v})",
    "r = tg.metrics.MeanSquaredError()({v}, x)",
    "r = tg.initializers.get({optname})",
)
OPTIMIZERS = ("SGD", "Adam", "RMSprop")
LRS = ("0.1", "-1.0", "float('nan')", "'fast'", "None", "0", "1e308")
NAMES = ("'adam'", "'relu'", "'mse'", "'nope'", "None", "3", "''", "'glorot_uniform'")


@st.composite
def api_cases(draw) -> Case:
    setup_lines = ["x = tg.Variable(np.linspace(-1.0, 1.0, 6).reshape(2, 3).astype(np.float32))"]
    steps = []
    for i in range(draw(st.integers(1, 4))):
        shape = draw(st.sampled_from(((2, 3), (3,), (), (0,), (1, 3), (4, 5))))
        setup_lines.append(draw(tensor_code(f"v{i}", shape)))
        template = draw(st.sampled_from(API_CALLS))
        steps.append(
            template.format(
                v=f"v{i}",
                dt=draw(st.sampled_from(DTYPE_ARGS)),
                shape=lit(draw(st.one_of(small_shape, st.lists(small_int, max_size=3)))),
                opt=draw(st.sampled_from(OPTIMIZERS)),
                lr=draw(st.sampled_from(LRS)),
                optname=draw(st.sampled_from(NAMES)),
                axis=lit(draw(st.one_of(st.none(), small_int, st.lists(small_int, max_size=3)))),
            )
        )
    return Case("api", "\n".join(setup_lines), tuple(steps))


# ---- Trainer arguments --------------------------------------------------------------------------

FIT_ARGS = {
    "epochs": ("1", "2", "0", "-1", "2.5", "'2'", "None", "True"),
    "batch_size": ("1", "4", "7", "1000", "0", "-3", "2.5", "None", "'8'", "2**63"),
    "validation_split": ("0.0", "0.25", "1.0", "-0.5", "0.999", "'x'", "float('nan')"),
    "steps_per_epoch": ("None", "1", "0", "-1", "1.5"),
    "sampling": ("'epoch'", "'random'", "'x'", "None"),
    "shuffle": ("True", "False", "'yes'"),
    "initial_epoch": ("0", "1", "-1", "5", "1.5"),
    "seed": ("None", "0", "-1", "2**70", "'s'"),
}
LAYER_CODE = (
    "tg.layers.Dense({units}, activation={act})",
    "tg.layers.Dense({units}, activation={act}, input_shape={ishape})",
    "tg.layers.Normalization(axis={axis})",
)


@st.composite
def trainer_cases(draw) -> Case:
    n = draw(st.sampled_from((0, 1, 5, 16)))
    features = draw(st.sampled_from((1, 3)))
    x_shape = draw(st.sampled_from(((n, features), (n,), (n, features, 2), (n + 1, features))))
    y_shape = draw(st.sampled_from(((n,), (n, 1), (n, 2), (n - 1 if n else 2,), ())))
    x_as = draw(st.sampled_from(("X", "X.tolist()", "tg.constant(X)")))
    setup = "\n".join(
        [draw(array_code("X", x_shape)), draw(array_code("Y", y_shape)), f"X = {x_as}"]
    )
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        layers.append(
            draw(st.sampled_from(LAYER_CODE)).format(
                units=draw(st.sampled_from(("1", "2", "0", "-1", "2.5", "'3'"))),
                act=draw(st.sampled_from(("None", "'relu'", "'tanh'", "'nope'", "3"))),
                ishape=draw(st.sampled_from((f"({features},)", "(None,)", "(0,)", "(-1,)", "3"))),
                axis=draw(st.sampled_from(("-1", "1", "None", "(1, 2)", "5"))),
            )
        )
    fit = ", ".join(
        f"{k}={draw(st.sampled_from(v))}" for k, v in FIT_ARGS.items() if draw(st.booleans())
    )
    steps = (
        f"model = tg.models.Sequential([{', '.join(layers)}])",
        "model.layers[0].adapt(X) if hasattr(model.layers[0], 'adapt') else None",
        f"model.compile(optimizer={draw(st.sampled_from(NAMES))}, "
        f"loss={draw(st.sampled_from(('mse', 'mae', 'nope', None)))!r}, "
        f"run_eagerly={draw(st.booleans())})",
        f"h = model.fit(X, Y, verbose=0{', ' + fit if fit else ''})",
        f"r = model.evaluate(X, Y, batch_size={draw(st.sampled_from(FIT_ARGS['batch_size']))})",
        f"p = model.predict(X, batch_size={draw(st.sampled_from(FIT_ARGS['batch_size']))})",
        "s = []\nmodel.summary(print_fn=s.append)",
    )
    return Case("trainer", setup, steps)


# ---- overflowing shapes -------------------------------------------------------------------------

BIG = (2**31, 2**32, 2**32 + 1, 2**32 - 1, 2**62, 2**63 - 1, 2**63, 2**64, -(2**63), -(2**62))


# Products that wrap to exactly 0 or -1 in 64 bits: the sizes that look harmless after the wrap.
WRAPPING = (
    (2**62, 4),
    (2**32, 2**32),
    (2**63, 2),
    (2**32 + 1, 2**32 - 1),
    (2**61, 8),
    (2**33, 2**31),
)


@st.composite
def huge_shape(draw) -> tuple:
    """A shape whose element count overflows 64 bits, wraps, or names an impossible size."""
    dims = draw(st.lists(st.sampled_from((1, 3, 4, 0, -1)), max_size=2))
    if draw(st.booleans()):  # leading: the outer loops of a strided copy run over them
        return (*draw(st.sampled_from(WRAPPING)), *dims)
    dims += draw(st.lists(st.sampled_from(BIG), min_size=1, max_size=3))
    return tuple(draw(st.permutations(dims)))


SHAPE_CALLS = (
    "r = tg.zeros({shape})",
    "r = tg.ones({shape}, dtype=tg.float64)",
    "r = tg.constant(1.0, shape={shape})",
    "r = tg.reshape(x, {shape})",
    "r = tg.reshape(z, {shape})",
    "r = tg.broadcast_to(x, {shape})",
    "r = tg.broadcast_to(s, {shape3})",
    "r = tg.transpose(tg.broadcast_to(s, {shape3}))",
    "r = tg.reduce_sum(tg.broadcast_to(s, {shape3}), axis=-1)",
    "r = tg.concat([tg.broadcast_to(s, {shape3})] * 2, 0)",
    "r = tg.reshape(tg.broadcast_to(s, {shape3}), (-1,))",
    "r = x[::{big}]",
    "r = x[{big}:]",
    "r = x[:, ::-{big}]",
    "r = tg._core.ops.strided_slice(x, begin=[0, 0], step=[{big}, 1], count=[2, 3])",
    "r = tg._core.ops.slice_grad(x, shape={shape}, begin=[0] * {rank}, step=[1] * {rank})",
    "r = tg._core.ops.scatter_add(x, indices=[0], axis=0, axis_len={big})",
    "r = tg.gather(x, [{big}])",
    "r = tg.models.Sequential([tg.layers.Dense(2, input_shape=({big},))])",
    "r = tg.layers.Dense({big})\nr.build((None, 3))",
    "r = tg.reduce_sum(x, axis={big})",
    "r = tg.concat([x, x], axis={big})",
    "r = tg.stack([x, x], axis={big})",
    "r = tg.gather(x, [0], axis={big})",
    "r = tg.constant(np.ones(3), shape={shape})",
)


@st.composite
def shape_cases(draw) -> Case:
    setup = (
        "x = tg.constant(np.ones((4, 3), np.float32))\n"
        "z = tg.zeros((0,))\n"
        "s = tg.constant(np.ones(3, np.float32))"
    )
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        shape = draw(huge_shape())
        call = draw(st.sampled_from(SHAPE_CALLS))
        steps.append(
            call.format(
                shape=lit(shape),
                shape3=lit((*shape, 3)),  # broadcasts from s's (3,) when no dim is negative
                big=draw(st.sampled_from(BIG)),
                rank=len(shape),
            )
            + "\nout = r.shape"
        )
    return Case("shapes", setup, tuple(steps), keep_going=True)


# ---- corrupted model folders --------------------------------------------------------------------

JSON_EDITS = (
    "text = text[:{cut}]",
    "text = text.replace('\"input_shape\": [\\n    null,\\n    3\\n  ]', "
    "'\"input_shape\": [null, {jdim}]')",
    "text = text.replace('\"units\": 4', '\"units\": {jdim}')",
    "text = text.replace('Dense', '{word}')",
    "text = text.replace('\"layers\"', '\"{word}\"')",
    "text = '{word}'",
    "text = text.replace('relu', '{word}')",
    'text = text.replace(\'"config": {{\', \'"config": {{"bogus": 1, \')',
)
WEIGHT_EDITS = (
    "(d / 'weights.npz').write_bytes((d / 'weights.npz').read_bytes()[:{cut}])",
    "(d / 'weights.npz').unlink()",
    "np.savez(d / 'weights.npz', **{{'0000': np.ones(({pdim}, 4))}})",
    "np.savez(d / 'weights.npz', **{{'0000': np.ones((3, 4)), '0001': np.ones(4), "
    "'0002': np.ones(7)}})",
    "np.savez(d / 'weights.npz', **{{'0000': np.array(['a'] * 12).reshape(3, 4), "
    "'0001': np.ones(4)}})",
    "(d / 'weights.npz').write_bytes(b'PK\\x03\\x04' + bytes(range(256)) * 2)",
    "(d / 'model.json').write_bytes(b'\\xff\\xfe{{' + (d / 'model.json').read_bytes())",
)


@st.composite
def model_dir_cases(draw) -> Case:
    setup = (
        "import pathlib, tempfile\n"
        "d = pathlib.Path(tempfile.mkdtemp(prefix='tapegrad-fuzz-'))\n"
        "m = tg.models.Sequential([tg.layers.Dense(4, 'relu', input_shape=(3,)), "
        "tg.layers.Dense(1)])\n"
        "m.save(d)\n"
        "text = (d / 'model.json').read_text()"
    )
    fill = {
        "cut": draw(st.integers(0, 400)),
        "jdim": draw(  # JSON
            st.sampled_from(("-3", "0", str(2**40), "1.5", '\\"a\\"', "null", "[2]", str(2**70)))
        ),
        "pdim": draw(st.sampled_from(("-3", "0", "1", "5", "2"))),  # NumPy: a real array
        "word": draw(st.sampled_from(("Conv2D", "", "{", "[]", "null", "\\u00e9", "1e999"))),
    }
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            edit = draw(st.sampled_from(JSON_EDITS)).format(**fill)
            steps.append(f"{edit}\n(d / 'model.json').write_text(text)")
        else:
            steps.append(draw(st.sampled_from(WEIGHT_EDITS)).format(**fill))
    steps += [
        "m2 = tg.models.load_model(d)",
        "p = m2.predict(np.ones((2, 3), np.float32))",
        "import shutil\nshutil.rmtree(d, ignore_errors=True)",
    ]
    return Case("model_dir", setup, tuple(steps))


# ---- thread counts ------------------------------------------------------------------------------

THREAD_COUNTS = ("1", "2", "3", "0", "-1", "2**31 - 1", "2**31", "2**63", "2**64", "2.0", "'2'")


@st.composite
def thread_cases(draw) -> Case:
    setup = (
        "_n0 = tg.num_threads()\n"
        "a = tg.constant(np.ones((300, 300), np.float32))\nv = tg.constant(np.ones(300_001))"
    )
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        steps.append(f"tg.set_num_threads({draw(st.sampled_from(THREAD_COUNTS))})")
        steps.append(
            "n = tg.num_threads()\n"
            "assert 1 <= n <= 4096, f'set_num_threads left {n} threads'\n"
            + draw(st.sampled_from(("r = tg.matmul(a, a)", "r = tg.reduce_sum(tg.tanh(v))")))
        )
    steps.append("tg.set_num_threads(_n0)")
    return Case("threads", setup, tuple(steps))


# Cases that break the property on purpose, one of each kind: test_fuzz.py checks that the runner
# reports them (not a family of the campaign).
SELFTEST_STEPS = (
    "r = tg.reduce_sum(tg.constant([1.0, 2.0]))",  # holds
    "r = {}['missing']",  # an unexpected exception type
    "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)",  # a crash
    "import time\ntime.sleep(3600)",  # a hang
)
selftest_cases = st.sampled_from(SELFTEST_STEPS).map(lambda step: Case("_selftest", "", (step,)))

FAMILIES = {
    "ops": op_cases(),
    "index": index_cases(),
    "tape": tape_cases(),
    "api": api_cases(),
    "trainer": trainer_cases(),
    "shapes": shape_cases(),
    "model_dir": model_dir_cases(),
    "threads": thread_cases(),
    "_selftest": selftest_cases,
}
