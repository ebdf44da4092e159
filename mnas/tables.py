"""Render rows as a table (rich), CSV, JSON or Markdown: the one formatter every command
shares, so `--format` means the same everywhere. Rows are plain dicts (or a DataFrame), so
printing a table does not need pandas."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

FORMATS = ("table", "csv", "json", "markdown")


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "-"
        if value.is_integer() or abs(value) >= 1e5:    # whole numbers print as integers
            return f"{value:,.0f}"
        return f"{value:.4g}"
    if value is None:
        return "-"
    return str(value)


def whole(value: Any) -> Any:
    """A number as scripts read it: numpy scalars as Python numbers, whole floats as ints
    (an OPs figure of 50176.0 is 50176 in every format)."""
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict, str)):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def json_default(value: Any):
    """numpy scalars and tuples from DataFrames, as plain JSON."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _width() -> int:
    """The terminal's width; wide when piped, so rows are not wrapped in files."""
    import shutil
    import sys
    return shutil.get_terminal_size((200, 24)).columns if sys.stdout.isatty() else 200


def records(data) -> tuple[list[str], list[dict]]:
    """(columns, rows as dicts) of a DataFrame or a list of dicts."""
    if hasattr(data, "to_dict"):
        return [str(c) for c in data.columns], data.to_dict(orient="records")
    rows = list(data)
    return (list(rows[0]) if rows else []), rows


def _numeric(rows: Sequence[dict], column: str) -> bool:
    values = [r[column] for r in rows if r[column] is not None]
    return bool(values) and all((isinstance(v, (int, float)) or hasattr(v, "item"))
                                and not isinstance(v, bool) and str(v) not in ("True", "False")
                                for v in values)


def format_table(data, fmt: str = "table", title: str | None = None, caption: str | None = None,
                 width: int | None = None) -> str:
    """`data` (a DataFrame or a list of dicts) in the chosen format; table and markdown carry
    the title and caption (for example the convention used), csv and json carry data only."""
    columns, rows = records(data)
    if fmt in ("csv", "json"):
        rows = [{k: whole(v) for k, v in r.items()} for r in rows]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    if fmt == "json":
        return json.dumps(rows, default=json_default, indent=2)
    numeric = {c: _numeric(rows, c) for c in columns}
    if fmt == "markdown":
        head = "| " + " | ".join(columns) + " |"
        sep = "| " + " | ".join("---:" if numeric[c] else "---" for c in columns) + " |"
        body = ["| " + " | ".join(_cell(r[c]) for c in columns) + " |" for r in rows]
        parts = ([f"**{title}**", ""] if title else []) + [head, sep, *body]
        return "\n".join(parts + (["", caption] if caption else []))
    if fmt == "table":
        from rich.console import Console
        from rich.table import Table
        table = Table(title=title, title_justify="left")
        for c in columns:
            table.add_column(c, justify="right" if numeric[c] else "left")
        for r in rows:
            table.add_row(*(_cell(r[c]) for c in columns))
        buf = io.StringIO()
        Console(file=buf, width=width or _width(), force_terminal=False,
                color_system=None).print(table)
        return buf.getvalue().rstrip("\n") + (f"\n{caption}" if caption else "")
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


format_frame = format_table
