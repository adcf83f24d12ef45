"""One declarative row per op in ``tapegrad._core.ops`` (JAX's LAX_GRAD_OPS, PyTorch's OpInfo).

A row names the op it covers, the callable under test, a NumPy reference, its cases (input shapes
plus keyword arguments passed to both), the input domain, the maximum derivative order, flags and
tolerances. ``OP_ROWS`` covers ``_core.ops`` (the coverage test in test_ops.py checks that every op
has a row and every row an op); ``PY_ROWS`` covers the Python operators and indexing, which reach
the same ops through ``Tensor.__add__`` and friends. Rows are data: test_ops.py drives them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

import tapegrad as tg

ops = tg._core.ops

Shape = tuple
Domain = Callable[[np.random.Generator, Sequence[Shape]], list]


# ---- input domains ------------------------------------------------------------------------------


def _sampler(lo: float, hi: float, signed: bool = False):
    def sample(rng, shape):
        x = rng.uniform(lo, hi, size=shape)
        return x * rng.choice([-1.0, 1.0], size=shape) if signed else x

    return sample


normal = _sampler(-2.0, 2.0)
positive = _sampler(0.5, 2.0)  # log, sqrt, pow's base: away from 0 and its singularities
nonzero = _sampler(0.3, 2.0, True)  # divisors, relu/abs kinks: at least 0.3 away from 0


def per_input(*samplers) -> Domain:
    """Input i drawn by samplers[i] (the last sampler repeats)."""

    def domain(rng, shapes):
        return [samplers[min(i, len(samplers) - 1)](rng, s) for i, s in enumerate(shapes)]

    return domain


def distinct(rng, shapes) -> list:
    """Values in [-2, 2] all distinct across every input (spacing >= 4/n): no ties for
    maximum/minimum/reduce_max, even under broadcasting."""
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    pool = rng.permutation(np.linspace(-2.0, 2.0, max(sum(sizes), 1)))
    out, at = [], 0
    for s, n in zip(shapes, sizes):
        out.append(pool[at : at + n].reshape(s))
        at += n
    return out


# ---- rows ---------------------------------------------------------------------------------------


def _fmt_shape(s) -> str:
    return "(" + ",".join(str(d) for d in s) + ("," if len(s) == 1 else "") + ")"


def _fmt_value(v) -> str:
    if isinstance(v, np.ndarray):
        return f"{v.dtype.kind}{_fmt_shape(v.shape)}"
    if isinstance(v, tg.DType):
        return f"tg.{v.name}"
    if isinstance(v, type):
        return v.__name__
    if isinstance(v, np.dtype):
        return f"dtype({v})"
    if isinstance(v, slice):
        parts = ["" if p is None else str(p) for p in (v.start, v.stop, v.step)]
        return ":".join(parts if v.step is not None else parts[:2])
    if isinstance(v, tuple):
        return "[" + ",".join(_fmt_value(e) for e in v) + "]"
    if v is Ellipsis:
        return "..."
    return repr(v).replace(" ", "")


@dataclass(frozen=True)
class Case:
    shapes: tuple  # shapes of the differentiable inputs, in order
    kwargs: Mapping = field(default_factory=dict)  # passed to both fn and ref
    name: str = ""  # id suffix; derived from shapes and kwargs when empty
    domain: Optional[Domain] = None  # overrides the row's domain
    xfail: Mapping = field(default_factory=dict)  # {"forward"|"float32"|"order1"|"order2": reason}

    @property
    def id(self) -> str:
        if self.name:
            return self.name
        s = "x".join(_fmt_shape(sh) for sh in self.shapes)
        kw = ",".join(f"{k}={_fmt_value(v)}" for k, v in self.kwargs.items())
        return s + (f"[{kw}]" if kw else "")


@dataclass(frozen=True)
class OpRow:
    name: str  # row id (the op's name for OP_ROWS)
    op: Optional[str]  # the `_core.ops` name it covers (None: Python operator rows)
    fn: Callable  # fn(*tensors, **case.kwargs) -> Tensor
    ref: Callable  # ref(*float64 arrays, **case.kwargs) -> array
    cases: tuple
    domain: Domain = per_input(normal)
    max_order: int = 2
    piecewise_linear: bool = False  # second derivative is 0 a.e.: None accepted as zeros
    linear: bool = False  # Hessian exactly 0: None accepted as zeros
    no_grad: bool = False  # the op blocks gradients: first-order gradient must be None
    out_dtype: Optional[str] = None  # output dtype when not the input's
    first: tuple = (1e-6, 1e-5, 1e-6)  # eps, rtol, atol of the first-order check
    second: tuple = (1e-5, 1e-5, 1e-6)  # eps, rtol, atol of the second-order check
    fwd_tol: tuple = (1e-10, 1e-12)  # rtol, atol of float64 forward vs NumPy
    f32_tol: tuple = (1e-5, 1e-6)  # rtol, atol of float32 forward vs NumPy (on rounded inputs)
    float32: bool = True  # run the float32 forward check
    note: str = ""  # why a tolerance or domain differs from the defaults

    @property
    def none_is_zero(self) -> bool:
        return self.piecewise_linear or self.linear


def C(*shapes, name: str = "", domain=None, xfail=None, **kwargs) -> Case:
    return Case(tuple(tuple(s) for s in shapes), kwargs, name, domain, xfail or {})


# Shapes every elementwise row covers.
UNARY_CASES = (
    C(()),
    C((1,)),
    C((0,)),
    C((2, 0)),
    C((5,)),
    C((3, 4)),
    C((2, 3, 4)),
    C((40, 50), name="large(40,50)"),
)
BINARY_CASES = (
    C((3, 4), (3, 4)),
    C((3, 1), (1, 4)),
    C((2, 3), (3,)),
    C((3,), (2, 3)),
    C((), (2, 2)),
    C((2, 2), ()),
    C((), ()),
    C((1,), (1,)),
    C((1, 1), (3,)),
    C((0,), (0,)),
    C((0,), ()),
    C((2, 0), (1, 0)),
    C((2, 1, 3), (4, 1)),
    C((30, 40), (40,), name="large(30,40)x(40,)"),
)


# mean_squared_error: (y_true, y_pred) shapes, broadcasting like Keras (the loss drops the last
# axis of the broadcast shape).
MSE_CASES = (
    C((4, 3), (4, 3)),
    C((3,), (4, 3)),
    C((4, 1), (4, 3)),
    C((4, 3), (3,)),
    C((2, 3, 4), (2, 3, 4)),
    C((32, 1), (32, 1)),
    C((5,), (5,)),
    C((5,), ()),
    C((), ()),
    C((1,), (1,)),
    C((0, 3), (0, 3)),
    C((2, 0), (2, 0)),
    C((30, 40), (30, 40), name="large(30,40)"),
)
# mean_squared_error_grad: (g, y_true, y_pred), g broadcasting to the loss's shape.
MSE_GRAD_CASES = (
    C((4,), (4, 3), (4, 3)),
    C((), (4, 3), (3,)),
    C((4,), (4, 1), (4, 3)),
    C((2, 3), (2, 3, 4), (2, 3, 4)),
    C((), (), ()),
    C((), (5,), ()),
    C((0,), (0, 3), (0, 3)),
    C((30,), (30, 40), (30, 40), name="large(30,)x(30,40)x(30,40)"),
)


def _mse_ref(t, p):
    d = np.square(p - t)
    if d.ndim == 0:
        return d
    return np.mean(d, axis=-1) if d.shape[-1] else np.full(d.shape[:-1], np.nan)


def _mse_grad_ref(g, t, p):
    d = p - t
    if d.ndim == 0:
        return g * 2.0 * d
    return np.expand_dims(g, -1) * 2.0 * d / d.shape[-1]


# sparse softmax cross-entropy: logits shapes with integer labels (a kwarg, like gather's
# indices: never differentiated) of the logits' leading shape.
def _labels(*shape, classes):
    return np.random.default_rng(sum(shape) + classes).integers(0, classes, size=shape)


SPARSE_XENT_CASES = (
    C((4, 3), labels=_labels(4, classes=3)),
    C((2, 3, 5), labels=_labels(2, 3, classes=5)),
    C((1, 1), labels=np.zeros(1, np.int64)),
    C((3,), labels=np.array(2)),
    C((0, 4), labels=np.zeros(0, np.int64)),
    C((5, 2), labels=_labels(5, classes=2).astype(np.int32)),
    C((30, 40), labels=_labels(30, classes=40), name="large(30,40)"),
)
SPARSE_XENT_GRAD_CASES = (
    C((4,), (4, 3), labels=_labels(4, classes=3)),
    C((), (4, 3), labels=_labels(4, classes=3)),
    C((2, 3), (2, 3, 5), labels=_labels(2, 3, classes=5)),
    C((), (3,), labels=np.array(1)),
    C((0,), (0, 4), labels=np.zeros(0, np.int64)),
    C((30,), (30, 40), labels=_labels(30, classes=40), name="large(30,)x(30,40)"),
)


def _log_softmax_ref(x):
    m = np.max(x, axis=-1, keepdims=True) if x.shape[-1] else 0.0
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def _sparse_xent_ref(x, labels):
    picked = np.take_along_axis(_log_softmax_ref(x), np.asarray(labels)[..., None], axis=-1)
    return -picked[..., 0]


def _sparse_xent_grad_ref(g, x, labels):
    p = np.exp(_log_softmax_ref(x))
    y = np.asarray(labels)[..., None] == np.arange(x.shape[-1])
    return np.broadcast_to(g, np.shape(labels))[..., None] * (p - y)


def _unary(name, np_fn, domain=per_input(normal), **kw) -> OpRow:
    return OpRow(name, name, getattr(tg, name), np_fn, UNARY_CASES, domain, **kw)


def _binary(name, np_fn, domain=per_input(normal), **kw) -> OpRow:
    return OpRow(name, name, getattr(tg, name), np_fn, BINARY_CASES, domain, **kw)


def _axes(axis):
    return tuple(axis) if isinstance(axis, list) else axis


REDUCE_CASES = (
    C((2, 3, 4)),
    C((2, 3, 4), axis=0),
    C((2, 3, 4), axis=1, keepdims=True),
    C((2, 3, 4), axis=-1),
    C((2, 3, 4), axis=(0, 2)),
    C((2, 3, 4), axis=(-1, -2), keepdims=True),
    C((2, 3, 4), axis=[2, 0]),
    C((2, 3, 4), keepdims=True),
    C(()),
    C((), keepdims=True),
    C((1,), axis=0),
    C((5,)),
    C((5,), axis=-1, keepdims=True),
    C((3, 1), axis=1),
    C((0, 3), axis=1),
    C((2, 0), axis=0),
    C((2, 3), axis=()),
    C((2, 3), axis=[], keepdims=True),
    C((20, 30), axis=0, name="large(20,30)[axis=0]"),
)
EMPTY_SUM_CASES = (C((0, 3), axis=0), C((0,)), C((2, 0), axis=1, keepdims=True))


def _reduce(name, np_fn, cases, **kw) -> OpRow:
    fn = getattr(tg, name)
    return OpRow(
        name,
        name,
        lambda x, **k: fn(x, **k),
        lambda x, axis=None, keepdims=False: np_fn(x, axis=_axes(axis), keepdims=keepdims),
        cases,
        **kw,
    )


def _ix(begin, step, count):
    return np.ix_(*[b + s * np.arange(c) for b, s, c in zip(begin, step, count)])


def _strided_slice_ref(x, begin, step, count):
    return x[_ix(begin, step, count)] if x.ndim else x.copy()


def _slice_grad_ref(g, shape, begin, step):
    z = np.zeros(shape)
    if z.ndim:
        z[_ix(begin, step, g.shape)] = g
    else:
        z[()] = g
    return z


def _scatter_add_ref(g, indices, axis, axis_len):
    idx = np.asarray(indices, dtype=np.int64)
    axis = axis % (g.ndim - idx.ndim + 1)
    shape = (*g.shape[:axis], axis_len, *g.shape[axis + idx.ndim :])
    z = np.zeros(shape)
    zm = np.moveaxis(z, axis, 0)  # view
    gm = np.moveaxis(g, list(range(axis, axis + idx.ndim)), list(range(idx.ndim)))
    np.add.at(zm, idx, gm)
    return z


def _matmul_ref(a, b, transpose_a=False, transpose_b=False):
    return np.matmul(
        np.swapaxes(a, -1, -2) if transpose_a else a, np.swapaxes(b, -1, -2) if transpose_b else b
    )


def _matmul_tangent_ref(da, b, a, db, transpose_a=False, transpose_b=False):
    return _matmul_ref(da, b, transpose_a, transpose_b) + _matmul_ref(
        a, db, transpose_a, transpose_b
    )


def _dense_fn(x, w, *bias, activation=None):
    return ops.dense(x, w, bias[0] if bias else None, activation)


def _dense_ref(x, w, *bias, activation=None):
    z = np.matmul(x, w) + (bias[0] if bias else 0.0)
    return np.maximum(z, 0.0) if activation == "relu" else z


def _dense_away_from_kink(rng, shapes):
    """x, kernel (and bias) whose pre-activations x @ kernel + bias are all at least 0.1 away from
    relu's kink (rejection sampling; the relu cases are small enough to pass in a few draws)."""
    for _ in range(1000):
        xs = [normal(rng, s) for s in shapes]
        z = np.matmul(xs[0], xs[1]) + (xs[2] if len(xs) > 2 else 0.0)
        if np.all(np.abs(z) >= 0.1):
            return xs
    raise RuntimeError(f"no dense inputs away from the relu kink for shapes {shapes}")


def numpy_dtype(d) -> np.dtype:
    """A dtype spelled as tg.DType, NumPy dtype or type, or string, as NumPy's."""
    return np.dtype(d.as_numpy_dtype if isinstance(d, tg.DType) else d)


def _where_fn(a, b, cond):
    return tg.where(cond, a, b)


def _cond(*shape, seed=0):
    return np.random.default_rng(seed).random(shape) < 0.5


# ---- classification: references and cases ------------------------------------------------------


def _softmax_ref(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True, initial=-np.inf))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax_ref(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    return (x - m) - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def _logsumexp_ref(x, axis=None, keepdims=False):
    axis = _axes(axis)
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis if axis is not None else None)


def _softmax_xent_ref(labels, logits, axis=-1):
    return -np.sum(labels * _log_softmax_ref(logits, axis), axis=axis)


def _softmax_xent_grad_ref(g, labels, logits, axis=-1):
    total = np.sum(labels, axis=axis, keepdims=True)
    return np.expand_dims(g, axis) * (total * _softmax_ref(logits, axis) - labels)


def _sigmoid_xent_ref(labels, logits):
    return np.maximum(logits, 0.0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))


def _clip_domain(rng, shapes):
    """t at least 0.2 away from both clip values: lo in [-1.2, -0.8], hi in [0.8, 1.2], t in
    [-1.9, -1.4], [-0.6, 0.6] or [1.4, 1.9] (below, inside, above)."""
    t_shape, lo_shape, hi_shape = shapes
    band = rng.integers(0, 3, size=t_shape)
    t = np.choose(
        band,
        [
            rng.uniform(-1.9, -1.4, t_shape),
            rng.uniform(-0.6, 0.6, t_shape),
            rng.uniform(1.4, 1.9, t_shape),
        ],
    )
    return [np.asarray(t), rng.uniform(-1.2, -0.8, lo_shape), rng.uniform(0.8, 1.2, hi_shape)]


SOFTMAX_CASES = (
    C((3, 4)),
    C((3, 4), axis=0),
    C((2, 3, 4), axis=1),
    C((2, 3, 4), axis=-1),
    C((5,)),
    C((1,)),
    C((4, 1)),
    C((0, 4)),
    C((2, 0)),
    C((40, 50), name="large(40,50)"),
)
# (g, y) pairs of one shape for the softmax-family backward ops
SOFTMAX_GRAD_CASES = (
    C((3, 4), (3, 4)),
    C((3, 4), (3, 4), axis=0),
    C((2, 3, 4), (2, 3, 4), axis=1),
    C((5,), (5,)),
    C((1,), (1,)),
    C((0, 4), (0, 4)),
    C((2, 0), (2, 0)),
    C((40, 50), (40, 50), name="large(40,50)x(40,50)"),
)
# (labels, logits), one shape; the loss drops the axis
SOFTMAX_XENT_CASES = (
    C((4, 3), (4, 3)),
    C((4, 3), (4, 3), axis=0),
    C((2, 3, 4), (2, 3, 4), axis=1),
    C((2, 3, 4), (2, 3, 4)),
    C((5,), (5,)),
    C((1, 1), (1, 1)),
    C((0, 3), (0, 3)),
    C((3, 0), (3, 0)),
    C((30, 40), (30, 40), name="large(30,40)"),
)
# (g, labels, logits), g of the loss's shape
SOFTMAX_XENT_GRAD_CASES = (
    C((4,), (4, 3), (4, 3)),
    C((3,), (4, 3), (4, 3), axis=0),
    C((2, 4), (2, 3, 4), (2, 3, 4), axis=1),
    C((), (5,), (5,)),
    C((0,), (0, 3), (0, 3)),
    C((3,), (3, 0), (3, 0)),
    C((30,), (30, 40), (30, 40), name="large(30,)x(30,40)x(30,40)"),
)
SIGMOID_XENT_CASES = (
    C((3, 4), (3, 4)),
    C((), ()),
    C((1,), (1,)),
    C((0,), (0,)),
    C((2, 3, 4), (2, 3, 4)),
    C((40, 50), (40, 50), name="large(40,50)"),
)
SIGMOID_XENT_GRAD_CASES = (
    C((3, 4), (3, 4), (3, 4)),
    C((), (), ()),
    C((0, 2), (0, 2), (0, 2)),
    C((2, 3, 4), (2, 3, 4), (2, 3, 4)),
    C((40, 50), (40, 50), (40, 50), name="large(40,50)x3"),
)
CLIP_CASES = (
    C((3, 4), (), ()),
    C((3, 4), (3, 4), (3, 4)),
    C((2, 3), (3,), (2, 1)),
    C((5,), (5,), ()),
    C((), (), ()),
    C((1,), (1,), (1,)),
    C((0,), (), ()),
    C((40, 50), (), (50,), name="large(40,50)x()x(50,)"),
)
unit = _sampler(0.0, 1.0)  # labels: probabilities


OP_ROWS = (
    # ---- elementwise, binary ----
    _binary("add", np.add, linear=True),
    _binary("subtract", np.subtract, linear=True),
    _binary("multiply", np.multiply),
    _binary(
        "divide",
        np.divide,
        per_input(normal, nonzero),
        note="divisor at least 0.3 away from 0 (the quotient's derivatives blow up near 0)",
    ),
    _binary(
        "maximum",
        np.maximum,
        distinct,
        piecewise_linear=True,
        note="distinct values: ties are tested apart (test_maximum_minimum_ties)",
    ),
    _binary(
        "minimum",
        np.minimum,
        distinct,
        piecewise_linear=True,
        note="distinct values: ties are tested apart",
    ),
    _binary(
        "pow",
        np.power,
        per_input(positive, normal),
        f32_tol=(3e-5, 1e-6),
        note="positive base (x**y is real and smooth in y only for x > 0; x = 0 is tested "
        "apart); float32 forward 3e-5: powf is exp(y log x), whose rounding grows with "
        "|y log x|",
    ),
    # ---- elementwise, unary ----
    _unary("negative", np.negative, linear=True),
    _unary("square", np.square),
    _unary("sqrt", np.sqrt, per_input(positive), note="positive: sqrt' is infinite at 0"),
    _unary("exp", np.exp),
    _unary("log", np.log, per_input(positive), note="positive: log' is 1/x"),
    _unary("tanh", np.tanh),
    _unary("sigmoid", lambda x: 1.0 / (1.0 + np.exp(-x))),
    _unary(
        "relu",
        lambda x: np.maximum(x, 0.0),
        per_input(nonzero),
        piecewise_linear=True,
        note="away from the kink at 0 (relu'(0) is tested apart)",
    ),
    _unary(
        "abs",
        np.abs,
        per_input(nonzero),
        piecewise_linear=True,
        note="away from the kink at 0 (|x|'(0) is tested apart)",
    ),
    OpRow(
        "relu_grad",
        "relu_grad",
        lambda g, x: ops.relu_grad(g, x),
        lambda g, x: g * (x > 0),
        BINARY_CASES,
        per_input(normal, nonzero),
        piecewise_linear=True,
        note="x away from 0: the mask (x > 0) jumps there",
    ),
    OpRow(
        "mean_squared_error",
        "mean_squared_error",
        lambda t, p: ops.mean_squared_error(t, p),
        _mse_ref,
        MSE_CASES,
        note="Keras: the mean over the last axis of the broadcast shape",
    ),
    OpRow(
        "mean_squared_error_grad",
        "mean_squared_error_grad",
        lambda g, t, p: ops.mean_squared_error_grad(g, t, p),
        _mse_grad_ref,
        MSE_GRAD_CASES,
    ),
    OpRow(
        "sparse_softmax_cross_entropy_with_logits",
        "sparse_softmax_cross_entropy_with_logits",
        lambda x, labels: ops.sparse_softmax_cross_entropy_with_logits(labels, x),
        _sparse_xent_ref,
        SPARSE_XENT_CASES,
        note="TensorFlow's tf.nn op: integer labels, logits with a class axis",
    ),
    OpRow(
        "sparse_softmax_cross_entropy_grad",
        "sparse_softmax_cross_entropy_grad",
        lambda g, x, labels: ops.sparse_softmax_cross_entropy_grad(g, labels, x),
        _sparse_xent_grad_ref,
        SPARSE_XENT_GRAD_CASES,
    ),
    OpRow(
        "where",
        "where",
        _where_fn,
        lambda a, b, cond: np.where(cond, a, b),
        (
            C((3, 4), (3, 4), cond=_cond(3, 4)),
            C((3, 1), (1, 4), cond=_cond(3, 4)),
            C((), (2, 3), cond=_cond(2, 3)),
            C((2, 3), (3,), cond=_cond(1, 3, seed=1)),
            C((2, 2), (2, 2), cond=_cond(2, 2).astype(np.float64), name="float-cond"),
            C((), (), cond=np.array(True)),
            C((4,), (), cond=_cond(2, 1, seed=2)),
            C((0,), (0,), cond=np.zeros(0, bool)),
            C((1,), (1,), cond=np.array([False])),
        ),
        piecewise_linear=True,
    ),
    OpRow(
        "cast",
        "cast",
        lambda x, dtype: tg.cast(x, dtype),
        lambda x, dtype: np.asarray(x).astype(numpy_dtype(dtype)),
        (
            C((3, 4), dtype="float32"),
            C((), dtype="float32"),
            C((0,), dtype="float32"),
            C((3,), dtype="float64"),
            C((2, 2), dtype=tg.float32),
            C((2,), dtype=np.float32),
            C((2,), dtype=np.dtype("float64")),
        ),
        linear=True,
        out_dtype="from-kwargs",
        first=(1e-2, 1e-4, 1e-4),
        fwd_tol=(0.0, 0.0),
        note="casting to float32 rounds at 6e-8 relative: a linear map, so a large eps (1e-2) "
        "and 1e-4 tolerances keep the rounding noise of the differences small",
    ),
    OpRow(
        "stop_gradient",
        "stop_gradient",
        tg.stop_gradient,
        np.copy,
        (C((3,)), C(()), C((2, 3))),
        no_grad=True,
        max_order=1,
        fwd_tol=(0.0, 0.0),
    ),
    # ---- reductions and broadcasting ----
    _reduce("reduce_sum", np.sum, REDUCE_CASES + EMPTY_SUM_CASES, linear=True),
    _reduce(
        "reduce_mean",
        np.mean,
        REDUCE_CASES + EMPTY_SUM_CASES,
        linear=True,
        note="mean of an empty slice is NaN as in NumPy",
    ),
    _reduce(
        "reduce_max",
        np.max,
        REDUCE_CASES,
        domain=distinct,
        piecewise_linear=True,
        note="distinct values: tie splitting is tested apart",
    ),
    OpRow(
        "broadcast_to",
        "broadcast_to",
        lambda x, shape: tg.broadcast_to(x, shape),
        lambda x, shape: np.broadcast_to(x, shape).copy(),
        (
            C((3, 1), shape=(2, 3, 4)),
            C((), shape=(2, 2)),
            C((1,), shape=(0,)),
            C((4,), shape=(3, 4)),
            C((2, 3), shape=(2, 3)),
            C((1, 0), shape=(3, 0)),
            C((), shape=()),
            C((1,), shape=(1, 1)),
        ),
        linear=True,
    ),
    # ---- linear algebra ----
    OpRow(
        "matmul",
        "matmul",
        lambda a, b, **k: tg.matmul(a, b, **k),
        _matmul_ref,
        (
            C((3, 4), (4, 2)),
            C((4, 3), (4, 2), transpose_a=True),
            C((3, 4), (2, 4), transpose_b=True),
            C((4, 3), (2, 4), transpose_a=True, transpose_b=True),
            C((1, 1), (1, 1)),
            C((2, 3, 4), (4, 5)),
            C((4, 5), (2, 5, 3)),
            C((2, 1, 3, 4), (5, 4, 6)),
            C((2, 4, 3), (2, 5, 4), transpose_a=True, transpose_b=True),
            C((2, 0), (0, 3)),
            C((0, 3), (3, 2)),
            C((3, 2), (2, 0)),
            C((17, 33), (33, 9), name="large(17,33)x(33,9)"),
            C((3, 20, 30), (30, 7), transpose_b=False, name="large(3,20,30)x(30,7)"),
        ),
        f32_tol=(1e-5, 1e-5),
        note="float32 forward atol 1e-5: sums of up to 33 products of values in [-2, 2]",
    ),
    OpRow(
        "matmul_tangent",
        "matmul_tangent",
        lambda da, b, a, db, **k: ops.matmul_tangent(da, b, a, db, **k),
        _matmul_tangent_ref,
        (
            C((3, 4), (4, 2), (3, 4), (4, 2)),
            C((3, 4), (4, 2), (3, 5), (5, 2), name="two-inner-sizes"),
            C((4, 3), (4, 2), (4, 3), (4, 2), transpose_a=True),
            C((3, 4), (2, 4), (3, 4), (2, 4), transpose_b=True),
            C((4, 3), (2, 4), (4, 3), (2, 4), transpose_a=True, transpose_b=True),
            C((1, 1), (1, 1), (1, 1), (1, 1)),
            C((2, 0), (0, 3), (2, 1), (1, 3), name="one-empty-inner"),
            C((0, 3), (3, 2), (0, 3), (3, 2)),
            C((17, 33), (33, 9), (17, 33), (33, 9), name="large(17,33)x(33,9)"),
            # h^T @ g of a Dense(1) backward: the GEMM's column loop, the second product with beta 1
            C((32, 20), (32, 1), (16, 20), (16, 1), transpose_a=True, name="narrow-transposed"),
        ),
        f32_tol=(1e-5, 1e-5),
        note="matmul's tangent da @ b + a @ db in one op (its JVP rule uses it); float32 atol "
        "as matmul's",
    ),
    OpRow(
        "dense",
        "dense",
        _dense_fn,
        _dense_ref,
        (
            C((3, 4), (4, 2), (2,)),
            C((3, 4), (4, 2)),
            C((3, 4), (4, 2), (2,), activation="linear"),
            C((3, 4), (4, 2), (2,), activation="relu"),
            C((4, 3), (3, 2), activation="relu"),
            C((2, 3, 4), (4, 2), (2,), activation="relu"),
            C((2, 3, 4), (4, 5)),
            C((1, 1), (1, 1), (1,)),
            C((0, 4), (4, 3), (3,), activation="relu"),
            C((3, 0), (0, 2), (2,)),
            C((3, 4), (4, 0), (0,)),
            C((17, 33), (33, 9), (9,), name="large(17,33)x(33,9)+(9,)"),
        ),
        _dense_away_from_kink,
        piecewise_linear=True,
        f32_tol=(1e-5, 1e-5),
        note="pre-activations at least 0.1 from relu's kink; float32 atol as matmul's; "
        "piecewise_linear: the bias gradient depends on no input (its second derivative is "
        "None), relu's kink adds nothing a.e.; the bilinear x-kernel terms are still checked",
    ),
    # ---- shape ----
    OpRow(
        "reshape",
        "reshape",
        lambda x, shape: tg.reshape(x, shape),
        lambda x, shape: np.reshape(x, shape),
        (
            C((2, 3, 4), shape=(4, -1)),
            C((2, 3, 4), shape=(24,)),
            C((), shape=(1, 1)),
            C((1,), shape=()),
            C((0, 3), shape=(3, 0)),
            C((0, 3), shape=(-1, 3)),
            C((6,), shape=(2, 3)),
            C((3, 4), shape=(3, 4)),
            C((3, 4), shape=[2, -1, 3]),
        ),
        linear=True,
    ),
    OpRow(
        "transpose",
        "transpose",
        lambda x, perm=None: tg.transpose(x, perm),
        lambda x, perm=None: np.transpose(x, perm),
        (
            C((2, 3)),
            C((2, 3, 4)),
            C((2, 3, 4), perm=(1, 0, 2)),
            C((2, 3, 4), perm=[2, 0, 1]),
            C((2, 3, 4), perm=(-1, 0, 1)),
            C(()),
            C((5,)),
            C((0, 3)),
            C((1, 1), perm=(1, 0)),
        ),
        linear=True,
    ),
    OpRow(
        "concat",
        "concat",
        lambda *xs, axis: tg.concat(list(xs), axis),
        lambda *xs, axis: np.concatenate(xs, axis),
        (
            C((2, 3), (1, 3), (4, 3), axis=0),
            C((2, 3), (2, 1), axis=-1),
            C((2, 0), (2, 3), axis=1),
            C((3,), (2,), axis=0),
            C((1,), axis=0),
            C((2, 2, 2), (2, 1, 2), axis=1),
            C((0, 2), (0, 2), axis=0),
        ),
        linear=True,
    ),
    OpRow(
        "stack",
        "stack",
        lambda *xs, axis=0: tg.stack(list(xs), axis),
        lambda *xs, axis=0: np.stack(xs, axis),
        (
            C((2, 3), (2, 3)),
            C((2, 3), (2, 3), axis=1),
            C((2, 3), (2, 3), (2, 3), axis=2),
            C((2, 3), (2, 3), axis=-1),
            C((), (), (), axis=0),
            C(
                (3,),
            ),
            C((0,), (0,), axis=1),
        ),
        linear=True,
    ),
    OpRow(
        "strided_slice",
        "strided_slice",
        lambda x, **k: ops.strided_slice(x, **k),
        _strided_slice_ref,
        (
            C((5, 4), begin=[1, 3], step=[2, -1], count=[2, 3]),
            C((6,), begin=[5], step=[-2], count=[3]),
            C((6,), begin=[0], step=[1], count=[0]),
            C((3, 4, 2), begin=[0, 1, 1], step=[1, 2, 1], count=[3, 2, 1]),
            C((), begin=[], step=[], count=[]),
            C((1,), begin=[0], step=[1], count=[1]),
        ),
        linear=True,
    ),
    OpRow(
        "slice_grad",
        "slice_grad",
        lambda g, **k: ops.slice_grad(g, **k),
        _slice_grad_ref,
        (
            C((2, 3), shape=[5, 4], begin=[1, 3], step=[2, -1]),
            C((3,), shape=[6], begin=[5], step=[-2]),
            C((0,), shape=[6], begin=[0], step=[1]),
            C((3, 2, 1), shape=[3, 4, 2], begin=[0, 1, 1], step=[1, 2, 1]),
            C((), shape=[], begin=[], step=[]),
            C((4,), shape=[4], begin=[0], step=[1]),
        ),
        linear=True,
    ),
    OpRow(
        "gather",
        "gather",
        lambda x, **k: tg.gather(x, **k),
        lambda x, indices, axis=0: np.take(x, np.asarray(indices, dtype=np.int64), axis=axis),
        (
            C((5, 3), indices=[0, 2, 2, -1]),
            C((5, 3), indices=[[0, 1], [2, 2]], axis=1),
            C((2, 3, 4), indices=[3, 0, 3], axis=-1),
            C((4,), indices=[1]),
            C((4, 2), indices=np.zeros(0, np.int64)),
            C((3,), indices=np.array(2)),
            C((4, 2), indices=np.array([1, 1, 1, 3]), axis=0),
        ),
        linear=True,
    ),
    OpRow(
        "scatter_add",
        "scatter_add",
        lambda g, **k: ops.scatter_add(g, **k),
        _scatter_add_ref,
        (
            C((4, 3), indices=[0, 2, 2, -1], axis=0, axis_len=5),
            C((5, 2, 2), indices=[[0, 1], [2, 2]], axis=1, axis_len=3),
            C((2, 3, 3), indices=[3, 0, 3], axis=-1, axis_len=4),
            C((0, 2), indices=np.zeros(0, np.int64), axis=0, axis_len=4),
            C((1,), indices=[0], axis=0, axis_len=1),
        ),
        linear=True,
    ),
    # ---- classification ----
    OpRow(
        "softmax",
        "softmax",
        lambda x, **k: tg.nn.softmax(x, **k),
        _softmax_ref,
        SOFTMAX_CASES,
    ),
    OpRow(
        "softmax_grad",
        "softmax_grad",
        lambda g, y, **k: ops.softmax_grad(g, y, **k),
        lambda g, y, axis=-1: y * (g - np.sum(g * y, axis=axis, keepdims=True)),
        SOFTMAX_GRAD_CASES,
        f32_tol=(1e-5, 1e-5),
        note="float32 atol 1e-5 as matmul's: a row sum of up to 50 terms, then a difference",
    ),
    OpRow(
        "log_softmax",
        "log_softmax",
        lambda x, **k: tg.nn.log_softmax(x, **k),
        _log_softmax_ref,
        SOFTMAX_CASES,
    ),
    OpRow(
        "log_softmax_grad",
        "log_softmax_grad",
        lambda g, z, **k: ops.log_softmax_grad(g, z, **k),
        lambda g, z, axis=-1: g - np.exp(z) * np.sum(g, axis=axis, keepdims=True),
        SOFTMAX_GRAD_CASES,
        f32_tol=(1e-5, 1e-5),
        note="float32 atol 1e-5 as matmul's: a row sum of up to 50 terms, then a difference",
    ),
    OpRow(
        "reduce_logsumexp",
        "reduce_logsumexp",
        lambda x, **k: tg.reduce_logsumexp(x, **k),
        _logsumexp_ref,
        REDUCE_CASES,
    ),
    _reduce(
        "reduce_min",
        np.min,
        REDUCE_CASES,
        domain=distinct,
        piecewise_linear=True,
        note="distinct values: ties split as reduce_max's",
    ),
    OpRow(
        "clip_by_value",
        "clip_by_value",
        lambda t, lo, hi: tg.clip_by_value(t, lo, hi),
        np.clip,
        CLIP_CASES,
        _clip_domain,
        piecewise_linear=True,
        note="t at least 0.2 from both clip values (the boundary rule is tested apart)",
    ),
    OpRow(
        "softmax_cross_entropy_with_logits",
        "softmax_cross_entropy_with_logits",
        lambda labels, logits, **k: tg.nn.softmax_cross_entropy_with_logits(labels, logits, **k),
        _softmax_xent_ref,
        SOFTMAX_XENT_CASES,
        per_input(unit, normal),
        f32_tol=(1e-5, 3e-6),
        note="labels in [0, 1] (probabilities; their sum is free, the gradient is exact for any)",
    ),
    OpRow(
        "softmax_cross_entropy_with_logits_grad",
        "softmax_cross_entropy_with_logits_grad",
        lambda g, labels, logits, **k: ops.softmax_cross_entropy_with_logits_grad(
            g, labels, logits, **k
        ),
        _softmax_xent_grad_ref,
        SOFTMAX_XENT_GRAD_CASES,
        per_input(normal, unit, normal),
    ),
    OpRow(
        "sigmoid_cross_entropy_with_logits",
        "sigmoid_cross_entropy_with_logits",
        lambda labels, logits: tg.nn.sigmoid_cross_entropy_with_logits(
            labels=labels, logits=logits
        ),
        _sigmoid_xent_ref,
        SIGMOID_XENT_CASES,
        per_input(unit, normal),
    ),
    OpRow(
        "sigmoid_cross_entropy_with_logits_grad",
        "sigmoid_cross_entropy_with_logits_grad",
        lambda g, labels, logits: ops.sigmoid_cross_entropy_with_logits_grad(g, labels, logits),
        lambda g, z, x: g * (1.0 / (1.0 + np.exp(-x)) - z),
        SIGMOID_XENT_GRAD_CASES,
        per_input(normal, unit, normal),
    ),
)


# ---- Python operators and indexing -------------------------------------------------------------


def _as_x_dtype(c, x):
    """A NumPy constant in x's dtype (so the float32 forward check stays float32)."""
    return np.asarray(c, dtype=x.dtype.as_numpy_dtype)


GETITEM_CASES = (
    C((4, 3), key=1),
    C((4, 3), key=-1),
    C((5,), key=slice(1, 3)),
    C((5,), key=slice(None, None, -2)),
    C((5, 3), key=slice(None, None, -2)),
    C((2, 3), key=(Ellipsis, None)),
    C((5,), key=[0, 2, 2]),
    C((4, 3), key=[0, 2, 2]),
    C((4, 3), key=(slice(None), [1, 1, 0])),
    C((4, 3), key=np.array([True, False, True, True])),
    C((2, 3), key=_cond(2, 3, seed=3)),
    C((4, 3), key=(1, slice(None, None, 2))),
    C((4, 3), key=(None, slice(1, None))),
    C((5,), key=slice(2, 2)),
    # Reversing slices keep every extent (once returned x unreversed).
    C((5,), key=slice(None, None, -1)),
    C((4, 3), key=slice(None, None, -1)),
    C((4, 3), key=(Ellipsis, slice(None, None, -1))),
    C((4, 3), key=(slice(None), slice(None, None, -1))),
    C((4,), key=slice(3, None, -1)),
    C((), key=Ellipsis),
    C((), key=None),
    C((3, 2), key=(2, 1)),
    C((3, 4, 2), key=(Ellipsis, 1)),
    C((4,), key=np.array([3, -4, 0])),
)

PY_ROWS = (
    OpRow("x+y", None, lambda x, y: x + y, np.add, BINARY_CASES, linear=True),
    OpRow("x-y", None, lambda x, y: x - y, np.subtract, BINARY_CASES, linear=True),
    OpRow("x*y", None, lambda x, y: x * y, np.multiply, BINARY_CASES),
    OpRow(
        "x/y",
        None,
        lambda x, y: x / y,
        np.divide,
        BINARY_CASES,
        per_input(normal, nonzero),
        note="divisor away from 0",
    ),
    OpRow(
        "x**y",
        None,
        lambda x, y: x**y,
        np.power,
        BINARY_CASES,
        per_input(positive, normal),
        f32_tol=(3e-5, 1e-6),
        note="positive base; float32 as the pow row",
    ),
    OpRow(
        "x@y",
        None,
        lambda x, y: x @ y,
        np.matmul,
        (C((3, 4), (4, 2)), C((2, 3, 4), (4, 5)), C((1, 1), (1, 1))),
    ),
    OpRow("-x", None, lambda x: -x, np.negative, UNARY_CASES, linear=True),
    OpRow("abs(x)", None, abs, np.abs, UNARY_CASES, per_input(nonzero), piecewise_linear=True),
    OpRow("x**3", None, lambda x: x**3, lambda x: x**3, UNARY_CASES),
    OpRow("x**2.5", None, lambda x: x**2.5, lambda x: x**2.5, UNARY_CASES, per_input(positive)),
    OpRow(
        "x**-1.5",
        None,
        lambda x: x**-1.5,
        lambda x: x**-1.5,
        UNARY_CASES,
        per_input(positive),
        f32_tol=(3e-5, 1e-6),
    ),
    OpRow("x**-1", None, lambda x: x**-1, lambda x: 1.0 / x, UNARY_CASES, per_input(nonzero)),
    OpRow(
        "pow(x,2.5)",
        None,
        lambda x: tg.pow(x, 2.5),
        lambda x: x**2.5,
        UNARY_CASES,
        per_input(positive),
    ),
    OpRow("3+x", None, lambda x: 3 + x, lambda x: 3 + x, UNARY_CASES, linear=True),
    OpRow("3-x", None, lambda x: 3 - x, lambda x: 3 - x, UNARY_CASES, linear=True),
    OpRow("3*x", None, lambda x: 3 * x, lambda x: 3 * x, UNARY_CASES, linear=True),
    OpRow("2/x", None, lambda x: 2 / x, lambda x: 2 / x, UNARY_CASES, per_input(nonzero)),
    OpRow("2.0**x", None, lambda x: 2.0**x, lambda x: 2.0**x, UNARY_CASES),
    OpRow(
        "ndarray*x",
        None,
        lambda x, c: _as_x_dtype(c, x) * x,
        lambda x, c: c * x,
        (
            C((3, 4), c=np.linspace(-1, 1, 12).reshape(3, 4)),
            C((1, 4), c=np.arange(3.0)[:, None]),
            C((), c=np.array([[1.5, -2.0]])),
            C((2, 2), c=np.array(2.0)),
        ),
        linear=True,
    ),
    OpRow(
        "ndarray-x",
        None,
        lambda x, c: _as_x_dtype(c, x) - x,
        lambda x, c: c - x,
        (C((3, 4), c=np.linspace(-1, 1, 12).reshape(3, 4)), C((2,), c=np.ones((3, 1)))),
        linear=True,
    ),
    OpRow(
        "ndarray/x",
        None,
        lambda x, c: _as_x_dtype(c, x) / x,
        lambda x, c: c / x,
        (C((3, 4), c=np.linspace(-1, 1, 12).reshape(3, 4)),),
        per_input(nonzero),
    ),
    OpRow(
        "ndarray@x",
        None,
        lambda x, c: _as_x_dtype(c, x) @ x,
        lambda x, c: c @ x,
        (C((4, 2), c=np.linspace(-1, 1, 12).reshape(3, 4)),),
        linear=True,
    ),
    OpRow("x[key]", None, lambda x, key: x[key], lambda x, key: x[key], GETITEM_CASES, linear=True),
)

ALL_ROWS = OP_ROWS + PY_ROWS
