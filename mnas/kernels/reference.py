"""The bit-packed binary convolution in plain PyTorch: the same layouts and the same integer
arithmetic (xor, popcount by a byte table, the count of taps inside the image) as the C++
kernels in `binary.cpp`, written with tensor ops. It is the path where the kernels cannot be
compiled, and an independent second implementation the tests hold the kernels to. Slow (it
materialises every xor), but exact."""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

WORD = 64
_POPCOUNT = torch.tensor([bin(i).count("1") for i in range(256)], dtype=torch.int64)
_SHIFTS = torch.arange(8, dtype=torch.uint8)
if sys.byteorder != "little":
    raise ImportError("mnas.kernels assumes a little-endian machine")


def words(bits: int) -> int:
    return -(-bits // WORD)


def _to_words(negative: torch.Tensor) -> torch.Tensor:
    """Booleans along the last axis (a multiple of 64) -> int64 words, bit b = element b:
    8 flags to a byte, 8 bytes (little-endian) to a word."""
    flags = negative.to(torch.uint8).unflatten(-1, (-1, 8))
    return (flags << _SHIFTS).sum(-1, dtype=torch.uint8).view(torch.int64)


def pack_signs(x: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """N x C x H x W (or N x C) floats -> [N, H, W, G, Wg] words; bit set where !(x >= 0)."""
    if x.dim() == 2:
        x = x[:, :, None, None]
    n, c, h, w = x.shape
    cg = c // groups
    neg = ~(x >= 0)
    neg = neg.reshape(n, groups, cg, h, w).permute(0, 3, 4, 1, 2)   # N, H, W, G, Cg
    neg = F.pad(neg, (0, words(cg) * WORD - cg))
    return _to_words(neg).contiguous()


def pack_weight(weight: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """O x Cg x KH x KW latent weights -> their signs as [G, KH*KW, Wg, Op] words, Op = O/G
    rounded up to a multiple of 8 (the columns past O/G are zero and never read back)."""
    o, cg, kh, kw = weight.shape
    og = o // groups
    neg = ~(weight.detach() >= 0)
    neg = neg.reshape(groups, og, cg, kh * kw).permute(0, 3, 1, 2)   # G, T, Og, Cg
    neg = F.pad(neg, (0, words(cg) * WORD - cg))
    packed = _to_words(neg).transpose(2, 3)                           # G, T, Wg, Og
    return F.pad(packed, (0, -(-og // 8) * 8 - og)).contiguous()


def popcount(words_: torch.Tensor) -> torch.Tensor:
    """Set bits per int64 element."""
    table = _POPCOUNT.to(words_.device)
    return table[words_.contiguous().view(torch.uint8).long()].unflatten(-1, (-1, 8)).sum(-1)


def binary_conv2d(x: torch.Tensor, w: torch.Tensor, in_channels: int, out_channels: int,
                  kernel, stride, padding, dilation, scale: torch.Tensor | None = None,
                  bias: torch.Tensor | None = None, pad_value: float = 0.0,
                  channels_last: bool = False) -> torch.Tensor:
    """Packed signs [N, H, W, G, Wg] (*) packed weights -> N x O x OH x OW floats: per output,
    Cg * (taps inside the image) - 2 * popcount(x ^ w) summed over those taps, then * scale,
    then + bias; in channels-last memory if asked. With `pad_value` +-1 the border is a +-1
    value and its taps count like the others."""
    n, h, wd, groups, nw = x.shape
    cg, og = in_channels // groups, out_channels // groups
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if pad_value not in (0, 1, -1):
        raise ValueError(f"the padding value must be 0, 1 or -1, not {pad_value}")
    # the border's words: no bits (+1), every channel's bit (-1); zero padding is masked out
    border = pack_signs(torch.full((1, in_channels), -1.0 if pad_value < 0 else 1.0), groups)
    xpad = F.pad(x, (0, 0, 0, 0, pw, pw, ph, ph))
    inside = F.pad(torch.ones(h, wd, dtype=torch.int64), (pw, pw, ph, ph))
    if pad_value:
        xpad = torch.where(inside[None, :, :, None, None].bool(), xpad, border.reshape(groups, nw))
        inside = torch.ones_like(inside)
    acc = torch.zeros(n, oh, ow, groups, og, dtype=torch.int64)
    valid = torch.zeros(oh, ow, dtype=torch.int64)
    for i in range(kh):
        rows = slice(i * dh, i * dh + (oh - 1) * sh + 1, sh)
        for j in range(kw):
            cols = slice(j * dw, j * dw + (ow - 1) * sw + 1, sw)
            taps = xpad[:, rows, cols]                                 # N, OH, OW, G, Wg
            mask = inside[rows, cols]
            ones = popcount(taps[..., None] ^ w[:, i * kw + j, :, :og])  # ..., G, Wg, Og
            acc += ones.sum(-2) * mask[None, :, :, None, None]
            valid += mask
    y = (cg * valid[None, :, :, None, None] - 2 * acc).to(torch.float32)
    y = y.reshape(n, oh, ow, out_channels).permute(0, 3, 1, 2).contiguous()
    if scale is not None:
        y = y * scale.reshape(1, -1, 1, 1)
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y.contiguous(memory_format=torch.channels_last) if channels_last else y
