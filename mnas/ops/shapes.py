"""Shape arithmetic shared by several ops (functions of sizes only)."""

from __future__ import annotations

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
