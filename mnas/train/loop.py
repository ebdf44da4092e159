"""One epoch of training and one pass of validation, for any `nn.Module` on any backend.
Metrics are summed on the device and read once per epoch, so the loop adds no host sync per
step beyond what the model itself needs. The forward pass and the loss run under the run's
autocast (`mnas.train.execution`); an fp16 run steps through a gradient scaler."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mnas.train.batches import Batch
from mnas.train.context import Context
from mnas.train.execution import Execution
from mnas.train.transforms import Normalizer

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


def _pin(ctx: Context) -> bool:
    return ctx.device.type == "cuda"


def train_epoch(model, source, batches: Sequence[Batch], optimizers: Sequence, schedulers:
                Sequence, ctx: Context, normalize: Normalizer, loss_fn,
                execution: Execution = Execution("fp32", False, False), scaler=None,
                workers: int = 0, on_step: OnStep | None = None, epoch: int = 0) -> Totals:
    """One pass over `batches`: loss, backward, optimizer steps, scheduler steps (the
    schedule is per step, as in the paper)."""
    model.train()
    device = ctx.device
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    total = len(batches)
    for step, (x, y) in enumerate(source.iterate(batches, True, workers, _pin(ctx))):
        x = execution.images(normalize(x.to(device, non_blocking=True)))
        y = y.to(device, non_blocking=True)
        with execution.autocast(device):
            logits = model(x)
            loss = loss_fn(logits, y, x)
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        if scaler is not None and scaler.is_enabled():
            scaler.scale(loss).backward()
            for opt in optimizers:
                scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            for opt in optimizers:
                opt.step()
        for sched in schedulers:
            sched.step()
        with torch.no_grad():
            n = y.numel()
            sums[0] += loss.detach().double() * n
            sums[1] += (logits.argmax(1) == y).sum()
            sums[2] += n
        if on_step is not None:
            on_step(epoch, step + 1, total)
    return _totals(sums, ctx)


@torch.no_grad()
def evaluate(model, source, batches: Sequence[Batch], ctx: Context, normalize: Normalizer,
             execution: Execution = Execution("fp32", False, False), workers: int = 0) -> Totals:
    """Loss and accuracy over the validation split (each process takes its share)."""
    model.eval()
    device = ctx.device
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    for x, y in source.iterate(batches, False, workers, _pin(ctx)):
        x = execution.images(normalize(x.to(device, non_blocking=True)))
        y = y.to(device, non_blocking=True)
        with execution.autocast(device):
            logits = model(x)
        sums[0] += F.cross_entropy(logits.float(), y, reduction="sum").double()
        sums[1] += (logits.argmax(1) == y).sum()
        sums[2] += y.numel()
    return _totals(sums, ctx)
