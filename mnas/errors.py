"""Errors a user can cause. The CLI prints `str(err)` as one line and exits non-zero;
any other exception is a bug in mnas and keeps its traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MnasError(Exception):
    """Base of every error caused by input (a spec, an option, a file)."""


class SpecError(MnasError):
    """A spec is malformed: names the file, line, column and field."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 col: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message, self.file, self.line, self.col, self.field = message, file, line, col, field

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.col) if p is not None)
        parts = [p for p in (where, self.field) if p]
        return ": ".join(parts + [self.message])


class ShapeError(MnasError):
    """Shapes do not fit: names the layer and, for a mismatch, the other layer involved."""

    def __init__(self, message: str, *, node: str, other: str | None = None, where: str | None = None):
        super().__init__(message)
        self.message, self.node, self.other, self.where = message, node, other, where

    def __str__(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        return f"{prefix}layer '{self.node}': {self.message}"


class GraphError(MnasError):
    """The graph is not well formed (unknown input, cycle, duplicate name)."""


class BudgetError(MnasError):
    """An unknown budget or an impossible constraint."""


class StudyError(MnasError):
    """A search study that cannot be opened or read, does not match the options, or has no
    candidates to report."""


class RenderError(MnasError):
    """A diagram could not be produced."""


class MissingDependency(MnasError):
    """An optional Python package that this feature needs is not installed; says how to get
    it."""

    #: import name -> what `pip install` takes
    PIP_NAMES = {"sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml"}

    def __init__(self, module: str, needed_for: str):
        self.module = module
        pip = self.PIP_NAMES.get(module, module)
        super().__init__(f"{needed_for} needs the Python package '{pip}', which is not "
                         f"installed: pip install {pip}")


class MnasWarning(UserWarning):
    """Legal but probably a mistake."""


def suggest(name: object, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
