"""The limits that keep reading and expanding a spec bounded in time and memory: a few bytes of
YAML must not be able to hang the process, exhaust its memory or its stack. Each limit is far
above anything a real network needs (the bundled MeliusNet59 expands to 459 layers); crossing
one is a SpecError that names the limit and where it was crossed. docs/spec.md lists them."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

MAX_FILE_BYTES = 1 << 20
"""A spec or block library file (1 MiB); only regular files are read."""

MAX_INCLUDE_DEPTH = 32
"""Files included from included files, from the network spec down."""

MAX_YAML_DEPTH = 64
"""Mappings and sequences nested inside each other in one YAML document."""

MAX_YAML_VALUES = 1_000_000
"""Values in one YAML document, counting every use of an `*alias` as a copy."""

MAX_INT_BITS = 1024
"""Bits of any integer a spec writes or an expression computes (floats end near 2**1024 too)."""

MAX_VALUE_SIZE = 100_000
"""Characters of a string, or items of a list counting nested items, that an expression or a
field builds."""

MAX_VALUE_DEPTH = 64
"""Lists (and mappings) nested inside each other in a value an expression or a field builds."""

MAX_EVAL_WORK = 10_000_000
"""Steps evaluating one spec may take: one per expression node evaluated and one per item of
each string or list built (by an expression or a field)."""

MAX_EXPR_DEPTH = 100
"""Nesting of an expression's syntax tree (`1+1+...+1` of N terms is N deep)."""

MAX_DIMENSION = 2 ** 31 - 1
"""Any input dimension or integer field of a layer (width, kernel, stride, ...), so that every
cost stays a finite float."""

MAX_NAME_LENGTH = 1_000
"""Characters of a layer's full dotted name (`stage1.unit2.dense.conv`)."""

MAX_SCOPE_DEPTH = 64
"""Block calls and groups nested inside each other."""

MAX_EXPANDED = 100_000
"""What a spec expands to: its layers and their inputs, block calls, groups and loop iterations
(`repeat`, `for`) together (MeliusNet59: 1,099)."""


_CONTAINERS = (list, tuple, dict, MappingProxyType)


def value_size(value: Any) -> int:
    """Characters of a string; items of a list or mapping, nested ones included (a list used
    twice counts twice); 1 for anything else. Counting stops just past MAX_VALUE_SIZE, so it
    costs at most that many steps. Raises TooDeep when lists nest past MAX_VALUE_DEPTH."""
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return 1
    total, stack = 0, [(value, 1)]
    while stack and total <= MAX_VALUE_SIZE:
        item, level = stack.pop()
        if level > MAX_VALUE_DEPTH:
            raise TooDeep(f"lists nested more than {MAX_VALUE_DEPTH} deep "
                          f"(limit: value depth {MAX_VALUE_DEPTH})")
        total += len(item)
        if total > MAX_VALUE_SIZE:
            break
        for child in item.values() if isinstance(item, (dict, MappingProxyType)) else item:
            if isinstance(child, str):
                total += len(child)
            elif isinstance(child, _CONTAINERS):
                stack.append((child, level + 1))
    return total


class TooDeep(Exception):
    """A value nests past MAX_VALUE_DEPTH; the message says so, the caller says where."""


def int_problem(bits: int) -> str:
    return f"an integer of {bits:,} bits (limit: integer size {MAX_INT_BITS} bits)"


def size_problem(size: int, exact: bool = True) -> str:
    shown = f"more than {MAX_VALUE_SIZE:,}" if not exact else f"{size:,}" if size < 10 ** 15 \
        else f"about 10^{len(str(size)) - 1}"
    return f"a value of {shown} items (limit: value size {MAX_VALUE_SIZE:,} items)"
