"""Ops that merge several inputs: concat, add, and the improvement block's add onto the last
channels."""

from __future__ import annotations


from mnas.ops.activation import NoParams
from mnas.ops.bits import widest
from mnas.ops.registry import NO_COST, OpDef, ShapeRuleError, register
from mnas.ops.shapes import chw, fmt


def _no_cost(p, ins, out):
    """0"""
    return NO_COST


def _infer_concat(p, ins):
    """equal H×W; channels summed"""
    first = chw(ins[0], "concat")
    for i, s in enumerate(ins[1:], 1):
        if len(s) != 3 or s[1:] != first[1:]:
            raise ShapeRuleError(f"concat needs equal height and width: {fmt(first)} and "
                                 f"{fmt(s)}", (0, i))
    return (sum(s[0] for s in ins),) + first[1:]


def _infer_add(p, ins):
    """equal shapes; same"""
    for i, s in enumerate(ins[1:], 1):
        if s != ins[0]:
            raise ShapeRuleError(f"add needs equal shapes: {fmt(ins[0])} and {fmt(s)}", (0, i))
    return ins[0]


def _infer_add_last(p, ins):
    """x (C×H×W) and y (k×H×W, k ≤ C) → x's shape; y is added onto x's last k channels"""
    x, y = chw(ins[0], "add_last"), ins[1]
    if len(y) != 3 or y[1:] != x[1:] or y[0] > x[0]:
        raise ShapeRuleError(f"add_last needs the second input to match the last channels of "
                             f"the first: {fmt(x)} and {fmt(y)}", (0, 1))
    return x


def _lower(kind):
    def lower(p, ins, out):
        from mnas.ops.layers import Merge
        return Merge(kind)
    return lower


CONCAT = register(OpDef(
    name="concat", params=NoParams, infer_shape=_infer_concat, count=_no_cost,
    min_inputs=2, max_inputs=None, lower=_lower("concat"), out_bits=widest,
    doc="Concatenate inputs along channels.", role="merge",
    describe=lambda p, ins, out: f"concat → {out[0]} ch", init="none (no parameters)"))
ADD = register(OpDef(
    name="add", params=NoParams, infer_shape=_infer_add, count=_no_cost,
    min_inputs=2, max_inputs=None, lower=_lower("add"),
    doc="Element-wise sum of inputs of equal shape.", role="merge",
    init="none (no parameters)"))
ADD_LAST = register(OpDef(
    name="add_last", params=NoParams, infer_shape=_infer_add_last, count=_no_cost,
    min_inputs=2, max_inputs=2, lower=_lower("add_last"),
    doc="Add the second input (k channels) onto the last k channels of the first "
        "(MeliusNet's improvement block); the channel count is unchanged.", role="merge",
    describe=lambda p, ins, out: f"add onto last {ins[1][0]} of {ins[0][0]} ch",
    init="none (no parameters)"))
