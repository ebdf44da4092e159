"""Dropout: zeroes a random fraction of values while training, the identity at inference
(so it keeps a 1-bit input 1-bit and costs nothing)."""

from __future__ import annotations

from dataclasses import dataclass

from mnas.ops.bits import widest
from mnas.ops.params import ParamError
from mnas.ops.registry import NO_COST, OpDef, register


@dataclass(frozen=True)
class DropoutParams:
    """`p`: the probability of zeroing each value while training (survivors are scaled by
    1 / (1 - p), as in PyTorch)."""

    p: float = 0.5

    def check(self) -> None:
        if not 0 <= self.p < 1:
            raise ParamError("p", f"must be in [0, 1), got {self.p}")


def _same(p, ins):
    """same"""
    return ins[0]


def _no_cost(p, ins, out):
    """0"""
    return NO_COST


def _lower(p: DropoutParams, ins, out):
    from mnas.ops.layers import Dropout
    return Dropout(p.p)


DROPOUT = register(OpDef(
    name="dropout", params=DropoutParams, infer_shape=_same,
    count=_no_cost, lower=_lower, out_bits=widest,
    doc="Dropout with probability p while training; the identity at inference.",
    init="none (no parameters)"))
