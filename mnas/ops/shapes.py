"""Shape arithmetic shared by several ops (functions of sizes only), and the rounding rule
widths use (also the `round` of spec expressions)."""

from __future__ import annotations

import math

from mnas.ops.registry import Shape, ShapeRuleError


def fmt(shape: Shape) -> str:
    return "x".join(str(d) for d in shape)


def chw(shape: Shape, op: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeRuleError(f"{op} expects a CxHxW input, got {fmt(shape)}", (0,))
    return shape  # type: ignore[return-value]


def window_out(size: int, kernel: int, stride: int, padding: int, dilation: int = 1,
               ceil_mode: bool = False) -> int:
    """Output length of a sliding window (conv or pool), as PyTorch computes it."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if span < 0:
        raise ShapeRuleError(f"window {kernel} (dilation {dilation}, padding {padding}) "
                             f"does not fit input size {size}", (0,))
    out = -(-span // stride) + 1 if ceil_mode else span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def round_half_up(x: float, ndigits: int | None = None):
    """Round .5 away from zero, so widths do not depend on banker's rounding."""
    if ndigits is None:
        return int(math.copysign(math.floor(abs(x) + 0.5), x))
    if not -308 <= ndigits <= 308:
        raise ValueError(f"round's ndigits must be within -308..308, got {ndigits}")
    scale = 10 ** ndigits
    return math.copysign(math.floor(abs(x) * scale + 0.5) / scale, x)
