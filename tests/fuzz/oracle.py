"""The fuzz property: every step of a case returns or raises a clear Python exception.

A clear exception is one of the families a user can catch and read (ValueError, TypeError,
IndexError, OverflowError, NotImplementedError, FileNotFoundError, tapegrad's FloatingPointError
for non-finite training, RuntimeError carrying tapegrad's own message, and MemoryError for a
tensor within the size limit that the machine cannot hold, as NumPy raises it; tensors past the
limit are a ValueError before anything is allocated). Everything else is a failure: a crash or
hang (caught by run.py's subprocesses), an exception of another type (AttributeError, KeyError,
ZeroDivisionError, SystemError, ...), or an expected type
whose text comes from a layer below tapegrad (pybind11's cast errors, the C++ standard library,
a decoder) instead of naming the shapes or dtypes involved.
"""

from __future__ import annotations

import json
import re
import traceback
import warnings
import zipfile
from dataclasses import dataclass
from typing import Optional

EXPECTED = (
    ValueError,
    TypeError,
    IndexError,
    OverflowError,
    NotImplementedError,
    FileNotFoundError,
    FloatingPointError,
    RuntimeError,
    MemoryError,
)

# Subclasses of an expected type that still mean the input reached a layer that did not check it.
UNEXPECTED_SUBCLASSES = (UnicodeError, json.JSONDecodeError, RecursionError, zipfile.BadZipFile)

# Texts of errors raised below tapegrad: pybind11's argument casting, the C++ standard library's
# exceptions (translated by pybind11 to RuntimeError/ValueError/IndexError), the OS.
# (pybind11's "incompatible function arguments" TypeError is Python's usual answer to an argument
# of the wrong type for a C++ function: it names the signature, so it counts as clear.)
FOREIGN_TEXT = re.compile(
    r"Unable to cast|Unable to convert|"
    r"vector::|basic_string|_M_|std::|bad_alloc|bad_array_new_length|"
    r"Resource temporarily unavailable|Caught an unknown exception|pybind11"
)


@dataclass(frozen=True)
class Outcome:
    """What one step did: ``None`` error means it returned."""

    error: Optional[str] = None  # "TypeName: message"
    failure: Optional[str] = None  # why the property does not hold, None when it holds


def classify(exc: BaseException) -> Optional[str]:
    """None when ``exc`` is a clear Python exception, else why it is not."""
    name = type(exc).__name__
    text = str(exc)
    if isinstance(exc, UNEXPECTED_SUBCLASSES):
        return f"{name} is not a checked input error"
    if not isinstance(exc, EXPECTED):
        return f"unexpected exception type {name}"
    if FOREIGN_TEXT.search(text):
        return f"{name} raised below tapegrad: {text[:200]!r}"
    if not text.strip():
        return f"{name} without a message"
    return None


def run_step(code: str, namespace: dict) -> Outcome:
    """Executes one step of a case; an exception is classified, anything else holds."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(code, "<fuzz case>", "exec"), namespace)
    except Exception as exc:
        reason = classify(exc)
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
        if reason is not None:
            tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
            reason += "\n" + "".join(tb[-6:])
        return Outcome(error, reason)
    return Outcome()
