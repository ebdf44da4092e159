"""The shared state of one layout run (`Canvas`): boxes and clusters as they are added, the
IR node each box draws, and the edges between boxes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mnas.cost.model import LayerCost
from mnas.ir.graph import Graph, Node
from mnas.ops.registry import Shape
from mnas.render.diagram import Box, Cluster, Edge
from mnas.render.labels import fmt_count, fmt_params, fmt_shape


@dataclass
class Canvas:
    """The boxes and clusters of one layout run as they are added, and which box draws
    each IR node."""

    graph: Graph
    shapes: dict[str, Shape]
    rows: dict[str, LayerCost]
    with_costs: bool
    boxes: list[Box] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    owner: dict[str, str] = field(default_factory=dict)  # IR node -> box id

    def in_shapes(self, node: Node) -> tuple[Shape, ...]:
        return tuple(self.shapes[i] for i in node.inputs)

    def add_cluster(self, label: str, parent: str | None) -> str:
        cid = f"c{len(self.clusters)}"
        self.clusters.append(Cluster(cid, label, parent))
        return cid

    def add_box(self, title: str, lines: Iterable[str], members: tuple[str, ...],
                cluster: str | None, *, precision: str, repeat: int = 1,
                kind: str = "block") -> Box:
        bid = f"n{len(self.boxes)}"
        ops = params = None
        lines = tuple(lines)
        if self.with_costs:
            ops = sum(self.rows[m].ops for m in members)
            params = sum(self.rows[m].params for m in members)
            if ops or params:
                lines += (f"OPs {fmt_count(ops)} · params {fmt_params(params)}",)
        box = Box(bid, title, lines, precision, members, cluster, repeat, kind, ops, params)
        self.boxes.append(box)
        for m in members:
            self.owner[m] = bid
        return box

    def edges(self) -> tuple[Edge, ...]:
        """One edge per tensor crossing boxes (per box pair at block level)."""
        out: list[Edge] = []
        seen: set[tuple[str, str]] = set()
        for node in self.graph.nodes:
            dst = self.owner[node.name]
            for pos, src_name in enumerate(node.inputs):
                src = self.owner[src_name]
                if src == dst or (src, dst) in seen:
                    continue
                seen.add((src, dst))
                shape = self.shapes[src_name]
                if node.op == "add_last" and pos == 1:
                    c = self.shapes[node.inputs[0]][0]
                    first = c - shape[0]
                    out.append(Edge(src, dst, shape, f"{fmt_shape(shape)}\nonto ch "
                                    f"{first}–{c - 1}", "add_last"))
                else:
                    out.append(Edge(src, dst, shape, fmt_shape(shape)))
        return tuple(out)

    def precision_of(self, members: Iterable[str]) -> str:
        """Binary, 32-bit or mixed by the members that compute (MACs); a box without MACs
        takes the precision of its parameters (BatchNorm: 32-bit), else none."""
        rows = [self.rows[m] for m in members]
        kinds = {r.precision for r in rows if r.macs} or {r.precision for r in rows}
        kinds.discard("-")
        if not kinds:
            return "none"
        return kinds.pop() if len(kinds) == 1 else "mixed"
