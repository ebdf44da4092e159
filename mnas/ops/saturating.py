"""Saturating activations without parameters: hardtanh (the clip of the sign's
straight-through estimator, used as an activation) and sigmoid (the gate of
squeeze-and-excitation and Real-to-Binary's scaling)."""

from __future__ import annotations

from dataclasses import dataclass

from mnas.ops.activation import NoParams
from mnas.ops.params import ParamError
from mnas.ops.registry import NO_COST, OpDef, register


@dataclass(frozen=True)
class HardtanhParams:
    """Clip to [`min`, `max`]."""

    min: float = -1.0
    max: float = 1.0

    def check(self) -> None:
        if self.min >= self.max:
            raise ParamError("max", f"must be above min ({self.min}), got {self.max}")


def _same(p, ins):
    """same"""
    return ins[0]


def _no_cost(p, ins, out):
    """0"""
    return NO_COST


def _lower_hardtanh(p: HardtanhParams, ins, out):
    from mnas.ops.layers import Hardtanh
    return Hardtanh(p.min, p.max)


def _lower_sigmoid(p, ins, out):
    from mnas.ops.layers import Sigmoid
    return Sigmoid()


HARDTANH = register(OpDef(
    name="hardtanh", params=HardtanhParams, infer_shape=_same, count=_no_cost,
    lower=_lower_hardtanh, doc="Clip values to [min, max] (default [-1, 1]).",
    role="activation", init="none (no parameters)"))
SIGMOID = register(OpDef(
    name="sigmoid", params=NoParams, infer_shape=_same, count=_no_cost, lower=_lower_sigmoid,
    doc="Logistic sigmoid 1 / (1 + exp(-x)), e.g. the gate of squeeze-and-excitation.",
    role="activation", init="none (no parameters)"))
