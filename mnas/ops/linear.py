"""Fully connected layer: the classifier (`linear`); `mnas.ops.dense` reuses its rules for
fully connected layers inside the network."""

from __future__ import annotations

from dataclasses import dataclass

from mnas.ops.params import positive
from mnas.ops.registry import Counts, OpDef, ShapeRuleError, register
from mnas.ops.shapes import fmt


@dataclass(frozen=True)
class LinearParams:
    """`out` features; `binary: true` uses the sign of the weights (1 bit each)."""

    out: int
    bias: bool = True
    binary: bool = False

    def check(self) -> None:
        positive(self, "out")


def infer_linear(p: LinearParams, ins):
    """vector F → out"""
    if len(ins[0]) != 1:
        raise ShapeRuleError(f"a fully connected layer expects a vector, got {fmt(ins[0])}; "
                             "add global_avgpool or flatten before it", (0,))
    return (p.out,)


def count_linear(p: LinearParams, ins, out) -> Counts:
    """MACs = F·out (conventions may leave the classifier out of OPs); binary: 1-bit weights"""
    weights = ins[0][0] * p.out
    bias = p.out if p.bias else 0
    if p.binary:
        return Counts(binary_macs=weights, binary_params=weights, float_params=bias)
    return Counts(float_macs=weights, float_params=weights + bias)


def lower_linear(p: LinearParams, ins, out):
    from mnas.ops.layers import BinaryLinear, Linear
    return (BinaryLinear if p.binary else Linear)(ins[0][0], p.out, bias=p.bias)


LINEAR = register(OpDef(
    name="linear", params=LinearParams, infer_shape=infer_linear, count=count_linear,
    lower=lower_linear, fc=True,
    doc="Fully connected layer (the classifier); conventions may leave its MACs out of OPs.",
    role="compute", label="fc",
    describe=lambda p, ins, out: ("binary " if p.binary else "") + f"fc → {out[0]}",
    init="He normal (fan-in, ReLU gain) weights; bias 0"))
