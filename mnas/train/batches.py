"""How one epoch is cut into batches, shared by every backend. Every random choice (order,
augmentation) comes from a generator seeded by (seed, epoch, step), so an epoch's data does
not depend on what ran before it: a resumed run sees exactly the batches an uninterrupted one
would have."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Batch:
    """One step's share of the data for this process: dataset indices and the seed its
    augmentation draws from."""

    indices: torch.Tensor
    seed: int


def batch_seed(seed: int, epoch: int, step: int, rank: int = 0) -> int:
    return (((seed * 1_000_003 + epoch) * 100_003 + step) * 1_009 + rank) % 2**63


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Training drops the last partial batch (a batch smaller than the rest gives a noisier
    step, and DDP needs every rank to have samples); a split smaller than one batch is one."""
    return max(1, n // batch_size)


def epoch_batches(n: int, batch_size: int, epoch: int, seed: int, rank: int = 0,
                  world: int = 1) -> list[Batch]:
    """This rank's training batches for `epoch`: a seeded permutation cut into global batches
    of `batch_size`, each split across the `world` ranks (rank r takes every world-th sample)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(batch_seed(seed, epoch, 0)))
    size = min(batch_size, n)
    return [Batch(perm[s * size:(s + 1) * size][rank::world], batch_seed(seed, epoch, s + 1, rank))
            for s in range(steps_per_epoch(n, batch_size))]


def eval_batches(n: int, batch_size: int, rank: int = 0, world: int = 1) -> list[Batch]:
    """Every sample exactly once over all ranks (no padding, so metrics are exact)."""
    idx = torch.arange(rank, n, world)
    return [Batch(idx[s:s + batch_size], 0) for s in range(0, len(idx), batch_size)]
