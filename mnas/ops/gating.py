"""Per-channel multiplies: a learned scale (XNOR-Net++, Bulat & Tzimiropoulos 2019; the
strong baseline of Real-to-Binary) and a channel-wise multiply by a computed gate
(squeeze-and-excitation; Real-to-Binary's data-dependent scaling). Element-wise, so no ops
under any convention; the learned scale's factors are parameters."""

from __future__ import annotations

from dataclasses import dataclass

from mnas.ops.activation import NoParams
from mnas.ops.learned_activation import channels
from mnas.ops.registry import NO_COST, Counts, OpDef, ShapeRuleError, register
from mnas.ops.shapes import chw, fmt


@dataclass(frozen=True)
class LearnedScaleParams:
    """`spatial`: also learn a factor per row and per column (XNOR-Net++'s factorised
    scale, one per channel x one per row x one per column); otherwise one per channel."""

    spatial: bool = False


def _infer_scale(p: LearnedScaleParams, ins):
    """same (C×H×W or F; C×H×W with `spatial`)"""
    if p.spatial:
        chw(ins[0], "learned_scale with spatial: true")
    channels(ins, "learned_scale")
    return ins[0]


def _count_scale(p: LearnedScaleParams, ins, out) -> Counts:
    """no MACs; C parameters (C + H + W with `spatial`)"""
    c = ins[0][0]
    return Counts(float_params=c + (ins[0][1] + ins[0][2] if p.spatial else 0))


def _lower_scale(p: LearnedScaleParams, ins, out):
    from mnas.ops.layers import LearnedScale
    shape = ins[0]
    return LearnedScale(shape[0], len(shape), *(shape[1:] if p.spatial else ()))


def _infer_mul(p, ins):
    """x's shape (the gate has one value per channel of x)"""
    x, g = ins
    if len(g) != 1 or g[0] != x[0]:
        raise ShapeRuleError(f"channel_mul needs a gate of one value per channel of the first "
                             f"input: {fmt(x)} and {fmt(g)}", (0, 1))
    return x


def _no_cost(p, ins, out):
    """0"""
    return NO_COST


def _lower_mul(p, ins, out):
    from mnas.ops.layers import ChannelMul
    return ChannelMul()


LEARNED_SCALE = register(OpDef(
    name="learned_scale", params=LearnedScaleParams, infer_shape=_infer_scale,
    count=_count_scale, lower=_lower_scale,
    doc="Multiply by learned factors, one per channel (C parameters; with `spatial: true` "
        "also one per row and column: C + H + W), as XNOR-Net++ scales binary convs.",
    role="norm", label="scale", init="factors 1"))
CHANNEL_MUL = register(OpDef(
    name="channel_mul", params=NoParams, infer_shape=_infer_mul,
    count=_no_cost, lower=_lower_mul, min_inputs=2, max_inputs=2,
    doc="Multiply each channel of the first input (CxHxW or F) by the matching value of the "
        "second (a C vector, e.g. a sigmoid gate): squeeze-and-excitation.",
    role="merge", init="none (no parameters)"))
