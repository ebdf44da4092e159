"""A fully connected layer inside the network (squeeze-and-excitation, Real-to-Binary's
scaling branch). Unlike `linear`, the classifier, every convention counts its MACs."""

from __future__ import annotations

from mnas.ops.linear import LinearParams, count_linear, infer_linear, lower_linear
from mnas.ops.registry import OpDef, register

DENSE = register(OpDef(
    name="dense", params=LinearParams, infer_shape=infer_linear, count=count_linear,
    lower=lower_linear,
    doc="Fully connected layer inside the network (e.g. squeeze-and-excitation); its MACs "
        "always count, unlike the classifier `linear`.",
    role="compute",
    describe=lambda p, ins, out: ("binary " if p.binary else "") + f"dense → {out[0]}",
    init="He normal (fan-in, ReLU gain) weights; bias 0"))
