"""The op registry as rows for people: `mnas ops` and the op table of docs/spec.md, both
generated from each op's `OpDef` (its role, inputs, `doc`, `init`), its params dataclass (fields,
types, defaults) and the first docstring line of its shape rule and count function."""

from __future__ import annotations

import typing
from dataclasses import MISSING, fields
from typing import Any

from mnas.ops.params import type_name
from mnas.ops.registry import OpDef, all_ops

DOC_BEGIN = "<!-- op table: generated from the op registry by `python -m mnas ops --format " \
    "markdown`; docs/update_op_table.py rewrites it -->"
DOC_END = "<!-- end of op table -->"


def yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    return str(value)


def field_rows(op: OpDef) -> list[dict[str, Any]]:
    """The op's YAML fields: name, type, and default (absent when required)."""
    hints = typing.get_type_hints(op.params)
    out = []
    for f in fields(op.params):
        row: dict[str, Any] = {"name": f.name, "type": type_name(hints[f.name])}
        if f.default is not MISSING:
            row["default"] = f.default
        out.append(row)
    return out


def fields_text(op: OpDef) -> str:
    parts = [f"`{r['name']}`" + (f" ({yaml_value(r['default'])})" if "default" in r else "")
             for r in field_rows(op)]
    return ", ".join(parts) or "–"


def inputs_text(op: OpDef) -> str:
    if op.max_inputs is None:
        return f"≥ {op.min_inputs}"
    if op.max_inputs == op.min_inputs:
        return str(op.min_inputs)
    return f"{op.min_inputs}–{op.max_inputs}"


def first_line(fn) -> str:
    doc = (getattr(fn, "__doc__", None) or "").strip()
    return doc.splitlines()[0].strip() if doc else "–"


def notes(op: OpDef) -> str:
    """The params dataclass's docstring (what its fields mean), if it has its own."""
    doc = (op.params.__doc__ or "").strip()
    return "" if doc.startswith(f"{op.params.__name__}(") else " ".join(doc.split())


def op_rows(names: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per op (all, or `names`), in name order."""
    ops = all_ops()
    rows = []
    for name in sorted(names if names is not None else ops):
        op = ops[name]
        rows.append({"op": name, "role": op.role, "inputs": inputs_text(op),
                     "fields": fields_text(op), "shape": first_line(op.infer_shape),
                     "counted": first_line(op.count), "meaning": op.doc, "init": op.init})
    return rows


def op_details(names: list[str] | None = None) -> list[dict[str, Any]]:
    """Everything `op_rows` says, structured (`mnas ops --format json`)."""
    ops = all_ops()
    out = []
    for row in op_rows(names):
        op = ops[row["op"]]
        out.append({"op": op.name, "role": op.role, "label": op.short,
                    "inputs": {"min": op.min_inputs, "max": op.max_inputs},
                    "fields": field_rows(op), "field_notes": notes(op), "shape": row["shape"],
                    "counted": row["counted"], "fully_connected": op.fc,
                    "meaning": op.doc, "init": op.init})
    return out


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table() -> str:
    """The op table of docs/spec.md, and what the fields mean where an op says so."""
    lines = ["| op | role | inputs | fields (default) | shape | counted | what it does |",
             "|---|---|---|---|---|---|---|"]
    for r in op_rows():
        lines.append("| " + " | ".join(_md(x) for x in (
            f"`{r['op']}`", r["role"], r["inputs"], r["fields"], r["shape"], r["counted"],
            r["meaning"])) + " |")
    ops = all_ops()
    explained = [(name, notes(ops[name])) for name in sorted(ops) if notes(ops[name])]
    if explained:
        lines += ["", "Fields:", ""] + [f"- `{name}`: {text}" for name, text in explained]
    return "\n".join(lines)


def with_table(doc: str) -> str:
    """`doc` (docs/spec.md's text) with the op table between its markers regenerated."""
    start, end = doc.index(DOC_BEGIN) + len(DOC_BEGIN), doc.index(DOC_END)
    return doc[:start] + "\n" + markdown_table() + "\n" + doc[end:]
