"""Block level of `mnas render`: the network as its blocks (like the MeliusNet paper's Figure
1b). Plain groups with sub-blocks (stages) become clusters; block instances become boxes;
consecutive repeats of the same structure (`repeat`, `for`) collapse into one box marked
"× n"."""

from __future__ import annotations

from dataclasses import dataclass, field

from mnas.ir.graph import Graph, Scope
from mnas.ops.registry import role_of
from mnas.render.canvas import Canvas
from mnas.render.fold import fold_plan
from mnas.render.labels import describe, fmt_shape

#: roles of the layers a block box lists; the rest (norms, binarizers, activations, merges)
#: are implied
NOTABLE = frozenset({"compute", "pool", "reshape", "other"})
MAX_OP_LINES = 6


@dataclass
class _Tree:
    """A scope and what sits directly in it, in network order (build-time only)."""

    path: tuple[str, ...]
    scope: Scope | None
    entries: list = field(default_factory=list)  # ("node", name) or ("scope", _Tree)

    @property
    def children(self) -> list[_Tree]:
        return [e for kind, e in self.entries if kind == "scope"]

    def nodes(self) -> list[str]:
        out: list[str] = []
        for kind, e in self.entries:
            out.extend([e] if kind == "node" else e.nodes())
        return out

    def iterated(self) -> bool:
        """Whether this scope or one inside it comes from `repeat` or `for`."""
        return (self.scope is not None and self.scope.index is not None) or \
            any(c.iterated() for c in self.children)

    def is_cluster(self) -> bool:
        """Plain groups with sub-blocks, and blocks that repeat something inside, are drawn as
        clusters; everything else is one box."""
        kids = self.children
        return bool(kids) and (self.scope.block is None or any(c.iterated() for c in kids))


def _scope_tree(graph: Graph) -> _Tree:
    root = _Tree((), None)
    trees = {(): root}
    for node in graph.nodes:
        parent = root
        for depth, scope in enumerate(node.scopes):
            path = tuple(s.name for s in node.scopes[:depth + 1])
            tree = trees.get(path)
            if tree is None:
                tree = trees[path] = _Tree(path, scope)
                parent.entries.append(("scope", tree))
            parent = tree
        parent.entries.append(("node", node.name))
    return root


@dataclass
class _Item:
    """A box to be, before runs of identical repeats are merged."""

    members: list[str]
    tree: _Tree | None = None  # the scope it draws, or None for loose layers
    key: str | None = None  # loose layers: the layer they are drawn with


class BlockLevel:
    def __init__(self, ctx: Canvas):
        self.ctx = ctx
        self.graph = ctx.graph
        self.folds = fold_plan(ctx.graph)

    def run(self) -> None:
        self.emit(_scope_tree(self.graph), None)

    def emit(self, tree: _Tree, cluster: str | None) -> None:
        pending: list[_Item] = []
        for kind, entry in tree.entries:
            if kind == "node":
                node = self.graph[entry]
                last = pending[-1] if pending else None
                if node.op == "input":
                    self.flush(pending, cluster)
                    self.ctx.add_box("input", (fmt_shape(self.ctx.shapes[entry]),), (entry,),
                                     cluster, precision="none", kind="input")
                else:  # loose layers: BN/sign/ReLU go with their conv, as `--fold` draws them
                    key = self.folds.get(entry, entry)
                    if last is not None and last.tree is None and last.key == key:
                        last.members.append(entry)
                    else:
                        pending.append(_Item([entry], key=key))
            elif entry.is_cluster():
                self.flush(pending, cluster)
                self.emit(entry, self.ctx.add_cluster(scope_label(entry.scope), cluster))
            else:
                pending.append(_Item(entry.nodes(), entry))
        self.flush(pending, cluster)

    def flush(self, pending: list[_Item], cluster: str | None) -> None:
        """Draw the pending items, merging runs of identical repeated scopes into one box."""
        i = 0
        while i < len(pending):
            run = [pending[i]]
            while i + len(run) < len(pending) and self.continues(run[-1], pending[i + len(run)]):
                run.append(pending[i + len(run)])
            self.draw(run, cluster)
            i += len(run)
        pending.clear()

    def continues(self, a: _Item, b: _Item) -> bool:
        if a.tree is None or b.tree is None:
            return False
        sa, sb = a.tree.scope, b.tree.scope
        return (sa.index is not None and sb.index == sa.index + 1 and sa.count == sb.count
                and self.signature(a.tree) == self.signature(b.tree))

    def signature(self, tree: _Tree) -> tuple:
        """The structure of a scope with names made relative and channel counts left out,
        so repeats that differ only in width compare equal."""
        prefix = ".".join(tree.path) + "."
        members = tree.nodes()
        inside = set(members)

        def rel(name: str) -> str:
            return name[len(prefix):] if name in inside and name.startswith(prefix) else "^"

        return (tree.scope.block,) + tuple(
            (rel(n), self.graph[n].op, self.graph[n].params,
             tuple(rel(i) for i in self.graph[n].inputs)) for n in members)

    def draw(self, run: list[_Item], cluster: str | None) -> None:
        ctx, first, last = self.ctx, run[0], run[-1]
        members = tuple(m for item in run for m in item.members)
        tree = first.tree
        if tree is None:
            title = first.key.rpartition(".")[2]
        else:
            title = tree.scope.name
            if len(run) > 1:
                title = _run_title([item.tree.scope for item in run])
        lines: list[str] = []
        if tree is not None and tree.scope.block and tree.scope.block != tree.scope.name:
            kids = [c.scope.name for c in tree.children]
            lines.append(tree.scope.block + (": " + " → ".join(kids) if kids else ""))
        notable = [m for m in first.members if role_of(self.graph[m].op) in NOTABLE]
        if not notable and tree is None:
            notable = list(first.members)
        descs: dict[str, int] = {}
        for m in notable:
            d = describe(self.graph[m], ctx.in_shapes(self.graph[m]), ctx.shapes[m])
            descs[d] = descs.get(d, 0) + 1
        ops = [f"{k}× {d}" if k > 1 else d for d, k in descs.items()]
        if len(ops) > MAX_OP_LINES:
            ops = ops[:MAX_OP_LINES - 1] + [f"… {len(ops) - MAX_OP_LINES + 1} more"]
        lines.extend(ops)
        c_in = self.input_channels(members)
        c_out = ctx.shapes[last.members[-1]][0]
        if c_in is not None and c_in != c_out:
            lines.append(f"{c_in} → {c_out} channels")
        ctx.add_box(title, lines, members, cluster, precision=ctx.precision_of(members),
                    repeat=len(run))

    def input_channels(self, members: tuple[str, ...]) -> int | None:
        inside = set(members)
        for m in members:
            for i in self.graph[m].inputs:
                if i not in inside:
                    return self.ctx.shapes[i][0]
        return None


def scope_label(scope: Scope) -> str:
    label = scope.name
    if scope.block and scope.block != scope.name:
        label += f" · {scope.block}"
    return label


def _run_title(scopes: list[Scope]) -> str:
    """"unit × 4" for a whole repeat; "sep7–sep11 × 5" for part of one."""
    n, first, last = len(scopes), scopes[0], scopes[-1]
    base = first.name[:-len(str(first.index))] if first.name.endswith(str(first.index)) else ""
    whole = first.index == 1 and last.index == first.count
    if whole and base and all(s.name == f"{base}{s.index}" for s in scopes):
        return f"{base} × {n}"
    return f"{first.name}–{last.name} × {n}"
