"""The text a diagram shows: compact figures, shapes, and what one layer does in a few
words."""

from __future__ import annotations

from mnas.ir.graph import Node
from mnas.ops.registry import Shape, get_op


def fmt_shape(shape: Shape) -> str:
    return "×".join(str(d) for d in shape)


def fmt_count(x: float) -> str:
    """Compact figures for labels: 4.62e9, 38.4k, 0."""
    if x == 0:
        return "0"
    if abs(x) >= 1e5:
        mantissa, exp = f"{x:.2e}".split("e")
        return f"{mantissa}e{int(exp)}"
    if abs(x) >= 1e3:
        return f"{x / 1e3:.3g}k"
    return f"{x:.3g}"


def fmt_params(n: int) -> str:
    if n >= 10 ** 6:
        return f"{n / 1e6:.3g}M"
    if n >= 10 ** 3:
        return f"{n / 1e3:.3g}k"
    return str(n)


def describe(node: Node, in_shapes: tuple[Shape, ...], out: Shape) -> str:
    """What one layer does, in a few words ("binary conv 3×3 → 64", "maxpool 2×2 /2"): its
    op's `describe` (`OpDef`)."""
    return get_op(node.op).description(node.params, in_shapes, out)
