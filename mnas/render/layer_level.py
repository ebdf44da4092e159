"""Layer level of `mnas render`: one box per IR node, in clusters for the scopes they sit in;
`fold` draws the BatchNorm/sign/ReLU chains with the conv or linear layer they belong to."""

from __future__ import annotations

from mnas.ir.graph import Scope
from mnas.ops.registry import get_op
from mnas.render.block_level import scope_label
from mnas.render.canvas import Canvas
from mnas.render.fold import fold_plan
from mnas.render.labels import describe, fmt_shape

class LayerLevel:
    def __init__(self, ctx: Canvas, fold: bool):
        self.ctx, self.graph = ctx, ctx.graph
        self.folded = fold_plan(self.graph) if fold else {}
        self.index = {n.name: i for i, n in enumerate(self.graph.nodes)}

    def run(self) -> None:
        ctx, graph = self.ctx, self.graph
        clusters: dict[tuple[str, ...], str] = {}
        kept = {n.name for n in graph.nodes if n.name not in self.folded}
        needed = {tuple(s.name for s in graph[n].scopes[:d + 1])
                  for n in kept for d in range(len(graph[n].scopes))}
        grouped: dict[str, list[str]] = {}
        for name, rep in self.folded.items():
            grouped.setdefault(rep, []).append(name)
        for node in graph.nodes:
            if node.name in self.folded:
                continue
            parent = None
            for depth, scope in enumerate(node.scopes):
                path = tuple(s.name for s in node.scopes[:depth + 1])
                if path in needed and path not in clusters:
                    clusters[path] = ctx.add_cluster(_layer_scope_label(scope), parent)
                parent = clusters.get(path, parent)
            folded = sorted(grouped.get(node.name, ()), key=self.position)
            members = tuple(sorted([node.name, *folded], key=self.position))
            me = self.position(node.name)
            before = [get_op(graph[m].op).short for m in folded if self.position(m) < me]
            after = [get_op(graph[m].op).short for m in folded if self.position(m) > me]
            title = node.name.rpartition(".")[2]
            desc = describe(node, ctx.in_shapes(node), ctx.shapes[node.name])
            lines = [] if desc.replace(" ", "_").lower() == title.lower() else [desc]
            if node.op == "input":
                lines = [fmt_shape(ctx.shapes[node.name])]
            if before:
                lines.append("after " + " → ".join(before))
            if after:
                lines.append("then " + " → ".join(after))
            precision = ctx.precision_of([node.name]) if node.op != "input" else "none"
            ctx.add_box(title, lines, members, parent,
                        precision=precision, kind="input" if node.op == "input" else "layer")

    def position(self, name: str) -> int:
        return self.index[name]


def _layer_scope_label(scope: Scope) -> str:
    label = scope_label(scope)
    if scope.index is not None:
        label += f" ({scope.index}/{scope.count})"
    return label
