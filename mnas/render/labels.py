"""The text a diagram shows: compact figures, shapes, and what one layer does in a few
words."""

from __future__ import annotations

from mnas.ir.graph import Node
from mnas.ops.registry import Shape


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
    """What one layer does, in a few words ("binary conv 3×3 → 64", "maxpool 2×2 /2")."""
    p = node.params
    if node.op == "conv2d":
        depthwise = p.groups > 1 and p.groups == in_shapes[0][0] == out[0]
        text = ("binary " if p.binary else "") + ("depthwise " if depthwise else "")
        text += f"conv {p.kernel}×{p.kernel}"
        text += f" /{p.stride}" if p.stride > 1 else ""
        text += f" g{p.groups}" if p.groups > 1 and not depthwise else ""
        text += f" d{p.dilation}" if p.dilation > 1 else ""
        return f"{text} → {out[0]}"
    if node.op == "linear":
        return ("binary " if p.binary else "") + f"fc → {out[0]}"
    if node.op in ("maxpool", "avgpool"):
        return f"{node.op} {p.kernel}×{p.kernel}" + (f" /{p.step}" if p.step > 1 else "")
    if node.op == "global_avgpool":
        return "global avgpool"
    if node.op == "channel_shuffle":
        return f"channel shuffle g{p.groups}"
    if node.op == "concat":
        return f"concat → {out[0]} ch"
    if node.op == "add_last":
        k, c = in_shapes[1][0], in_shapes[0][0]
        return f"add onto last {k} of {c} ch"
    if node.op == "input":
        return f"input {fmt_shape(out)}"
    return node.op
