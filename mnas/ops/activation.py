"""Element-wise activations: ReLU, the binarising sign, and Bi-Real Net's approximated sign."""

from __future__ import annotations

from dataclasses import dataclass

from mnas.ops.bits import one_bit
from mnas.ops.params import positive
from mnas.ops.registry import NO_COST, OpDef, register


@dataclass(frozen=True)
class SignParams:
    """Forward: +1 where x >= 0, else -1. Backward (straight-through estimator): the gradient
    passes where |x| <= clip and is zero elsewhere."""

    clip: float = 1.3

    def check(self) -> None:
        positive(self, "clip")


@dataclass(frozen=True)
class NoParams:
    pass


def _same(p, ins):
    """same"""
    return ins[0]


def _no_cost(p, ins, out):
    """0"""
    return NO_COST


def _lower_sign(p: SignParams, ins, out):
    from mnas.ops.layers import Sign
    return Sign(p.clip)


def _lower_approx_sign(p, ins, out):
    from mnas.ops.layers import ApproxSign
    return ApproxSign()


def _lower_relu(p, ins, out):
    from mnas.ops.layers import ReLU
    return ReLU()


SIGN = register(OpDef(
    name="sign", params=SignParams, infer_shape=_same, count=_no_cost, lower=_lower_sign,
    out_bits=one_bit,
    doc="Binarise activations to +-1 with a clipped straight-through gradient.",
    role="binarize", init="none (no parameters)"))
APPROX_SIGN = register(OpDef(
    name="approx_sign", params=NoParams, infer_shape=_same, count=_no_cost,
    lower=_lower_approx_sign, out_bits=one_bit,
    doc="Bi-Real Net's sign: forward +-1 like `sign`; backward the derivative of its "
        "piecewise quadratic approximation, 2 - 2|x| where |x| < 1, else 0.",
    role="binarize", label="approx sign", init="none (no parameters)"))
RELU = register(OpDef(
    name="relu", params=NoParams, infer_shape=_same, count=_no_cost, lower=_lower_relu,
    doc="Rectified linear unit.", role="activation", label="ReLU", init="none (no parameters)"))
