"""`cost_graph`: one `LayerCost` per IR node and the totals, under a `Convention`. Pure
Python over the op registry's counts (`OpDef.count`), so costing is fast and torch-free; the
pandas views (`table`, `rollup`) are built only when asked for.

Each layer's MACs take the precision `mnas.ir.precision` infers for its input (Larq's rule:
the wider of input and weight), so a binary-weight conv without a sign in front of it costs
32-bit MACs; `cost_graph` warns once, naming such layers.

`apply_convention` is the one place a convention turns counts into BOPs, FLOPs and
parameters. It is linear in the counts, so it applies equally to one layer and to a `Tally`
(the counts of many layers summed, fully connected ones apart): `totals` of a tally equal
the sum over its layers, which is what lets the search cost a candidate from cached block
tallies (`mnas.cost.blocks`)."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, fields, replace

from mnas.cost.conventions import Convention, get_convention
from mnas.errors import MnasWarning
from mnas.ir.graph import Graph
from mnas.ir.precision import infer_bits, input_bits, mac_precision
from mnas.ir.shapes import infer_shapes
from mnas.ops.registry import NO_COST, Counts, Shape, get_op


@dataclass(frozen=True)
class LayerCost:
    """One layer's costs. `precision` is that of its MACs when it has any ('binary', 'float'
    or 'mixed'), else that of its parameters, else '-'."""

    name: str
    op: str
    block: str
    stage: str
    shape: Shape
    precision: str
    params: int
    binary_params: int
    float_params: int
    macs: int
    bops: int
    flops: int
    ops: float
    size_bits: int


@dataclass(frozen=True)
class Totals:
    bops: int
    flops: int
    ops: float
    params: int
    binary_params: int
    float_params: int
    size_bits: int
    size_mib: float
    macs: int


@dataclass(frozen=True)
class Figures:
    """What a convention makes of counts: BOPs, FLOPs and parameters by precision."""

    bops: int
    flops: int
    binary_params: int
    float_params: int


def apply_convention(c: Counts, fc: bool, conv: Convention) -> Figures:
    """The convention's figures for counts `c` of layers that are (`fc`) or are not fully
    connected."""
    norm = c.norm_params if conv.bn_params_per_channel is None else \
        c.norm_channels * conv.bn_params_per_channel
    if fc and not conv.fc_in_ops:
        return Figures(0, 0, c.binary_params, c.float_params + norm)
    return Figures(c.binary_macs, c.float_macs, c.binary_params, c.float_params + norm)


def op_count(bops: int, flops: int, conv: Convention) -> int | float:
    """OPs = BOPs / speedup + FLOPs: an integer when it is one."""
    ops = bops / conv.binary_speedup + flops
    return int(ops) if float(ops).is_integer() else ops


@dataclass(frozen=True)
class Tally:
    """Convention-free counts of a set of layers, summed, the fully connected ones apart."""

    layers: Counts = NO_COST
    fc: Counts = NO_COST

    def add(self, counts: Counts, fc: bool) -> Tally:
        return Tally(self.layers, self.fc + counts) if fc else Tally(self.layers + counts,
                                                                       self.fc)

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.layers + other.layers, self.fc + other.fc)


def totals(tally: Tally, convention: str | Convention = "paper") -> Totals:
    """The totals of a tally under a convention (for a graph: the sum of its layers'). A
    measured convention's OPs (milliseconds per layer) are not a function of counts: for
    those, `ops` is the counted OPs and `cost_graph` replaces it."""
    conv = get_convention(convention)
    a, b = apply_convention(tally.layers, False, conv), apply_convention(tally.fc, True, conv)
    bops, flops = a.bops + b.bops, a.flops + b.flops
    bparams, fparams = a.binary_params + b.binary_params, a.float_params + b.float_params
    size_bits = bparams * conv.binary_bits + fparams * conv.float_bits
    return Totals(bops, flops, op_count(bops, flops, conv), bparams + fparams, bparams, fparams,
                  size_bits, size_bits / 8 / conv.mb_bytes, tally.layers.macs + tally.fc.macs)


@dataclass(frozen=True)
class CostReport:
    """`real_input_binary` names the binary-weight layers whose input is not 1-bit (their
    MACs are counted as 32-bit)."""

    name: str
    convention: Convention
    input: Shape
    layers: tuple[LayerCost, ...]
    totals: Totals
    real_input_binary: tuple[str, ...] = ()

    def table(self):
        """Per-layer rows as a pandas DataFrame."""
        import pandas as pd
        rows = [asdict(layer) for layer in self.layers]
        df = pd.DataFrame(rows, columns=[f.name for f in fields(LayerCost)])
        df["shape"] = df["shape"].map(lambda s: "x".join(map(str, s)))
        return df

    def rollup(self, by: str):
        """Sums per `block` or `stage`, in network order."""
        if by not in ("block", "stage"):
            raise ValueError(f"rollup by 'block' or 'stage', not {by!r}")
        df = self.table()
        numeric = ["params", "binary_params", "float_params", "macs", "bops", "flops", "ops",
                   "size_bits"]
        out = df.groupby(by, sort=False)[numeric].sum().reset_index()
        out.insert(1, "layers", df.groupby(by, sort=False).size().values)
        out["size_mib"] = out["size_bits"] / 8 / self.convention.mb_bytes
        return out


def cost_graph(graph: Graph, convention: str | Convention = "paper",
               shapes: dict[str, Shape] | None = None) -> CostReport:
    conv = get_convention(convention)
    shapes = infer_shapes(graph) if shapes is None else shapes
    bits = infer_bits(graph)
    layers = []
    real_input_binary = []
    tally = Tally()
    for node in graph.nodes:
        op = get_op(node.op)
        ins = tuple(shapes[i] for i in node.inputs)
        counted = op.count(node.params, ins, shapes[node.name])
        c = mac_precision(counted, input_bits(node, bits))
        if c is not counted:
            real_input_binary.append(node.name)
        tally = tally.add(c, op.fc)
        f = apply_convention(c, op.fc, conv)
        precision = ("mixed" if c.binary_macs and c.float_macs else
                     "binary" if c.binary_macs else "float" if c.float_macs else
                     "binary" if c.binary_params else "float" if f.float_params else "-")
        ops = op_count(f.bops, f.flops, conv) if conv.latency is None else \
            conv.latency.layer_ms(node.op, node.params, ins, shapes[node.name], c, precision)
        layers.append(LayerCost(
            node.name, node.op, node.block, node.stage, shapes[node.name], precision,
            f.binary_params + f.float_params, f.binary_params, f.float_params, c.macs, f.bops,
            f.flops, ops, f.binary_params * conv.binary_bits + f.float_params * conv.float_bits))
    if real_input_binary:
        warnings.warn(_real_input_message(real_input_binary), MnasWarning, stacklevel=2)
    summed = totals(tally, conv)
    if conv.latency is not None:
        summed = replace(summed, ops=sum(layer.ops for layer in layers))
    return CostReport(graph.name, conv, graph.input.params.shape, tuple(layers), summed,
                      tuple(real_input_binary))


def _real_input_message(names: list[str]) -> str:
    more = ""
    if len(names) > 1:
        listed = ", ".join(names[1:4]) + (", ..." if len(names) > 4 else "")
        more = f" (and {len(names) - 1} more: {listed})"
    return (f"binary-weight layer '{names[0]}'{more} reads a 32-bit input, so its MACs are "
            "counted as 32-bit FLOPs, not BOPs; put a sign (or rsign) before it to make it "
            "binary")
