"""Weights' signs stored 1 bit each (8 to a byte), the form the `bits` and `kernels`
inference forms and the packed export keep in their state dicts."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_POWERS = [float(1 << b) for b in range(8)]


def pack_bits(flags: torch.Tensor) -> torch.Tensor:
    """Booleans (any shape, read in C order) -> uint8, 8 to a byte, first flag in bit 0."""
    flat = flags.reshape(-1).to(torch.uint8)
    flat = F.pad(flat, (0, -flat.numel() % 8)).reshape(-1, 8)
    return (flat << torch.arange(8, dtype=torch.uint8)).sum(1, dtype=torch.uint8)


def unpack_bits(bits: torch.Tensor, shape) -> torch.Tensor:
    """The inverse of `pack_bits`, as 0./1. floats of `shape`, by division and floor only
    (ops every runtime has, unlike bit shifts on uint8)."""
    b = bits.to(torch.float32).reshape(-1, 1)
    powers = torch.tensor(_POWERS, dtype=torch.float32)
    flags = torch.floor(b / powers) - 2 * torch.floor(b / (2 * powers))
    return flags.reshape(-1)[:math.prod(shape)].reshape(shape)
