"""One epoch of training and one pass of validation, for any `nn.Module` on any backend.
Metrics are summed on the device and read once per epoch, so the loop adds no host sync per
step beyond what the model itself needs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mnas.train.context import Context
from mnas.train.batches import Batch
from mnas.train.transforms import normalize

OnStep = Callable[[int, int, int], None]   # (epoch, step, steps)


@dataclass(frozen=True)
class Totals:
    """Summed over the samples of a pass and over all processes."""

    loss: float
    correct: int
    count: int

    @property
    def mean_loss(self) -> float:
        return self.loss / self.count if self.count else float("nan")

    @property
    def accuracy(self) -> float:
        return self.correct / self.count if self.count else float("nan")


def _totals(sums: torch.Tensor, ctx: Context) -> Totals:
    loss, correct, count = ctx.sum(sums).tolist()
    return Totals(loss, int(round(correct)), int(round(count)))


def train_epoch(model, source, batches: Sequence[Batch], optimizer, scheduler, ctx: Context,
                mean, std, workers: int = 0, on_step: OnStep | None = None,
                epoch: int = 0) -> Totals:
    """One pass over `batches`: cross-entropy, backward, optimizer step, scheduler step (the
    schedule is per step, as in the paper)."""
    model.train()
    device = ctx.device
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    total = len(batches)
    for step, (x, y) in enumerate(source.iterate(batches, True, workers)):
        x = normalize(x.to(device, non_blocking=True), mean, std)
        y = y.to(device, non_blocking=True)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            n = y.numel()
            sums[0] += loss.detach().double() * n
            sums[1] += (logits.argmax(1) == y).sum()
            sums[2] += n
        if on_step is not None:
            on_step(epoch, step + 1, total)
    return _totals(sums, ctx)


@torch.no_grad()
def evaluate(model, source, batches: Sequence[Batch], ctx: Context, mean, std,
             workers: int = 0) -> Totals:
    """Loss and accuracy over the validation split (each process takes its share)."""
    model.eval()
    device = ctx.device
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    for x, y in source.iterate(batches, False, workers):
        x = normalize(x.to(device, non_blocking=True), mean, std)
        y = y.to(device, non_blocking=True)
        logits = model(x)
        sums[0] += F.cross_entropy(logits, y, reduction="sum").double()
        sums[1] += (logits.argmax(1) == y).sum()
        sums[2] += y.numel()
    return _totals(sums, ctx)
