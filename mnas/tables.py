"""Render a DataFrame as a table (rich), CSV, JSON or Markdown: the one formatter every
command shares, so `--format` means the same everywhere."""

from __future__ import annotations

import io
import json
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
        return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:.4g}"
    return str(value)


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


def format_frame(df, fmt: str = "table", title: str | None = None, caption: str | None = None,
                 width: int | None = None) -> str:
    """`df` in the chosen format; table and markdown carry the title and caption (for
    example the convention used), csv and json carry data only."""
    if fmt == "csv":
        return df.to_csv(index=False).rstrip("\n")
    if fmt == "json":
        return json.dumps(df.to_dict(orient="records"), default=json_default, indent=2)
    if fmt == "markdown":
        head = "| " + " | ".join(map(str, df.columns)) + " |"
        sep = "| " + " | ".join("---:" if df[c].dtype.kind in "iuf" else "---"
                                for c in df.columns) + " |"
        rows = ["| " + " | ".join(_cell(v) for v in row) + " |"
                for row in df.itertuples(index=False)]
        parts = ([f"**{title}**", ""] if title else []) + [head, sep, *rows]
        return "\n".join(parts + ([f"", caption] if caption else []))
    if fmt == "table":
        from rich.console import Console
        from rich.table import Table
        table = Table(title=title, title_justify="left")
        for c in df.columns:
            table.add_column(str(c), justify="right" if df[c].dtype.kind in "iuf" else "left")
        for row in df.itertuples(index=False):
            table.add_row(*(_cell(v) for v in row))
        buf = io.StringIO()
        Console(file=buf, width=width or _width(), force_terminal=False, color_system=None).print(table)
        return buf.getvalue().rstrip("\n") + (f"\n{caption}" if caption else "")
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
