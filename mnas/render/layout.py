"""Layout pass of `mnas render`: a Graph (with its shapes and, optionally, costs) becomes plain
frozen data -- boxes, nested clusters, edges with tensor shapes, a precision legend -- that
`mnas.render.dot` turns into DOT text. Tests check this data rather than pixels, as Optuna's
plots do.

Two levels:
- `block`: the network as its blocks (like the MeliusNet paper's Figure 1b). Plain groups with
  sub-blocks (stages) become clusters; block instances become boxes; consecutive repeats of
  the same structure (`repeat`, `for`) collapse into one box marked "× n".
- `layer`: one box per IR node, in clusters for the scopes they sit in; `fold` draws the
  BatchNorm/sign/ReLU chains with the conv or linear layer they belong to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from mnas.cost.model import CostReport, LayerCost
from mnas.errors import RenderError, suggest
from mnas.ir.graph import Graph, Node, Scope
from mnas.ops.registry import Shape

__all__ = ["LEVELS", "PRECISIONS", "Box", "Cluster", "Edge", "Layout", "Precision",
           "layout_graph", "fold_plan", "describe", "fmt_shape"]

LEVELS = ("block", "layer")
#: elementwise/normalising ops that `fold` draws with the conv or linear layer they belong to
FOLDABLE = frozenset({"batchnorm", "sign", "relu"})
FOLD_INTO = frozenset({"conv2d", "linear"})
#: ops a block box lists by name; the rest (norm, activations, merges) are implied
NOTABLE = frozenset({"conv2d", "linear", "maxpool", "avgpool", "global_avgpool",
                     "channel_shuffle", "flatten"})
MAX_OP_LINES = 6
SHORT = {"batchnorm": "BN", "relu": "ReLU"}


@dataclass(frozen=True)
class Precision:
    """One legend entry: the fill colour of boxes whose compute has this precision."""

    key: str
    colour: str
    text: str


PRECISIONS: dict[str, Precision] = {p.key: p for p in (
    Precision("binary", "#9fc5e8", "binary (1-bit weights and activations)"),
    Precision("float", "#f9cb9c", "32-bit (full precision)"),
    Precision("mixed", "#d5a6bd", "binary and 32-bit"),
    Precision("none", "#eeeeee", "no weights"),
)}


@dataclass(frozen=True)
class Box:
    """One drawn node. `members` are the IR nodes it stands for, in network order (a folded
    conv with its BN/sign, or every layer of a block and its repeats). `ops`/`params` are the
    members' summed costs, present only when costs were asked for."""

    id: str
    title: str
    lines: tuple[str, ...]
    precision: str
    members: tuple[str, ...]
    cluster: str | None = None
    repeat: int = 1
    kind: str = "block"  # "input", "block" or "layer"
    ops: float | None = None
    params: int | None = None


@dataclass(frozen=True)
class Cluster:
    id: str
    label: str
    parent: str | None = None


@dataclass(frozen=True)
class Edge:
    """A tensor from one box to another. `kind` is "add_last" for the improvement block's
    input that is added onto the last channels of the other input."""

    src: str
    dst: str
    shape: Shape
    label: str
    kind: str = "data"


@dataclass(frozen=True)
class Layout:
    name: str
    level: str
    title: tuple[str, ...]
    boxes: tuple[Box, ...]
    clusters: tuple[Cluster, ...]
    edges: tuple[Edge, ...]
    legend: tuple[Precision, ...]

    def box_of(self, member: str) -> Box:
        """The box that draws IR node `member`."""
        for box in self.boxes:
            if member in box.members:
                return box
        raise KeyError(member)


def fmt_shape(shape: Shape) -> str:
    return "×".join(str(d) for d in shape)


def fmt_count(x: float) -> str:
    """Compact figures for labels: 4.62e9, 38.4k, 0."""
    if x == 0:
        return "0"
    if abs(x) >= 1e5:
        mantissa, exp = f"{x:.2e}".split("e")
        return f"{mantissa}e{int(exp)}"
    if abs(x) >= 1e3:
        return f"{x / 1e3:.3g}k"
    return f"{x:.3g}"


def fmt_params(n: int) -> str:
    if n >= 10 ** 6:
        return f"{n / 1e6:.3g}M"
    if n >= 10 ** 3:
        return f"{n / 1e3:.3g}k"
    return str(n)


def describe(node: Node, in_shapes: tuple[Shape, ...], out: Shape) -> str:
    """What one layer does, in a few words ("binary conv 3×3 → 64", "maxpool 2×2 /2")."""
    p = node.params
    if node.op == "conv2d":
        depthwise = p.groups > 1 and p.groups == in_shapes[0][0] == out[0]
        text = ("binary " if p.binary else "") + ("depthwise " if depthwise else "")
        text += f"conv {p.kernel}×{p.kernel}"
        text += f" /{p.stride}" if p.stride > 1 else ""
        text += f" g{p.groups}" if p.groups > 1 and not depthwise else ""
        text += f" d{p.dilation}" if p.dilation > 1 else ""
        return f"{text} → {out[0]}"
    if node.op == "linear":
        return ("binary " if p.binary else "") + f"fc → {out[0]}"
    if node.op in ("maxpool", "avgpool"):
        return f"{node.op} {p.kernel}×{p.kernel}" + (f" /{p.step}" if p.step > 1 else "")
    if node.op == "global_avgpool":
        return "global avgpool"
    if node.op == "channel_shuffle":
        return f"channel shuffle g{p.groups}"
    if node.op == "concat":
        return f"concat → {out[0]} ch"
    if node.op == "add_last":
        k, c = in_shapes[1][0], in_shapes[0][0]
        return f"add onto last {k} of {c} ch"
    if node.op == "input":
        return f"input {fmt_shape(out)}"
    return node.op


def layout_graph(graph: Graph, shapes: dict[str, Shape], report: CostReport, *,
                 level: str = "block", fold: bool = False, costs: bool = False) -> Layout:
    """Lay out `graph` at `level` ("block" or "layer"). `report` (the graph's cost report)
    gives each box its precision; `costs` also writes each box's OPs and parameters, and the
    totals in the title."""
    if level not in LEVELS:
        raise RenderError(f"unknown level '{level}'{suggest(level, LEVELS)}; "
                          f"known: {', '.join(LEVELS)}")
    rows = {r.name: r for r in report.layers}
    ctx = _Context(graph, shapes, rows, with_costs=costs)
    if level == "block":
        _BlockLevel(ctx).run()
    else:
        _LayerLevel(ctx, fold).run()
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


# -- shared state of one layout run ---------------------------------------------------------

@dataclass
class _Context:
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


# -- block level ----------------------------------------------------------------------------

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


class _BlockLevel:
    def __init__(self, ctx: _Context):
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
                self.emit(entry, self.ctx.add_cluster(_scope_label(entry.scope), cluster))
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
        notable = [m for m in first.members if self.graph[m].op in NOTABLE]
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


def _scope_label(scope: Scope) -> str:
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


# -- layer level ----------------------------------------------------------------------------

def fold_plan(graph: Graph) -> dict[str, str]:
    """Which BatchNorm/sign/ReLU nodes `--fold` draws with which conv or linear layer (node ->
    layer). A chain that binarises a layer's input (BN → sign → binary conv) goes with the
    layer it feeds; other chains go with the layer they follow (conv → BN → ReLU) or, failing
    that, with the layer they feed (ReLU → transition conv). Chains stay within one scope, so
    clusters keep their meaning."""
    users = graph.users
    owner: dict[str, str] = {}
    targets = [n for n in graph.nodes if n.op in FOLD_INTO]

    def foldable(node: Node, target: Node) -> bool:
        return (node.op in FOLDABLE and node.name not in owner
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
            if not foldable(nxt, target) or nxt.op == "sign" or len(nxt.inputs) != 1:
                break
            chain.append(nxt.name)
            cur = nxt
        return chain

    for target in targets:  # BN -> sign -> binary conv
        chain = before(target)
        if any(graph[n].op == "sign" for n in chain):
            owner.update(dict.fromkeys(chain, target.name))
    for target in targets:  # conv -> BN -> ReLU
        owner.update(dict.fromkeys(after(target), target.name))
    for target in targets:  # ReLU -> conv
        owner.update(dict.fromkeys(before(target), target.name))
    return owner


class _LayerLevel:
    def __init__(self, ctx: _Context, fold: bool):
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
            before = [SHORT.get(graph[m].op, graph[m].op) for m in folded if self.position(m) < me]
            after = [SHORT.get(graph[m].op, graph[m].op) for m in folded if self.position(m) > me]
            title = node.name.rpartition(".")[2]
            desc = describe(node, ctx.in_shapes(node), ctx.shapes[node.name])
            lines = [] if desc.replace(" ", "_") == title else [desc]
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
    label = _scope_label(scope)
    if scope.index is not None:
        label += f" ({scope.index}/{scope.count})"
    return label
