"""Spec values in the two other forms passes need: `plain` (builtin lists and dicts, for
writing YAML back or comparing) and `freeze` (hashable, for cache keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def plain(value: Any) -> Any:
    """Lists and tuples become lists, mappings dicts, recursively (positions are dropped)."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def freeze(value: Any) -> Any:
    """A hashable stand-in: lists become tuples, mappings sorted item tuples. Raises
    TypeError for a value that cannot be made hashable."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    hash(value)
    return value
