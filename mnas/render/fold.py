"""Which norm, binarize and activation layers (BatchNorm, sign, ReLU, ...) a diagram draws with
the compute layer (conv, linear) they belong to (`mnas render --fold`, and the block level's
loose layers). Ops are told apart by their registry `role`, never by name."""

from __future__ import annotations

from mnas.ir.graph import Graph, Node
from mnas.ops.registry import role_of

#: roles of the layers `fold` draws with the layer they belong to, and of those layers
FOLDABLE = frozenset({"norm", "binarize", "activation"})
FOLD_INTO = frozenset({"compute"})


def fold_plan(graph: Graph) -> dict[str, str]:
    """Which BatchNorm/sign/ReLU nodes `--fold` draws with which conv or linear layer (node ->
    layer). A chain that binarises a layer's input (BN → sign → binary conv) goes with the
    layer it feeds; other chains go with the layer they follow (conv → BN → ReLU) or, failing
    that, with the layer they feed (ReLU → transition conv). Chains stay within one scope, so
    clusters keep their meaning."""
    users = graph.users
    owner: dict[str, str] = {}
    targets = [n for n in graph.nodes if role_of(n.op) in FOLD_INTO]

    def foldable(node: Node, target: Node) -> bool:
        return (role_of(node.op) in FOLDABLE and node.name not in owner
                and [s.name for s in node.scopes] == [s.name for s in target.scopes])

    def before(target: Node) -> list[str]:
        chain, cur = [], target
        while len(cur.inputs) == 1:
            prev = graph[cur.inputs[0]]
            if not foldable(prev, target) or len(users[prev.name]) != 1:
                break
            chain.append(prev.name)
            cur = prev
        return chain

    def after(target: Node) -> list[str]:
        chain, cur = [], target
        while len(users[cur.name]) == 1:
            nxt = graph[users[cur.name][0]]
            if not foldable(nxt, target) or role_of(nxt.op) == "binarize" or \
                    len(nxt.inputs) != 1:
                break
            chain.append(nxt.name)
            cur = nxt
        return chain

    for target in targets:  # BN -> sign -> binary conv
        chain = before(target)
        if any(role_of(graph[n].op) == "binarize" for n in chain):
            owner.update(dict.fromkeys(chain, target.name))
    for target in targets:  # conv -> BN -> ReLU
        owner.update(dict.fromkeys(after(target), target.name))
    for target in targets:  # ReLU -> conv
        owner.update(dict.fromkeys(before(target), target.name))
    return owner
