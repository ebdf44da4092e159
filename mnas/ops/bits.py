"""Precision rules: how an op's output bit width follows from its inputs' (the `out_bits`
hook of an `OpDef`, read by `mnas.ir.precision`). Functions of bit widths only."""

from __future__ import annotations

from typing import Any

FULL = 32
ONE = 1


def full_precision(params: Any, in_bits: tuple[int, ...]) -> int:
    """Arithmetic on values (sums, averages, scales, normalisation) gives 32-bit values."""
    return FULL


def one_bit(params: Any, in_bits: tuple[int, ...]) -> int:
    """A binarising op (sign and its variants) gives 1-bit values."""
    return ONE


def widest(params: Any, in_bits: tuple[int, ...]) -> int:
    """Ops that only select or move values (max pooling, concat, shuffle, flatten) keep
    their inputs' precision: the widest of them."""
    return max(in_bits, default=FULL)
