"""Layout pass of `mnas render`: a Graph (with its shapes and, optionally, costs) becomes a
`Layout` (`mnas.render.diagram`), at one of two levels: `block` (`mnas.render.block_level`)
or `layer` (`mnas.render.layer_level`)."""

from __future__ import annotations

from mnas.cost.model import CostReport
from mnas.errors import RenderError, suggest
from mnas.ir.graph import Graph
from mnas.ops.registry import Shape
from mnas.render.block_level import BlockLevel
from mnas.render.canvas import Canvas
from mnas.render.diagram import PRECISIONS, Layout
from mnas.render.labels import fmt_count, fmt_params
from mnas.render.layer_level import LayerLevel

LEVELS = ("block", "layer")


def layout_graph(graph: Graph, shapes: dict[str, Shape], report: CostReport, *,
                 level: str = "block", fold: bool = False, costs: bool = False) -> Layout:
    """Lay out `graph` at `level` ("block" or "layer"). `report` (the graph's cost report)
    gives each box its precision; `costs` also writes each box's OPs and parameters, and the
    totals in the title."""
    if level not in LEVELS:
        raise RenderError(f"unknown level '{level}'{suggest(level, LEVELS)}; "
                          f"known: {', '.join(LEVELS)}")
    rows = {r.name: r for r in report.layers}
    ctx = Canvas(graph, shapes, rows, with_costs=costs)
    if level == "block":
        BlockLevel(ctx).run()
    else:
        LayerLevel(ctx, fold).run()
    edges = ctx.edges()
    used = {b.precision for b in ctx.boxes}
    legend = tuple(p for key, p in PRECISIONS.items() if key in used)
    title = [graph.name, f"{level} level" + (", folded" if fold and level == "layer" else "")]
    if costs:
        t, c = report.totals, report.convention
        title.append(f"OPs {fmt_count(t.ops)} = BOPs {fmt_count(t.bops)} / "
                     f"{c.binary_speedup:g} + FLOPs {fmt_count(t.flops)} · "
                     f"params {fmt_params(t.params)} (binary {fmt_params(t.binary_params)}) · "
                     f"{t.size_mib:.2f} {c.size_unit} · convention '{c.name}'")
    return Layout(graph.name, level, tuple(title), tuple(ctx.boxes), tuple(ctx.clusters),
                  edges, legend)
