"""Regenerates ``python/tapegrad/_core/*.pyi``, the type stubs of the C++ extension ``_core``.

    python tools/gen_stub.py           # rewrites the stubs in the source tree
    python tools/gen_stub.py --check   # exit status 1, naming the files, when they are stale

pybind11-stubgen (the ``test`` extra) does the work, with one change: the typed signature at the
start of each binding's docstring wins over its ``__text_signature__``, which carries only names
and defaults (Note [Text signatures] in cpp/bindings/text_signatures.cpp). The stubs are a package
(``_core/__init__.pyi``, ``_core/ops.pyi``, ...) because ``_core`` has submodules; Python still
imports the extension module, which wins over a folder without ``__init__.py``.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

STUB_DIR = Path(__file__).resolve().parent.parent / "python" / "tapegrad" / "_core"

# Tensor's and Variable's operator slots (cpp/bindings/tensor_type.cpp) are slot wrappers, whose
# docstrings CPython writes ("Return self+value."): their types are stated here.
_BINARY = "add sub mul truediv matmul floordiv mod and or xor".split()
_TYPED_SLOTS = {
    **{f"__{op}__": "(self, value: tapegrad.types.TensorLike) -> Tensor" for op in _BINARY},
    **{f"__r{op}__": "(self, value: tapegrad.types.TensorLike) -> Tensor" for op in _BINARY},
    **{
        f"__{op}__": "(self, value: tapegrad.types.TensorLike) -> Tensor"
        for op in "lt le gt ge".split()
    },
    # Elementwise, as in TensorFlow 2 (object's return bool: see _OVERRIDES_OBJECT).
    "__eq__": "(self, value: object) -> Tensor",
    "__ne__": "(self, value: object) -> Tensor",
    "__pow__": "(self, value: tapegrad.types.TensorLike, mod: None = None) -> Tensor",
    "__rpow__": "(self, value: tapegrad.types.TensorLike, mod: None = None) -> Tensor",
    **{f"__{op}__": "(self) -> Tensor" for op in "neg pos abs invert".split()},
    "__float__": "(self) -> float",
    "__int__": "(self) -> int",
    "__bool__": "(self) -> bool",
    "__len__": "(self) -> int",
    "__hash__": "(self) -> int",
    "__getitem__": "(self, key: typing.Any) -> Tensor",
    "__iter__": "(self) -> collections.abc.Iterator[Tensor]",
}
_OVERRIDES_OBJECT = {"__eq__", "__ne__"}
# The getset attributes of the hand-written types, which pybind11-stubgen leaves out; their
# docstrings are read from the module.
_HANDWRITTEN_PROPERTIES = {
    "Tensor": {
        "shape": "tuple[int, ...]",
        "dtype": "DType",
        "ndim": "int",
        "size": "int",
        "id": "int",
    },
    "GradientTape": {"persistent": "bool", "recording": "bool", "num_nodes": "int"},
}
# One slot wrapper as pybind11-stubgen prints it: the def line and its CPython docstring.
_SLOT_STUB = re.compile(
    r"^    def (__\w+__)\((self|self, value|self, key|self, value, mod = None)\):\n"
    r'        """\n(?:        .*\n)+?        """\n',
    re.MULTILINE,
)


def _type_slots(text: str) -> str:
    """Replaces the untyped slot wrappers of __init__.pyi by _TYPED_SLOTS's signatures."""

    def typed(match: re.Match[str]) -> str:
        signature = _TYPED_SLOTS.get(match.group(1))
        if signature is None:
            return match.group(0)
        ignore = "  # type: ignore[override]" if match.group(1) in _OVERRIDES_OBJECT else ""
        return f"    def {match.group(1)}{signature}:{ignore}\n        ...\n"

    text = _SLOT_STUB.sub(typed, text)
    text = _builtin_bool_in_dtype(text)
    for name, properties in _HANDWRITTEN_PROPERTIES.items():
        text = _type_handwritten_class(text, name, properties)
    if "import collections.abc" not in text:
        text = text.replace("import typing\n", "import collections.abc\nimport typing\n", 1)
    return text


def generate(out_dir: Path) -> Path:
    """Writes the stubs of ``tapegrad._core`` under ``out_dir``; returns their folder."""
    import pybind11_stubgen
    from pybind11_stubgen.parser.mixins.parse import ExtractSignaturesFromPybind11Docstrings
    from pybind11_stubgen.structs import Identifier

    untyped_first = ExtractSignaturesFromPybind11Docstrings.handle_function

    def typed_first(self: Any, path: Any, func: Any) -> Any:
        doc = getattr(func, "__doc__", None)
        if isinstance(doc, str):
            parsed = self.parse_function_docstring(Identifier(path[-1]), doc.splitlines())
            if parsed:
                return parsed
        return untyped_first(self, path, func)

    ExtractSignaturesFromPybind11Docstrings.handle_function = typed_first
    try:
        pybind11_stubgen.main(["tapegrad._core", "--output-dir", str(out_dir), "--exit-code"])
    finally:
        ExtractSignaturesFromPybind11Docstrings.handle_function = untyped_first
    stubs = out_dir / "tapegrad" / "_core"
    init = stubs / "__init__.pyi"
    init.write_text(_type_slots(init.read_text()))
    return stubs


def stale_files(generated: Path, committed: Path = STUB_DIR) -> list[str]:
    """The stub files that differ between two folders (missing on either side included), each
    with a unified diff."""
    names = sorted(
        {p.name for p in generated.glob("*.pyi")} | {p.name for p in committed.glob("*.pyi")}
    )
    out = []
    for name in names:
        new, old = generated / name, committed / name
        new_text = new.read_text() if new.exists() else ""
        old_text = old.read_text() if old.exists() else ""
        if new_text != old_text:
            diff = difflib.unified_diff(
                old_text.splitlines(),
                new_text.splitlines(),
                f"committed/{name}",
                f"generated/{name}",
                lineterm="",
                n=1,
            )
            out.append(f"{name}:\n" + "\n".join(list(diff)[:40]))
    return out


def _builtin_bool_in_dtype(text: str) -> str:
    """Inside ``class DType`` the name ``bool`` is the member tg.bool: its properties' ``-> bool``
    must say ``builtins.bool``."""
    start = text.index("\nclass DType:")
    end = text.index("\nclass ", start + 1)
    body = text[start:end].replace(") -> bool:", ") -> builtins.bool:")
    text = text[:start] + body + text[end:]
    return text.replace("import collections.abc\n", "import builtins\nimport collections.abc\n", 1)


def _type_handwritten_class(text: str, name: str, properties: dict[str, str]) -> str:
    """A hand-written type's constructor (typed from the line after its text signature, as
    for the bindings) and properties in place of the untyped ``__new__`` the stub shows."""
    import tapegrad._core

    cls = getattr(tapegrad._core, name)
    typed_line = cls.__doc__.splitlines()[0]
    match = re.fullmatch(rf"{name}\((.*)\)", typed_line)
    if match is None:
        raise ValueError(f"{name}'s docstring does not start with its typed signature")
    params = ", ".join(["self", *filter(None, [match.group(1)])])
    members = [f"    def __init__({params}) -> None:\n        ...\n"]
    for attr, annotation in properties.items():
        doc = cls.__dict__[attr].__doc__
        members.append(
            f'    @property\n    def {attr}(self) -> {annotation}:\n        """{doc}"""\n'
        )
    new = re.compile(
        rf"(^class {name}:\n(?:    .*\n|\s*\n)*?)    @staticmethod\n    def __new__\(type, \*args, "
        rf'\*\*kwargs\):\n        """\n        .*\n        """\n',
        re.MULTILINE,
    )
    text, count = new.subn(lambda m: m.group(1) + "".join(members), text)
    if count != 1:
        raise ValueError(f"the stub of {name} has no __new__ to replace")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        generated = generate(Path(tmp))
        stale = stale_files(generated)
        if args.check:
            for entry in stale:
                print(entry, file=sys.stderr)
            if stale:
                print("stale stubs: run python tools/gen_stub.py", file=sys.stderr)
            return 1 if stale else 0
        STUB_DIR.mkdir(exist_ok=True)
        for old in STUB_DIR.glob("*.pyi"):
            old.unlink()
        for new in generated.glob("*.pyi"):
            (STUB_DIR / new.name).write_text(new.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
