"""Anti-aliased downsampling (Zhang 2019, "Making convolutional networks shift-invariant
again"): a depthwise convolution with a fixed, normalised binomial filter, as QuickNet's
transitions use. Its weights are fixed (not trained) but held by the network, so they count
as 32-bit parameters, and its multiply-accumulates count as 32-bit MACs, as Larq counts
QuickNet's."""

from __future__ import annotations

from dataclasses import dataclass

from mnas.ops.params import ParamError, positive
from mnas.ops.registry import Counts, OpDef, register
from mnas.ops.shapes import chw, window_out


@dataclass(frozen=True)
class BlurPoolParams:
    """`kernel` k: the filter is the outer product of row k of Pascal's triangle with itself,
    divided by its sum (k = 3: [1, 2, 1]). `padding` defaults to k // 2."""

    kernel: int = 3
    stride: int = 2
    padding: int | None = None

    def check(self) -> None:
        positive(self, "kernel", "stride")
        if self.padding is not None and self.padding < 0:
            raise ParamError("padding", f"must be >= 0, got {self.padding}")

    @property
    def pad(self) -> int:
        return self.kernel // 2 if self.padding is None else self.padding


def _infer(p: BlurPoolParams, ins):
    """C×H×W → C×H'×W', H' and W' as PyTorch computes them"""
    c, h, w = chw(ins[0], "blurpool")
    return (c, window_out(h, p.kernel, p.stride, p.pad), window_out(w, p.kernel, p.stride, p.pad))


def _count(p: BlurPoolParams, ins, out) -> Counts:
    """MACs = H'W'·C·k² (32-bit); C·k² fixed 32-bit weights"""
    c, h, w = out
    weights = c * p.kernel * p.kernel
    return Counts(float_macs=weights * h * w, float_params=weights)


def _lower(p: BlurPoolParams, ins, out):
    from mnas.ops.layers import BlurPool
    return BlurPool(ins[0][0], p.kernel, p.stride, p.pad)


BLURPOOL = register(OpDef(
    name="blurpool", params=BlurPoolParams, infer_shape=_infer, count=_count, lower=_lower,
    doc="Blur-pool: depthwise conv with a fixed binomial filter (QuickNet's anti-aliased "
        "downsampling); fixed weights count as 32-bit parameters, its MACs as 32-bit.",
    role="pool",
    describe=lambda p, ins, out: f"blurpool {p.kernel}×{p.kernel}" + (
        f" /{p.stride}" if p.stride > 1 else ""),
    init="the fixed binomial filter (not learned)"))
