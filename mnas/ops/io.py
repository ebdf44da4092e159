"""The graph's input."""

from __future__ import annotations

from dataclasses import dataclass

from mnas.ops.params import ParamError
from mnas.ops.registry import NO_COST, OpDef, register


@dataclass(frozen=True)
class InputParams:
    shape: tuple[int, ...]

    def check(self) -> None:
        if not self.shape or any(d <= 0 for d in self.shape):
            raise ParamError("shape", f"sizes must be positive, got {list(self.shape)}")


def _infer(p: InputParams, ins):
    """`shape` (C×H×W or F, no batch)"""
    return p.shape


def _no_cost(p, ins, out):
    """0"""
    return NO_COST


def _lower(p, ins, out):
    from mnas.ops.layers import Identity
    return Identity()


INPUT = register(OpDef(
    name="input", params=InputParams, doc="The network input, shape (C, H, W) without batch.",
    infer_shape=_infer, count=_no_cost,
    min_inputs=0, max_inputs=0, lower=_lower, role="input",
    describe=lambda p, ins, out: "input " + "×".join(map(str, out)), init="none (no parameters)"))
