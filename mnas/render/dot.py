"""DOT step of `mnas render`: a `Layout` becomes a graphviz `Digraph` (HTML-like labels, nested
clusters, precision colours, a legend in the graph's title), and graphviz's `dot` program draws
it as SVG, PNG or PDF. Without `dot`, the DOT source is written instead so nothing is lost."""

from __future__ import annotations

import html
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from mnas.errors import MissingDependency, RenderError
from mnas.render.diagram import PRECISIONS, Box, Layout

__all__ = ["FORMATS", "INSTALL_HINT", "Rendered", "to_dot", "render", "dot_program"]

FORMATS = ("svg", "png", "pdf", "dot")
INSTALL_HINT = ("install graphviz (Debian/Ubuntu: sudo apt-get install graphviz; "
                "macOS: brew install graphviz)")
FONT = "Helvetica"
ADD_LAST_COLOUR = "#a61c00"


@dataclass(frozen=True)
class Rendered:
    """What `render` wrote: `path` (None for stdout) in `format`; `dot_missing` when the image
    could not be drawn and `path` holds the DOT source instead."""

    path: Path | None
    format: str
    dot_missing: bool = False


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _box_label(box: Box) -> str:
    title = _esc(box.title)
    rows = [f"<B>{title}</B>" if box.kind != "input" else title]
    rows += [f'<FONT POINT-SIZE="9">{_esc(line)}</FONT>' for line in box.lines]
    return "<" + "<BR/>".join(rows) + ">"


def _title_label(layout: Layout) -> str:
    """Title lines, then the legend of the precisions in use (as the graph's label, so the
    legend adds no node to the drawing)."""
    head, *rest = layout.title
    rows = [f'<TR><TD><FONT POINT-SIZE="16"><B>{_esc(head)}</B></FONT></TD></TR>']
    rows += [f'<TR><TD><FONT POINT-SIZE="10">{_esc(line)}</FONT></TD></TR>' for line in rest]
    chips = "".join(f'<TD BGCOLOR="{p.colour}" BORDER="1" STYLE="ROUNDED">'
                    f'<FONT POINT-SIZE="10">{_esc(p.text)}</FONT></TD>' for p in layout.legend)
    if chips:  # colour chips: a nested table would be stretched to the title's width anyway
        rows.append(f'<TR><TD><TABLE BORDER="0" CELLSPACING="6" CELLPADDING="2"><TR>{chips}'
                    f'</TR></TABLE></TD></TR>')
    return f'<<TABLE BORDER="0" CELLSPACING="2" CELLPADDING="1">{"".join(rows)}</TABLE>>'


def _graphviz():
    try:
        import graphviz
    except ImportError:
        raise MissingDependency("graphviz", "drawing a diagram") from None
    return graphviz


def to_dot(layout: Layout):
    """The layout as a graphviz Digraph (its `.source` is the DOT text)."""
    graphviz = _graphviz()
    g = graphviz.Digraph(name=layout.name, graph_attr={
        "label": _title_label(layout), "labelloc": "t", "fontname": FONT, "rankdir": "TB",
        "nodesep": "0.25", "ranksep": "0.3", "newrank": "true", "compound": "true"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": FONT,
                   "fontsize": "11", "margin": "0.12,0.05", "penwidth": "0.8"},
        edge_attr={"fontname": FONT, "fontsize": "8", "arrowsize": "0.6", "penwidth": "0.8",
                   "color": "#555555", "fontcolor": "#333333"})
    children: dict[str | None, list] = {}
    for cluster in layout.clusters:
        children.setdefault(cluster.parent, []).append(cluster)
    boxes: dict[str | None, list[Box]] = {}
    for box in layout.boxes:
        boxes.setdefault(box.cluster, []).append(box)

    def fill(graph, cluster_id: str | None) -> None:
        for box in boxes.get(cluster_id, ()):
            attrs = {"fillcolor": PRECISIONS[box.precision].colour, "tooltip": box.members[0]}
            if box.kind == "input":
                attrs.update(shape="ellipse", style="filled")
            if box.repeat > 1:
                attrs.update(shape="box3d", style="filled")
            graph.node(box.id, _box_label(box), **attrs)
        for cluster in children.get(cluster_id, ()):
            with graph.subgraph(name=f"cluster_{cluster.id}") as sub:
                sub.attr(label=cluster.label, style="rounded,dashed", color="#888888",
                         fontname=FONT, fontsize="10", labeljust="l")
                fill(sub, cluster.id)

    fill(g, None)
    for edge in layout.edges:
        attrs = {"label": edge.label}
        if edge.kind == "add_last":
            attrs.update(color=ADD_LAST_COLOUR, fontcolor=ADD_LAST_COLOUR, penwidth="1.6",
                         arrowhead="onormal")
        g.edge(edge.src, edge.dst, **attrs)
    return g


def dot_program() -> str | None:
    """Where graphviz's `dot` is, or None."""
    return shutil.which("dot")


def render(layout: Layout, fmt: str, out: Path | None) -> Rendered:
    """Write `layout` as `fmt` to `out` (None: standard output). Without `dot`, an image
    request writes the DOT source next to `out` (`.dot`) and says so in the result."""
    if fmt not in FORMATS:
        raise RenderError(f"unknown format '{fmt}'; known: {', '.join(FORMATS)}")
    digraph = to_dot(layout)
    if fmt == "dot":
        _write(out, digraph.source.encode())
        return Rendered(out, fmt)
    data = image_bytes(digraph, fmt)
    if data is None:
        if out is None:
            raise RenderError(f"graphviz's 'dot' program was not found; {INSTALL_HINT}, "
                              f"or use --format dot")
        src = out.with_suffix(".dot")
        _write(src, digraph.source.encode())
        return Rendered(src, "dot", dot_missing=True)
    _write(out, data)
    return Rendered(out, fmt)


def image_bytes(digraph, fmt: str) -> bytes | None:
    """The drawn image, or None when `dot` is not installed."""
    graphviz = _graphviz()
    if dot_program() is None:
        return None
    try:
        return digraph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        return None
    except graphviz.CalledProcessError as err:
        detail = (err.stderr or b"").decode(errors="replace").strip().splitlines()
        raise RenderError(f"graphviz 'dot' failed: {detail[0] if detail else err}") from None


def _write(out: Path | None, data: bytes) -> None:
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as err:
        raise RenderError(f"cannot write {out}: {err.strerror or err}") from None
