"""Closed-form counts of the `meliusnet` block family (specs/blocks/meliusnet.yaml and the
stems and head of specs/blocks/common.yaml), so a search can cost a candidate in
microseconds instead of expanding ~300 layers.

This is a second statement of what the YAML blocks build, so it is never trusted blindly:
`mnas.search.costing` compares it with the graph cost model (`build_graph` + `cost_graph`)
on the base spec and on probe candidates before using it, and falls back to the graph model
when they disagree (an edited block library, an unknown stem or unit). It returns None for
anything it does not cover or that the graph model would reject, so errors always come from
the graph model, with its messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mnas.spec.expr import round_half_up

FAMILY_BLOCK = "meliusnet"
KNOBS = frozenset({"stem", "stages", "transitions", "reductions", "groups", "shuffle", "growth",
                   "clip", "classes", "unit", "stem_channels"})
BINCONV_KERNEL = 3
WIDTH_MULTIPLE = 32


@dataclass(frozen=True)
class FamilyCounts:
    """Counts before a convention: MACs of binary convs, of 32-bit convs and of the classifier,
    parameters by precision (classifier bias included), BatchNorm channels (gamma + beta each),
    and the transition widths the values resolve to."""

    binary_macs: int
    float_macs: int
    fc_macs: int
    binary_params: int
    float_params: int
    norm_channels: int
    widths: tuple[int, ...]


def _window(size: int, kernel: int, stride: int, padding: int) -> int | None:
    span = size + 2 * padding - kernel
    return None if span < 0 else span // stride + 1


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class _Tally:
    __slots__ = ("bmacs", "fmacs", "bparams", "fparams", "norm")

    def __init__(self):
        self.bmacs = self.fmacs = self.bparams = self.fparams = self.norm = 0

    def conv(self, c_in: int, c_out: int, kernel: int, groups: int, hw: int) -> None:
        weights = c_out * (c_in // groups) * kernel * kernel
        self.fparams += weights
        self.fmacs += weights * hw


def _stem(kind: str, c_in: int, h: int, w: int, channels: int, t: _Tally):
    """Adds the stem's counts; returns its output (channels, h, w), or None if not covered."""
    if kind == "imagenet":
        h1, w1 = _window(h, 7, 2, 3), _window(w, 7, 2, 3)
        if not h1 or not w1:
            return None
        t.conv(c_in, channels, 7, 1, h1 * w1)
        t.norm += channels
    elif kind == "grouped":
        half = channels // 2
        if not half or half % 8 or channels % 8:
            return None
        h1, w1 = _window(h, 3, 2, 1), _window(w, 3, 2, 1)
        if not h1 or not w1:
            return None
        t.conv(c_in, half, 3, 1, h1 * w1)
        t.conv(half, half, 3, 4, h1 * w1)
        t.conv(half, channels, 3, 8, h1 * w1)
        t.norm += half + half + channels
    else:
        return None
    h2, w2 = _window(h1, 3, 2, 1), _window(w1, 3, 2, 1)
    if not h2 or not w2:
        return None
    return channels, h2, w2


def family_network(values: Mapping[str, Any], input_shape: tuple[int, ...],
                   widths: tuple[int, ...]) -> tuple:
    """What network `block: meliusnet` builds from `values` (defaults merged), as a value:
    transition widths instead of the reductions that give them, and no `shuffle` when the
    transitions are not grouped (the block adds the shuffle only when groups > 1)."""
    knobs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()
             if k in KNOBS and k != "reductions"}
    knobs["transitions"] = tuple(widths)
    if knobs.get("groups") == 1:
        knobs.pop("shuffle", None)
    return FAMILY_BLOCK, tuple(input_shape), tuple(sorted(knobs.items()))


def meliusnet_counts(values: Mapping[str, Any], input_shape: tuple[int, ...]) -> FamilyCounts | None:
    """Counts of `block: meliusnet` called with `values` (the block's defaults already
    merged in) on an input of `input_shape` (C, H, W); None when not covered."""
    if len(input_shape) != 3 or any(k not in KNOBS for k in values):
        return None
    stages, transitions, reductions = values.get("stages"), values.get("transitions"), \
        values.get("reductions")
    groups, shuffle, growth = _int(values.get("groups")), _int(values.get("shuffle")), \
        _int(values.get("growth"))
    classes, stem_channels = _int(values.get("classes")), _int(values.get("stem_channels"))
    unit = values.get("unit")
    if (not isinstance(stages, (list, tuple)) or not stages or None in (groups, shuffle, growth,
            classes, stem_channels) or unit not in ("melius", "dense")
            or any(_int(n) is None for n in stages)):
        return None
    n_trans = len(stages) - 1
    if (transitions is None) == (reductions is None) and n_trans:
        return None
    per = transitions if transitions is not None else reductions
    if n_trans and (not isinstance(per, (list, tuple)) or len(per) < n_trans):
        return None
    t = _Tally()
    c_in, h, w = input_shape
    out = _stem(values.get("stem"), c_in, h, w, stem_channels, t)
    if out is None:
        return None
    c, h, w = out
    k2 = BINCONV_KERNEL * BINCONV_KERNEL
    widths = []
    for i, n in enumerate(stages):
        hw = h * w
        if unit == "melius":
            # unit j sees c + j*growth channels: dense conv on c_j, improvement conv on c_j + growth
            s = n * (2 * c + growth) + growth * n * (n - 1)
        else:
            s = n * c + growth * n * (n - 1) // 2
        t.bparams += k2 * growth * s
        t.bmacs += k2 * growth * s * hw
        t.norm += s
        c += n * growth
        if i == len(stages) - 1:
            break
        # transition: BN -> maxpool 2x2 s2 -> ReLU -> [shuffle] -> 1x1 conv (groups)
        t.norm += c
        h, w = _window(h, 2, 2, 0), _window(w, 2, 2, 0)
        if not h or not w:
            return None
        if groups > 1 and c % shuffle:
            return None
        if transitions is not None:
            width = _int(per[i])
        else:
            r = per[i]
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not r > 0:
                return None
            width = max(WIDTH_MULTIPLE,
                        round_half_up(c / r / WIDTH_MULTIPLE) * WIDTH_MULTIPLE)
        if width is None or c % groups or width % groups:
            return None
        t.conv(c, width, 1, groups, h * w)
        widths.append(width)
        c = width
    # head: BN -> ReLU -> global average pool -> FC with bias
    t.norm += c
    fc = c * classes
    return FamilyCounts(t.bmacs, t.fmacs, fc, t.bparams, t.fparams + fc + classes, t.norm,
                        tuple(widths))
