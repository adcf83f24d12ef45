"""Every public callable has a docstring and a signature ``inspect.signature`` can read.

The walk covers the tg.* functions and classes, the tg.nn/math/random/data/utils/distribute
namespaces, Tensor/Variable/GradientTape's methods and the keras namespaces' classes with their
public methods; one test fails naming everything that is missing (Note [Text signatures] in
cpp/bindings/text_signatures.cpp says how the C++ bindings get theirs).
"""

from __future__ import annotations

import inspect
import types

import pytest

import tapegrad as tg
from tapegrad import keras

NAMESPACES = [tg, tg.nn, tg.math, tg.random, tg.data, tg.utils, tg.distribute]
KERAS_NAMESPACES = [
    keras.layers,
    keras.losses,
    keras.metrics,
    keras.optimizers,
    keras.models,
    keras.callbacks,
]
CORE_CLASSES = [tg.Tensor, tg.Variable, tg.GradientTape]


def _public_names(namespace: types.ModuleType) -> list[str]:
    names = getattr(namespace, "__all__", None)
    if names is None:
        names = [n for n in vars(namespace) if not n.startswith("_")]
    return sorted(names)


def _defined_in_tapegrad(obj: object) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.startswith("tapegrad")


def _methods(cls: type) -> list[tuple[str, object]]:
    """The public methods of cls (its own and inherited from tapegrad classes), plus __call__
    when tapegrad defines it; each named after the class that defines it. (The class's own
    docstring and signature stand for __init__, as in help().)"""
    out = []
    for name in sorted(dir(cls)):
        if name.startswith("_") and name != "__call__":
            continue
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if owner is None or owner is object or not _defined_in_tapegrad(owner):
            continue
        if isinstance(vars(owner)[name], property):
            continue
        # Through getattr, so inspect.getdoc finds a docstring the override inherits.
        attr = getattr(owner, name)
        if callable(attr):
            out.append((f"{owner.__module__}.{owner.__qualname__}.{name}", attr))
    return out


def public_api() -> list[tuple[str, object]]:
    """(qualified name, object) for every public callable the walk checks."""
    out: dict[str, object] = {}
    classes: list[type] = []

    def add(qualname: str, obj: object) -> None:
        if isinstance(obj, type) and issubclass(obj, BaseException):
            return  # BaseException's (*args) signature, which CPython does not describe
        if isinstance(obj, type):
            qualname = f"{obj.__module__}.{obj.__qualname__}"
            classes.append(obj)
        out.setdefault(qualname, obj)

    for namespace in NAMESPACES:
        for name in _public_names(namespace):
            obj = getattr(namespace, name)
            if isinstance(obj, types.ModuleType) or not callable(obj):
                continue
            if isinstance(obj, type) and not _defined_in_tapegrad(obj):
                continue  # e.g. a re-exported builtin
            add(f"{namespace.__name__}.{name}", obj)
    for namespace in KERAS_NAMESPACES:
        for name in _public_names(namespace):
            obj = getattr(namespace, name)
            if isinstance(obj, type) and _defined_in_tapegrad(obj):
                add(name, obj)
    for cls in CORE_CLASSES:
        add(cls.__name__, cls)
    for cls in classes:
        for qualname, method in _methods(cls):
            out.setdefault(qualname, method)
    return sorted(out.items())


def _prose(doc: str, name: str) -> str:
    """doc without the typed signature lines the C++ bindings start with."""
    lines = doc.splitlines()
    while lines and (lines[0].startswith(f"{name}(") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines).strip()


def _problems(qualname: str, obj: object) -> list[str]:
    out = []
    name = getattr(obj, "__name__", qualname.rsplit(".", 1)[-1])
    if not _prose(inspect.getdoc(obj) or "", name):
        out.append(f"{qualname}: no docstring")
    try:
        inspect.signature(obj)  # type: ignore[arg-type]
    except (ValueError, TypeError) as e:
        out.append(f"{qualname}: no signature ({e})")
    return out


def test_walk_finds_the_api():
    names = {name for name, _ in public_api()}
    for expected in (
        "tapegrad.matmul",
        "tapegrad._core.GradientTape.gradient",
        "tapegrad._core.Variable.assign",
        "tapegrad._core.Tensor.numpy",
        "tapegrad.nn.softmax",
        "tapegrad.layers.Dense",
        "tapegrad.models.Sequential.fit",
        "tapegrad.optimizers.Optimizer.apply_gradients",
        "tapegrad.callbacks.Callback.on_epoch_end",
    ):
        assert expected in names


def test_every_public_callable_has_a_docstring_and_a_signature():
    problems = [p for qualname, obj in public_api() for p in _problems(qualname, obj)]
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("obj", "params"),
    [
        (tg.matmul, ["a", "b", "transpose_a", "transpose_b"]),
        (tg.reduce_sum, ["x", "axis", "keepdims"]),
        (tg.GradientTape, ["persistent", "watch_accessed_variables"]),
        (
            tg.GradientTape.gradient,
            ["self", "target", "sources", "output_gradients", "unconnected_gradients"],
        ),
        (
            tg.GradientTape().gradient,
            ["target", "sources", "output_gradients", "unconnected_gradients"],
        ),
        (tg.Variable, ["initial_value", "trainable", "name", "dtype"]),
        (tg.Variable(1.0).assign, ["value"]),
        (tg.Tensor, ["value", "dtype"]),
    ],
)
def test_signatures_of_the_cpp_callables(obj, params):
    assert list(inspect.signature(obj).parameters) == params


def test_bound_signature_checks_arguments():
    sig = inspect.signature(tg.matmul)
    assert sig.bind(1.0, 2.0, transpose_b=True).arguments["transpose_b"] is True
    assert sig.parameters["transpose_a"].default is False
    with pytest.raises(TypeError):
        sig.bind(1.0)


def test_help_shows_names_and_types():
    doc = tg.matmul.__doc__
    assert doc.startswith(
        "matmul(a: tapegrad.types.TensorLike, b: tapegrad.types.TensorLike, "
        "transpose_a: bool = False, transpose_b: bool = False) -> tapegrad._core.Tensor"
    )
    rendered = inspect.getdoc(tg.GradientTape.gradient)
    assert rendered.startswith("gradient(self, target: typing.Any")
