"""Ops that move values without arithmetic: channel shuffle, flatten."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from mnas.ops.activation import NoParams
from mnas.ops.bits import widest
from mnas.ops.params import positive
from mnas.ops.registry import NO_COST, OpDef, ShapeRuleError, register
from mnas.ops.shapes import chw


@dataclass(frozen=True)
class ShuffleParams:
    groups: int

    def check(self) -> None:
        positive(self, "groups")


def _no_cost(p, ins, out):
    """0"""
    return NO_COST


def _infer_shuffle(p: ShuffleParams, ins):
    """same (groups must divide C)"""
    c = chw(ins[0], "channel_shuffle")[0]
    if c % p.groups:
        raise ShapeRuleError(f"groups={p.groups} does not divide the {c} channels", (0,))
    return ins[0]


def _lower_shuffle(p: ShuffleParams, ins, out):
    from mnas.ops.layers import ChannelShuffle
    return ChannelShuffle(p.groups)


def _infer_flatten(p, ins):
    """→ vector of all values"""
    return (prod(ins[0]),)


def _lower_flatten(p, ins, out):
    from mnas.ops.layers import Flatten
    return Flatten()


CHANNEL_SHUFFLE = register(OpDef(
    name="channel_shuffle", params=ShuffleParams, infer_shape=_infer_shuffle, count=_no_cost,
    lower=_lower_shuffle, out_bits=widest,
    doc="Interleave channels of `groups` groups (ShuffleNet).",
    role="reshape", describe=lambda p, ins, out: f"channel shuffle g{p.groups}",
    init="none (no parameters)"))
FLATTEN = register(OpDef(
    name="flatten", params=NoParams, infer_shape=_infer_flatten,
    count=_no_cost, lower=_lower_flatten, out_bits=widest, doc="Flatten to a vector.",
    role="reshape", init="none (no parameters)"))
