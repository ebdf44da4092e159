"""`fit`: train an initialised module on data with a recipe, in a context (local or one DDP
rank), writing the run folder:

  metrics.csv     one row per epoch: epoch, train_loss, train_acc, val_loss, val_acc, seconds, lr
  final.json      best_val_acc, best_epoch, last_val_acc, epochs, seconds, images_per_second,
                  the recipe, the data, the history, ...
  checkpoint.pt   everything a resumed run needs, rewritten after every epoch
  best.pt         {'model': state_dict, ...} of the epoch with the best validation accuracy
  final.pt        {'model': state_dict, ...} after the last epoch (for `mnas export --weights`)

Setting MNAS_TRAIN_KILL_AFTER_EPOCH=k makes the process SIGKILL itself right after epoch k is
checkpointed: the crash the resume tests recover from."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from mnas.errors import MnasError
from mnas.train import checkpoint as ckpt
from mnas.train.batches import epoch_batches, eval_batches, steps_per_epoch
from mnas.train.backends import BackendError
from mnas.train.context import Context, state_digest
from mnas.train.datasets import Data
from mnas.train.loop import OnStep, evaluate, train_epoch
from mnas.train.network import count_params
from mnas.train.recipe import Recipe, make_optimizer, make_scheduler
from mnas.train.results import EpochMetrics, OnEpoch, TrainResult

log = logging.getLogger(__name__)

CSV_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "lr")
KILL_ENV = "MNAS_TRAIN_KILL_AFTER_EPOCH"


def write_csv(path: Path, history) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for m in history:
            w.writerow([m.epoch] + [f"{getattr(m, c):.6g}" if c != "seconds" else
                                    f"{m.seconds:.3f}" for c in CSV_COLUMNS[1:]])
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def seed_everything(seed: int) -> None:
    import random

    import numpy as np
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fit(module, data: Data, recipe: Recipe, ctx: Context, *, name: str, seed: int = 0,
        out: Path | None = None, resume: bool = False, workers: int = 0, eval_batch_size: int = 0,
        fingerprint: Mapping[str, Any] | None = None, meta: Mapping[str, Any] | None = None,
        on_epoch: OnEpoch | None = None, on_step: OnStep | None = None) -> TrainResult:
    """Train `module` (already initialised) on `data` with `recipe` in context `ctx`."""
    recipe = recipe.check()
    module = module.to(ctx.device)
    n_train, n_val = len(data.train), len(data.val)
    if ctx.world > 1 and min(recipe.batch_size, n_train) % ctx.world:
        raise BackendError(f"--batch-size {min(recipe.batch_size, n_train)} does not split "
                           f"evenly over {ctx.world} processes")
    steps = steps_per_epoch(n_train, recipe.batch_size)
    optimizer = make_optimizer(recipe, module.parameters())
    scheduler = make_scheduler(recipe, optimizer, steps)
    fingerprint = dict(fingerprint or {})
    fingerprint.update(recipe=recipe.as_dict(), seed=seed, data=data.name, classes=data.classes)
    history: list[EpochMetrics] = []
    start = 0
    if out is not None:
        out = Path(out)
        path = out / ckpt.RESUME
        if path.exists():
            if not resume:
                raise ckpt.CheckpointError(f"{out}: already holds a run ({ckpt.RESUME}); pass "
                                           f"--resume to continue it, or choose another --out")
            state = ckpt.load(path)     # on the CPU: RNG states must stay CPU tensors
            ckpt.check_same_run(state.get("fingerprint", {}), fingerprint, path)
            module.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            ckpt.set_rng_state(state["rng"])
            history = [EpochMetrics(**m) for m in state["history"]]
            start = state["epoch"]
            log.info("%s: resuming after epoch %d", out, start)
        if ctx.main:
            out.mkdir(parents=True, exist_ok=True)
    model = ctx.wrap(module)
    eval_size = eval_batch_size or recipe.batch_size
    val_batches = eval_batches(n_val, eval_size, ctx.rank, ctx.world)
    best = max(history, key=lambda m: m.val_acc, default=None)
    kill_after = int(os.environ.get(KILL_ENV, "0") or 0)
    for epoch in range(start + 1, recipe.epochs + 1):
        t0 = time.perf_counter()
        batches = epoch_batches(n_train, recipe.batch_size, epoch, seed, ctx.rank, ctx.world)
        tr = train_epoch(model, data.train, batches, optimizer, scheduler, ctx, data.mean,
                         data.std, workers, on_step, epoch)
        t_train = time.perf_counter() - t0
        ctx.sync_buffers(module)
        va = evaluate(module, data.val, val_batches, ctx, data.mean, data.std, workers)
        if not math.isfinite(tr.mean_loss):
            raise MnasError(f"{name}: training diverged in epoch {epoch} (loss {tr.mean_loss}); "
                            f"try a lower --lr or a warm-up")
        m = EpochMetrics(epoch, tr.mean_loss, tr.accuracy, va.mean_loss, va.accuracy,
                         time.perf_counter() - t0, scheduler.get_last_lr()[0], t_train, tr.count)
        history.append(m)
        improved = best is None or m.val_acc > best.val_acc
        best = m if improved else best
        if out is not None and ctx.main:
            ckpt.save({"model": module.state_dict(), "optimizer": optimizer.state_dict(),
                       "scheduler": scheduler.state_dict(), "rng": ckpt.rng_state(),
                       "epoch": epoch, "history": [asdict(h) for h in history],
                       "fingerprint": fingerprint, "name": name}, out / ckpt.RESUME)
            write_csv(out / "metrics.csv", history)
            if improved:
                ckpt.save({"model": module.state_dict(), "epoch": epoch, "val_acc": m.val_acc,
                           "name": name, **(meta or {})}, out / ckpt.BEST)
        if on_epoch is not None and ctx.main:
            on_epoch(m)
        if kill_after and epoch == kill_after and ctx.main:
            os.kill(os.getpid(), signal.SIGKILL)
    digests = ctx.gather(state_digest(module))
    if len(set(digests)) > 1:
        raise BackendError(f"{name}: the {ctx.world} processes ended with different weights "
                           f"(digests {', '.join(d[:12] for d in digests)})")
    images = sum(h.train_images for h in history)
    busy = sum(h.train_seconds for h in history)
    last = history[-1]
    extra = {"data": data.name, "recipe": recipe.as_dict(), "seed": seed,
             "backend": ctx.backend, "world": ctx.world, "device": str(ctx.device),
             "train_images": n_train, "val_images": n_val, "steps_per_epoch": steps,
             "rank_digests": digests, **(meta or {})}
    result = TrainResult(name, best.val_acc, best.epoch, last.val_acc, len(history),
                         sum(h.seconds for h in history), images / busy if busy else 0.0,
                         tuple(history), data.classes, count_params(module),
                         str(out) if out is not None else None, extra)
    if out is not None and ctx.main:
        ckpt.save({"model": module.state_dict(), "epoch": last.epoch, "val_acc": last.val_acc,
                   "name": name, **(meta or {})}, out / ckpt.FINAL)
        write_csv(out / "metrics.csv", history)
        write_json(out / "final.json", result.as_json())
    ctx.barrier()
    return result
