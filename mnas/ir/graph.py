"""Graph IR: `Node` and `Graph` are frozen, hashable records; passes are plain functions over
them (`lint`, `infer_shapes`, `cost_graph`, `to_module`, `to_dot`) that never write into
nodes. networkx is a view (`Graph.to_networkx`) for graph algorithms, not the storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Origin:
    """Where a node was written: file, line, column and the field path inside the spec."""

    file: str
    line: int | None = None
    col: int | None = None
    field: str = ""

    def __str__(self) -> str:
        return ":".join(str(p) for p in (self.file, self.line, self.col) if p is not None)


@dataclass(frozen=True)
class Scope:
    """One level of nesting a node sits in: a named group or block instance, and, when it
    comes from `repeat`/`for`, its position (1-based) among `count` siblings."""

    name: str
    block: str | None = None
    index: int | None = None
    count: int | None = None


@dataclass(frozen=True)
class Node:
    """One layer. `name` is the full dotted path (`stage1.unit2.dense.conv`), `op` a registry
    name, `inputs` the names of the producing nodes in order, `params` the op's frozen params."""

    name: str
    op: str
    inputs: tuple[str, ...]
    params: Any
    origin: Origin | None = field(default=None, compare=False)
    scopes: tuple[Scope, ...] = field(default=(), compare=False)

    @property
    def block(self) -> str:
        """The enclosing group or block instance (`stage1.unit2.dense`), or the node itself."""
        head, _, _ = self.name.rpartition(".")
        return head or self.name

    @property
    def stage(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True)
class Graph:
    """A network: nodes in topological order; the first is the `input` node and the last is
    the output."""

    name: str
    nodes: tuple[Node, ...]

    @cached_property
    def by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    def __getitem__(self, name: str) -> Node:
        return self.by_name[name]

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def input(self) -> Node:
        return self.nodes[0]

    @property
    def output(self) -> Node:
        return self.nodes[-1]

    @cached_property
    def users(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {n.name: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                if i in out:
                    out[i].append(n.name)
        return {k: tuple(v) for k, v in out.items()}

    def to_networkx(self):
        import networkx as nx
        g = nx.DiGraph(name=self.name)
        for n in self.nodes:
            g.add_node(n.name, op=n.op, params=n.params)
        for n in self.nodes:
            for i, src in enumerate(n.inputs):
                g.add_edge(src, n.name, index=i)
        return g
