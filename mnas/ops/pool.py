"""Pooling: max, average and global average."""

from __future__ import annotations

from dataclasses import dataclass

from mnas.ops.activation import NoParams
from mnas.ops.bits import widest
from mnas.ops.params import ParamError, positive
from mnas.ops.registry import NO_COST, OpDef, register
from mnas.ops.shapes import chw, window_out


@dataclass(frozen=True)
class PoolParams:
    """`stride` defaults to `kernel`, as in PyTorch."""

    kernel: int
    stride: int | None = None
    padding: int = 0
    ceil_mode: bool = False

    def check(self) -> None:
        positive(self, "kernel", "stride")
        if not 0 <= self.padding <= self.kernel // 2:
            raise ParamError("padding", f"must be between 0 and kernel/2, got {self.padding}")

    @property
    def step(self) -> int:
        return self.kernel if self.stride is None else self.stride


def _infer(name):
    def infer(p: PoolParams, ins):
        """C×H×W → C×H'×W', H' and W' as PyTorch computes them"""
        c, h, w = chw(ins[0], name)
        return (c, window_out(h, p.kernel, p.step, p.padding, ceil_mode=p.ceil_mode),
                window_out(w, p.kernel, p.step, p.padding, ceil_mode=p.ceil_mode))
    return infer


def _no_cost(p, ins, out):
    """0"""
    return NO_COST


def _lower(kind):
    def lower(p: PoolParams, ins, out):
        from mnas.ops.layers import Pool2d
        return Pool2d(kind, p.kernel, p.step, p.padding, p.ceil_mode)
    return lower


def _describe(name):
    def describe(p: PoolParams, ins, out) -> str:
        return f"{name} {p.kernel}×{p.kernel}" + (f" /{p.step}" if p.step > 1 else "")
    return describe


def _lower_gap(p, ins, out):
    from mnas.ops.layers import GlobalAvgPool
    return GlobalAvgPool()


def _infer_gap(p, ins):
    """C×H×W → C"""
    return (chw(ins[0], "global_avgpool")[0],)


MAXPOOL = register(OpDef(
    name="maxpool", params=PoolParams, infer_shape=_infer("maxpool"), count=_no_cost,
    lower=_lower("max"), out_bits=widest, doc="2-D max pooling (keeps 1-bit inputs 1-bit).",
    role="pool", describe=_describe("maxpool"), init="none (no parameters)"))
AVGPOOL = register(OpDef(
    name="avgpool", params=PoolParams, infer_shape=_infer("avgpool"), count=_no_cost,
    lower=_lower("avg"), doc="2-D average pooling.", role="pool", describe=_describe("avgpool"),
    init="none (no parameters)"))
GLOBAL_AVGPOOL = register(OpDef(
    name="global_avgpool", params=NoParams, infer_shape=_infer_gap, count=_no_cost,
    lower=_lower_gap, doc="Average over height and width: CxHxW -> C.", role="pool",
    label="global avgpool", init="none (no parameters)"))
