"""``tg.function`` (TensorFlow's ``tf.function``): a traced program replays bitwise what eager
execution computes, for every op row of op_table (forward, first and second derivatives), for a
hand-written training loop, nested and persistent tapes and jacobians; retracing, trace-time-only
Python side effects, variables, errors, result structures, outer tapes and finiteness checks."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import rng_for
from op_table import ALL_ROWS, OpRow, distinct

import tapegrad as tg

# ---- every op row: trace and replay are bitwise eager ------------------------------------------


def _derivatives(row: OpRow, kwargs: dict, *xs):
    """(forward, first derivatives of sum(f) w.r.t. every input, second derivatives: d/dx of
    sum(d sum(f)/dx0)) - the same Python code runs eagerly and under tg.function."""
    with tg.GradientTape() as outer:
        for x in xs:
            outer.watch(x)
        with tg.GradientTape() as inner:
            for x in xs:
                inner.watch(x)
            y = row.fn(*xs, **kwargs)
            total = tg.reduce_sum(y)
        first = inner.gradient(total, list(xs))
        if row.no_grad or row.max_order < 2 or first[0] is None:
            return y, first, None
        target = tg.reduce_sum(first[0])
    return y, first, outer.gradient(target, list(xs))


REDUCE_MAX_FROZEN = (
    "reduce_max's VJP reads its saved keepdims-layout max (`kd` in reduce.cpp), not the recorded "
    "squeezed output: the trace freezes the trace-time max as a constant, so a replay on new "
    "inputs masks x == old max (all false) and the gradient is 0/0 = NaN (every keepdims=False "
    "case; keepdims=True passes)"
)
# (row, case id) -> why the replay differs from eager: library bugs, strict xfails.
KNOWN_BUGS = {
    ("reduce_max", case_id): REDUCE_MAX_FROZEN
    for case_id in (
        "(2,3,4)",
        "()",
        "(1,)[axis=0]",
        "(5,)",
        "(2,3,4)[axis=0]",
        "(2,3,4)[axis=-1]",
        "(2,3,4)[axis=[0,2]]",
        "(2,3,4)[axis=[2,0]]",
        "(3,1)[axis=1]",
        "(2,3)[axis=[]]",
    )
}


def _row_params():
    out = []
    for row in ALL_ROWS:
        for case in row.cases:
            if case.name.startswith("large"):
                continue  # the small cases cover the same code paths, in a fraction of the time
            for dtype in (np.float64, np.float32) if row.float32 else (np.float64,):
                bug = KNOWN_BUGS.get((row.name, case.id))
                marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
                name = f"{row.name}-{case.id}-{np.dtype(dtype).name}"
                out.append(pytest.param(row, case, dtype, id=name, marks=marks))
    return out


def _row_inputs(row: OpRow, case, key: str, dtype, scale: float = 1.0) -> list:
    """The case's inputs; scale < 1 shrinks `distinct` draws (a permutation of one grid) so that
    new inputs have a new maximum too."""
    domain = case.domain or row.domain
    scale = scale if domain is distinct else 1.0
    return [
        tg.constant((scale * np.asarray(x, dtype=np.float64)).astype(dtype))
        for x in domain(rng_for(key), case.shapes)
    ]


def _as_arrays(result):
    """Tensors as NumPy arrays, the structure (tuples, lists, None) kept."""
    if isinstance(result, (tuple, list)):
        return type(result)(_as_arrays(r) for r in result)
    if result is None:
        return None
    assert isinstance(result, tg.Tensor), f"a {type(result).__name__} in the result"
    return np.array(result.numpy())


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def assert_bitwise_equal(got, want, where: str = "result"):
    """Same structure; every array of the same dtype and shape with the same bits (NaN == NaN)."""
    if isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want), f"{where}: {got!r} vs {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_bitwise_equal(g, w, f"{where}[{i}]")
        return
    if want is None:
        assert got is None, f"{where}: expected None, got {got!r}"
        return
    assert got is not None, f"{where}: got None, expected {want!r}"
    assert got.dtype == want.dtype, f"{where}: dtype {got.dtype} vs eager {want.dtype}"
    assert got.shape == want.shape, f"{where}: shape {got.shape} vs eager {want.shape}"
    assert np.array_equal(_bits(got), _bits(want)), (
        f"{where}: compiled {got!r} differs from eager {want!r}"
    )


@pytest.mark.parametrize(("row", "case", "dtype"), _row_params())
def test_op_row_trace_and_replay_equal_eager_bitwise(row, case, dtype):
    def step(*xs):
        return _derivatives(row, case.kwargs, *xs)

    compiled = tg.function(step, name=f"row_{row.name}")
    key = f"{row.name}-{case.id}"
    xs = _row_inputs(row, case, key, dtype)
    eager = _as_arrays(step(*xs))
    assert_bitwise_equal(_as_arrays(compiled(*xs)), eager, "trace")
    assert_bitwise_equal(_as_arrays(compiled(*xs)), eager, "replay")
    new_xs = _row_inputs(row, case, key + "-new", dtype, scale=0.75)
    new_eager = _as_arrays(step(*new_xs))
    assert_bitwise_equal(_as_arrays(compiled(*new_xs)), new_eager, "replay on new inputs")
    assert compiled.trace_count == 1
