"""2-D convolution, 32-bit or binary (sign of the weights, no scaling factor)."""

from __future__ import annotations

from dataclasses import dataclass

from mnas.ops.params import ParamError, positive
from mnas.ops.registry import Counts, OpDef, ShapeRuleError, register
from mnas.ops.shapes import chw, round_half_up, window_out


@dataclass(frozen=True)
class Conv2dParams:
    """`out` output channels, or `reduction` r: out = round(C_in / r / multiple) * multiple.
    `padding` defaults to dilation * (kernel // 2) ('same' for odd kernels at stride 1).
    `binary`: sign of the weights in the forward pass; the input is expected to come binarised
    from a `sign` layer. `weight_scale` (binary only): multiply the signed weights of each
    output channel by their mean |w| (XNOR-Net / Bi-Real Net's magnitude-aware weights);
    computed from the weights, so it adds no parameters, and a following BatchNorm absorbs it
    at inference, so it adds no ops. `pad_value`: the value the border is padded with (QuickNet
    pads binary convs with 1, so the padding is a valid +-1 input)."""

    kernel: int
    out: int | None = None
    reduction: float | None = None
    multiple: int = 32
    stride: int = 1
    padding: int | None = None
    dilation: int = 1
    groups: int = 1
    bias: bool = False
    binary: bool = False
    weight_scale: bool = False
    pad_value: float = 0.0

    def check(self) -> None:
        if (self.out is None) == (self.reduction is None):
            raise ParamError("out", "give exactly one of 'out' and 'reduction'")
        if self.weight_scale and not self.binary:
            raise ParamError("weight_scale", "only binary convolutions scale their weights; "
                                             "add 'binary: true' or drop 'weight_scale'")
        positive(self, "kernel", "out", "reduction", "multiple", "stride", "dilation", "groups")
        if self.padding is not None and self.padding < 0:
            raise ParamError("padding", f"must be >= 0, got {self.padding}")

    @property
    def pad(self) -> int:
        return self.dilation * (self.kernel // 2) if self.padding is None else self.padding


def out_channels(p: Conv2dParams, c_in: int) -> int:
    if p.out is not None:
        return p.out
    return max(p.multiple, round_half_up(c_in / p.reduction / p.multiple) * p.multiple)


def _infer(p: Conv2dParams, ins):
    """C×H×W → out×H'×W', H' and W' as PyTorch computes them"""
    c, h, w = chw(ins[0], "conv2d")
    c_out = out_channels(p, c)
    if c % p.groups:
        raise ShapeRuleError(f"groups={p.groups} does not divide the {c} input channels", (0,))
    if c_out % p.groups:
        raise ShapeRuleError(f"groups={p.groups} does not divide the {c_out} output channels")
    return (c_out, window_out(h, p.kernel, p.stride, p.pad, p.dilation),
            window_out(w, p.kernel, p.stride, p.pad, p.dilation))


def _count(p: Conv2dParams, ins, out) -> Counts:
    """MACs = H'W'·out·(C/groups)·k²; binary: BOPs and 1-bit weights (bias 32-bit)"""
    c_out, h, w = out
    weights = c_out * (ins[0][0] // p.groups) * p.kernel * p.kernel
    macs = weights * h * w
    bias = c_out if p.bias else 0
    if p.binary:
        return Counts(binary_macs=macs, binary_params=weights, float_params=bias)
    return Counts(float_macs=macs, float_params=weights + bias)


def _lower(p: Conv2dParams, ins, out):
    from mnas.ops import layers
    cls = (layers.ScaledBinaryConv2d if p.weight_scale else layers.BinaryConv2d) if p.binary \
        else layers.Conv2d
    extra = {"pad_value": p.pad_value} if p.pad_value else {}
    return cls(ins[0][0], out[0], p.kernel, stride=p.stride, padding=p.pad,
               dilation=p.dilation, groups=p.groups, bias=p.bias, **extra)


def _describe(p: Conv2dParams, ins, out) -> str:
    """"binary conv 3×3 → 64", "depthwise conv 3×3 /2 → 32", ..."""
    depthwise = p.groups > 1 and p.groups == ins[0][0] == out[0]
    text = ("binary " if p.binary else "") + ("depthwise " if depthwise else "")
    text += f"conv {p.kernel}×{p.kernel}"
    text += f" /{p.stride}" if p.stride > 1 else ""
    text += f" g{p.groups}" if p.groups > 1 and not depthwise else ""
    text += f" d{p.dilation}" if p.dilation > 1 else ""
    return f"{text} → {out[0]}"


CONV2D = register(OpDef(
    name="conv2d", params=Conv2dParams, infer_shape=_infer, count=_count, lower=_lower,
    doc="2-D convolution; `binary: true` binarises the weights (1 bit each).",
    role="compute", label="conv", describe=_describe,
    init="He normal (fan-in, ReLU gain) weights, also the latent ones of binary convs; bias 0"))
