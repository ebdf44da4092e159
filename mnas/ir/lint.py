"""`lint`: the graph's invariants (fx's `lint`): unique names, known ops, input counts,
no dangling inputs, no cycles, a single input node first. Returns the graph reordered
topologically (stable), so specs may name later layers as inputs."""

from __future__ import annotations

from mnas.errors import GraphError, suggest
from mnas.ir.graph import Graph, Node
from mnas.ops.registry import get_op


def _at(node: Node) -> str:
    return f"{node.origin}: " if node.origin is not None else ""


def lint(graph: Graph) -> Graph:
    seen: dict[str, Node] = {}
    for node in graph.nodes:
        if node.name in seen:
            raise GraphError(f"{_at(node)}duplicate layer name '{node.name}' "
                             f"(first defined at {seen[node.name].origin})")
        seen[node.name] = node
    if not graph.nodes or graph.nodes[0].op != "input":
        raise GraphError(f"graph '{graph.name}' must start with an input node")
    for node in graph.nodes:
        op = get_op(node.op)
        if node.op == "input" and node is not graph.nodes[0]:
            raise GraphError(f"{_at(node)}layer '{node.name}': only one input node is allowed")
        n = len(node.inputs)
        if n < op.min_inputs or (op.max_inputs is not None and n > op.max_inputs):
            want = (f"{op.min_inputs}" if op.max_inputs == op.min_inputs
                    else f"at least {op.min_inputs}" if op.max_inputs is None
                    else f"{op.min_inputs} to {op.max_inputs}")
            raise GraphError(f"{_at(node)}layer '{node.name}': op '{node.op}' takes {want} "
                             f"input(s), got {n}")
        for src in node.inputs:
            if src not in seen:
                raise GraphError(f"{_at(node)}layer '{node.name}': unknown input '{src}'"
                                 f"{suggest(src, seen)}")
    return _topological(graph)


def _topological(graph: Graph) -> Graph:
    position = {n.name: i for i, n in enumerate(graph.nodes)}
    if all(position[src] < i for i, n in enumerate(graph.nodes) for src in n.inputs):
        return graph
    import networkx as nx
    g = graph.to_networkx()
    try:
        order = list(nx.lexicographical_topological_sort(g, key=position.__getitem__))
    except nx.NetworkXUnfeasible:
        cycle = [edge[0] for edge in nx.find_cycle(g)]
        first = graph[cycle[0]]
        raise GraphError(f"{_at(first)}cycle between layers: "
                         f"{' -> '.join(cycle + [cycle[0]])}") from None
    return Graph(graph.name, tuple(graph[name] for name in order))
