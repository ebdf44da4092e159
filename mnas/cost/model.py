"""`cost_graph`: one `LayerCost` per IR node and the totals, under a `Convention`. Pure
Python over the op registry's counts, so costing a candidate is fast and torch-free; the
pandas views (`table`, `rollup`) are built only when asked for.

Each layer's MACs take the precision `mnas.ir.precision` infers for its input (Larq's rule:
the wider of input and weight), so a binary-weight conv without a sign in front of it costs
32-bit MACs; `cost_graph` warns once, naming such layers."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, fields

from mnas.cost.conventions import Convention, get_convention
from mnas.errors import MnasWarning
from mnas.ir.graph import Graph
from mnas.ir.precision import infer_bits, input_bits, mac_precision
from mnas.ir.shapes import infer_shapes
from mnas.ops.registry import Shape, get_op


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
    speedup = conv.binary_speedup
    layers = []
    real_input_binary = []
    t_bops = t_flops = t_bparams = t_fparams = t_macs = 0
    for node in graph.nodes:
        op = get_op(node.op)
        ins = tuple(shapes[i] for i in node.inputs)
        counted = op.count(node.params, ins, shapes[node.name])
        c = mac_precision(counted, input_bits(node, bits))
        if c is not counted:
            real_input_binary.append(node.name)
        norm = c.norm_params if conv.bn_params_per_channel is None else \
            c.norm_channels * conv.bn_params_per_channel
        fparams = c.float_params + norm
        bops = c.binary_macs
        flops = c.float_macs if (conv.fc_in_ops or not op.fc) else 0
        if op.fc and not conv.fc_in_ops:
            bops = 0
        precision = ("mixed" if c.binary_macs and c.float_macs else
                     "binary" if c.binary_macs else "float" if c.float_macs else
                     "binary" if c.binary_params else "float" if fparams else "-")
        ops = bops / speedup + flops if conv.latency is None else \
            conv.latency.layer_ms(node.op, node.params, ins, shapes[node.name], c, precision)
        layers.append(LayerCost(
            node.name, node.op, node.block, node.stage, shapes[node.name], precision,
            c.binary_params + fparams, c.binary_params, fparams, c.macs, bops, flops,
            ops, c.binary_params * conv.binary_bits + fparams * conv.float_bits))
        t_bops += bops
        t_flops += flops
        t_bparams += c.binary_params
        t_fparams += fparams
        t_macs += c.macs
    size_bits = t_bparams * conv.binary_bits + t_fparams * conv.float_bits
    ops = t_bops / speedup + t_flops if conv.latency is None else sum(l.ops for l in layers)
    totals = Totals(t_bops, t_flops, ops, t_bparams + t_fparams, t_bparams,
                    t_fparams, size_bits, size_bits / 8 / conv.mb_bytes, t_macs)
    if real_input_binary:
        warnings.warn(_real_input_message(real_input_binary), MnasWarning, stacklevel=2)
    return CostReport(graph.name, conv, graph.input.params.shape, tuple(layers), totals,
                      tuple(real_input_binary))


def _real_input_message(names: list[str]) -> str:
    more = ""
    if len(names) > 1:
        listed = ", ".join(names[1:4]) + (", ..." if len(names) > 4 else "")
        more = f" (and {len(names) - 1} more: {listed})"
    return (f"binary-weight layer '{names[0]}'{more} reads a 32-bit input, so its MACs are "
            "counted as 32-bit FLOPs, not BOPs; put a sign (or rsign) before it to make it "
            "binary")
