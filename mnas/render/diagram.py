"""What a diagram is, as plain frozen data: boxes, nested clusters, edges with tensor shapes,
and the precision legend. `mnas.render.layout` builds it from the IR, `mnas.render.dot` draws
it; tests check this data rather than pixels, as Optuna's plots do."""

from __future__ import annotations

from dataclasses import dataclass

from mnas.ops.registry import Shape


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
