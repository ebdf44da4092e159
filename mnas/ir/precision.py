"""`infer_bits`: each tensor's bit width, carried through the graph by the ops' `out_bits`
rules (1 bit after a sign-like op, kept through max pooling, concat, shuffle and flatten,
32 bits after anything that computes). `mac_precision` then applies Larq's rule to a layer's
counts: a multiply-accumulate is as wide as the wider of its input and its weight, so a
binary-weight layer is binary (BOPs) only when its input is 1-bit."""

from __future__ import annotations

from dataclasses import replace

from mnas.ir.graph import Graph, Node
from mnas.ops.bits import FULL, ONE
from mnas.ops.registry import Counts, get_op


def infer_bits(graph: Graph) -> dict[str, int]:
    """{node name: bit width of its output}; the network input is 32-bit."""
    bits: dict[str, int] = {}
    for node in graph.nodes:
        bits[node.name] = get_op(node.op).out_bits(node.params,
                                                   tuple(bits[i] for i in node.inputs))
    return bits


def input_bits(node: Node, bits: dict[str, int]) -> int:
    """The widest of a node's inputs (32 for the input node)."""
    return max((bits[i] for i in node.inputs), default=FULL)


def mac_precision(counts: Counts, in_bits: int) -> Counts:
    """`counts` with binary-weight MACs on a wider-than-1-bit input counted as 32-bit MACs;
    the weights themselves stay 1-bit (they are stored as signs either way)."""
    if not counts.binary_macs or in_bits <= ONE:
        return counts
    return replace(counts, binary_macs=0, float_macs=counts.float_macs + counts.binary_macs)
