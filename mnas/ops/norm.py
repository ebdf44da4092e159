"""Batch normalisation."""

from __future__ import annotations

from dataclasses import dataclass

from mnas.ops.params import positive
from mnas.ops.registry import Counts, OpDef, ShapeRuleError, register
from mnas.ops.shapes import fmt


@dataclass(frozen=True)
class BatchNormParams:
    """`scale` (gamma) and `center` (beta) are the learnable parameters; running statistics
    are buffers, not parameters."""

    scale: bool = True
    center: bool = True
    eps: float = 1e-5
    momentum: float = 0.1

    def check(self) -> None:
        positive(self, "eps", "momentum")


def _infer(p, ins):
    """same (C×H×W or F)"""
    if len(ins[0]) not in (1, 3):
        raise ShapeRuleError(f"batchnorm expects CxHxW or F, got {fmt(ins[0])}", (0,))
    return ins[0]


def _count(p: BatchNormParams, ins, out) -> Counts:
    """no MACs; gamma and beta per channel (the convention decides how many count)"""
    c = ins[0][0]
    return Counts(norm_params=c * (int(p.scale) + int(p.center)), norm_channels=c)


def _lower(p: BatchNormParams, ins, out):
    from mnas.ops.layers import BatchNorm
    return BatchNorm(ins[0][0], len(ins[0]), scale=p.scale, center=p.center, eps=p.eps,
                     momentum=p.momentum)


BATCHNORM = register(OpDef(
    name="batchnorm", params=BatchNormParams, infer_shape=_infer, count=_count, lower=_lower,
    doc="Batch normalisation over channels; gamma and beta are its parameters.",
    role="norm", label="BN", init="gamma 1, beta 0 (running mean 0, variance 1)"))
