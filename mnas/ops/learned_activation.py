"""Activations with learned per-channel parameters (ReActNet, Liu et al. 2020; Real-to-Binary,
Martinez et al. 2020): RSign, a sign with a learned threshold, and PReLU / RPReLU. Each holds
a few 32-bit values per channel, counted as parameters; their element-wise work costs no ops
under any convention (`mnas.cost.conventions`)."""

from __future__ import annotations

from dataclasses import dataclass

from mnas.ops.bits import one_bit
from mnas.ops.params import ParamError, positive
from mnas.ops.registry import Counts, OpDef, ShapeRuleError, register
from mnas.ops.shapes import fmt

BACKWARDS = ("ste", "approx")


def channels(ins, op: str) -> int:
    """The channel count of a CxHxW or F input (per-channel parameters need one)."""
    if len(ins[0]) not in (1, 3):
        raise ShapeRuleError(f"{op} expects CxHxW or F, got {fmt(ins[0])}", (0,))
    return ins[0][0]


def _same(op: str):
    def infer(p, ins):
        """same (C×H×W or F)"""
        channels(ins, op)
        return ins[0]
    return infer


@dataclass(frozen=True)
class RSignParams:
    """Forward: +1 where x >= t, else -1, with t a learned threshold per channel (zero at
    first). `backward`: 'ste' passes the gradient where |x - t| <= `clip` (like `sign`);
    'approx' uses Bi-Real Net's piecewise quadratic gradient (like `approx_sign`), as
    ReActNet's release does."""

    backward: str = "ste"
    clip: float = 1.3

    def check(self) -> None:
        if self.backward not in BACKWARDS:
            raise ParamError("backward", f"must be one of {', '.join(BACKWARDS)}, "
                                         f"got {self.backward!r}")
        positive(self, "clip")


@dataclass(frozen=True)
class PReLUParams:
    """`init`: the starting negative slope of every channel."""

    init: float = 0.25


def _count_per_channel(values: int):
    def count(p, ins, out) -> Counts:
        return Counts(float_params=values * ins[0][0])
    count.__doc__ = f"no MACs; {'' if values == 1 else values}C parameters"
    return count


def _lower_rsign(p: RSignParams, ins, out):
    from mnas.ops.layers import RSign
    return RSign(ins[0][0], len(ins[0]), backward=p.backward, clip=p.clip)


def _lower_prelu(p: PReLUParams, ins, out):
    from mnas.ops.layers import PReLU
    return PReLU(ins[0][0], init=p.init)


def _lower_rprelu(p: PReLUParams, ins, out):
    from mnas.ops.layers import RPReLU
    return RPReLU(ins[0][0], len(ins[0]), init=p.init)


RSIGN = register(OpDef(
    name="rsign", params=RSignParams, infer_shape=_same("rsign"), count=_count_per_channel(1),
    lower=_lower_rsign, out_bits=one_bit,
    doc="ReActNet's RSign: binarise to +-1 around a learned per-channel threshold "
        "(C 32-bit parameters; 1-bit output).",
    role="binarize", label="RSign", init="thresholds 0"))
PRELU = register(OpDef(
    name="prelu", params=PReLUParams, infer_shape=_same("prelu"), count=_count_per_channel(1),
    lower=_lower_prelu,
    doc="PReLU: x where x >= 0, else a learned per-channel slope times x (C parameters).",
    role="activation", label="PReLU", init="slopes `init`"))
RPRELU = register(OpDef(
    name="rprelu", params=PReLUParams, infer_shape=_same("rprelu"),
    count=_count_per_channel(3), lower=_lower_rprelu,
    doc="ReActNet's RPReLU: PReLU(x - gamma) + zeta with learned per-channel shifts gamma, "
        "zeta and slope (3C parameters).",
    role="activation", label="RPReLU", init="slopes `init`, shifts 0"))
