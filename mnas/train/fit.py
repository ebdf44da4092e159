"""`fit`: train an initialised module on data with a recipe, in a context (local or one DDP
rank), writing the run folder:

  metrics.csv     one row per epoch: epoch, train_loss, train_acc, val_loss, val_acc, seconds,
                  lr, phase (the step of a two-step schedule)
  final.json      best_val_acc, best_epoch, last_val_acc, epochs, seconds, images_per_second,
                  the recipe, the execution (precision, channels_last, compile), the data, the
                  history, ...
  checkpoint.pt   everything a resumed run needs, rewritten after every epoch: model,
                  optimizers, schedulers, gradient scaler, step of the schedule, execution,
                  RNG states, history
  best.pt         {'model': state_dict, ...} of the epoch with the best validation accuracy
  final.pt        {'model': state_dict, ...} after the last epoch (for `mnas export --weights`)

A folder holding a run is continued only with `resume` (and its checkpoint.pt); `force`
clears it; otherwise training there is refused rather than overwriting finished work.

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
from mnas.train.execution import Execution
from mnas.train.loop import OnStep, evaluate, train_epoch
from mnas.train.loss import TrainingLoss
from mnas.train.network import count_params, set_binary_weights
from mnas.train.recipe import Recipe, make_optimizers, make_scheduler
from mnas.train.results import EpochMetrics, OnEpoch, TrainResult
from mnas.train.sources import held_on_device
from mnas.train.transforms import Normalizer

log = logging.getLogger(__name__)

CSV_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "lr",
               "phase")
KILL_ENV = "MNAS_TRAIN_KILL_AFTER_EPOCH"


def write_csv(path: Path, history) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for m in history:
            w.writerow([m.epoch] + [f"{getattr(m, c):.6g}" if c not in ("seconds", "phase")
                                    else f"{m.seconds:.3f}" if c == "seconds" else m.phase
                                    for c in CSV_COLUMNS[1:]])
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
        out: Path | None = None, resume: bool = False, force: bool = False, workers: int = 0,
        eval_batch_size: int = 0, execution: Execution = Execution(),
        fingerprint: Mapping[str, Any] | None = None, meta: Mapping[str, Any] | None = None,
        on_epoch: OnEpoch | None = None, on_step: OnStep | None = None) -> TrainResult:
    """Train `module` (already initialised) on `data` with `recipe` in context `ctx`."""
    recipe = recipe.check()
    execution = execution.check()
    module = module.to(ctx.device)
    n_train, n_val = len(data.train), len(data.val)
    if ctx.world > 1 and min(recipe.batch_size, n_train) % ctx.world:
        raise BackendError(f"--batch-size {min(recipe.batch_size, n_train)} does not split "
                           f"evenly over {ctx.world} processes")
    steps = steps_per_epoch(n_train, recipe.batch_size)
    fingerprint = dict(fingerprint or {})
    fingerprint.update(recipe=recipe.as_dict(), seed=seed, data=data.name, classes=data.classes)
    teacher = None
    if recipe.teacher:
        from mnas.train.teacher import load_teacher
        teacher = load_teacher(recipe.teacher, recipe.teacher_weights, data, ctx.device)
        fingerprint["teacher"] = state_digest(teacher)
    history: list[EpochMetrics] = []
    start = 0
    state = None
    if out is not None:
        out = Path(out)
        if ctx.main or not force:
            continuing = ckpt.check_run_folder(out, resume, force and ctx.main)
        else:
            continuing = False
        if continuing:
            path = out / ckpt.RESUME
            state = _resumable(ckpt.load(path), path)     # on the CPU: RNG states stay there
            ckpt.check_same_run(_with_defaults(state.get("fingerprint", {})), fingerprint, path)
            execution = _resumed_execution(execution, state.get("execution"), path)
            ckpt.restore_module(module, state["model"], path)
            try:
                history = [EpochMetrics(**m) for m in state["history"]]
            except TypeError as err:
                raise ckpt.CheckpointError(f"{path}: unreadable history ({err})") from None
            start = int(state["epoch"])
            log.info("%s: resuming after epoch %d", out, start)
        if ctx.main:
            out.mkdir(parents=True, exist_ok=True)
    execution = execution.resolved(ctx.device)
    execution.prepare(module)
    if teacher is not None:
        execution.prepare(teacher)
    train_src, val_src = data.train, data.val
    if ctx.device.type == "cuda":
        torch.backends.cudnn.benchmark = True     # fixed shapes: let cuDNN time its kernels
        free = torch.cuda.mem_get_info(ctx.device)[0]
        train_src = held_on_device(data.train, ctx.device, free)
        val_src = held_on_device(data.val, ctx.device, free - getattr(train_src, "nbytes", 0))
    on_device = train_src is not data.train
    normalize = Normalizer(data.mean, data.std, ctx.device)
    loss_fn = TrainingLoss(recipe.label_smoothing, teacher, recipe.distill_weight,
                           recipe.temperature)
    scaler = execution.grad_scaler(ctx.device)
    if state is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    model = execution.compiled(ctx.wrap(module))
    eval_size = eval_batch_size or recipe.batch_size
    val_batches = eval_batches(n_val, eval_size, ctx.rank, ctx.world)
    best = max(history, key=lambda m: m.val_acc, default=None)
    kill_after = int(os.environ.get(KILL_ENV, "0") or 0)
    if state is not None:
        ckpt.set_rng_state(state["rng"])
    phase, optimizers, schedulers = None, [], []
    for epoch in range(start + 1, recipe.total_epochs + 1):
        if phase is None or not phase.first_epoch <= epoch <= phase.last_epoch:
            phase = recipe.phase_of(epoch)
            set_binary_weights(module, phase.binary_weights)
            optimizers = make_optimizers(recipe, module, phase.binary_weights)
            schedulers = [make_scheduler(recipe, o, steps) for o in optimizers]
            if state is not None and state.get("phase", 1) == phase.number:
                _restore_optimizers(state, optimizers, schedulers, out / ckpt.RESUME)
            state = None
        t0 = time.perf_counter()
        batches = epoch_batches(n_train, recipe.batch_size, epoch, seed, ctx.rank, ctx.world)
        tr = train_epoch(model, train_src, batches, optimizers, schedulers, ctx, normalize,
                         loss_fn, execution, scaler, workers, on_step, epoch)
        t_train = time.perf_counter() - t0
        ctx.sync_buffers(module)
        va = evaluate(module, val_src, val_batches, ctx, normalize, execution, workers)
        if not math.isfinite(tr.mean_loss):
            raise MnasError(f"{name}: training diverged in epoch {epoch} (loss {tr.mean_loss}); "
                            f"try a lower --lr or a warm-up")
        m = EpochMetrics(epoch, tr.mean_loss, tr.accuracy, va.mean_loss, va.accuracy,
                         time.perf_counter() - t0, schedulers[0].get_last_lr()[0], t_train,
                         tr.count, phase.number)
        history.append(m)
        improved = best is None or m.val_acc > best.val_acc
        best = m if improved else best
        if out is not None and ctx.main:
            ckpt.save({"model": module.state_dict(),
                       "optimizers": [o.state_dict() for o in optimizers],
                       "schedulers": [s.state_dict() for s in schedulers],
                       "scaler": scaler.state_dict(), "phase": phase.number,
                       "execution": execution.as_dict(), "rng": ckpt.rng_state(),
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
    set_binary_weights(module, True)
    digests = ctx.gather(state_digest(module))
    if len(set(digests)) > 1:
        raise BackendError(f"{name}: the {ctx.world} processes ended with different weights "
                           f"(digests {', '.join(d[:12] for d in digests)})")
    images = sum(h.train_images for h in history)
    busy = sum(h.train_seconds for h in history)
    last = history[-1]
    extra = {"data": data.name, "recipe": recipe.as_dict(), "execution": execution.as_dict(),
             "data_on_device": on_device, "seed": seed, "backend": ctx.backend,
             "world": ctx.world, "device": str(ctx.device), "train_images": n_train,
             "val_images": n_val, "steps_per_epoch": steps, "rank_digests": digests,
             **({"teacher_digest": fingerprint["teacher"]} if teacher is not None else {}),
             **(meta or {})}
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


def _resumable(state: dict, path: Path) -> dict:
    """A resume checkpoint with every entry the loop needs (one written before optimizers
    became a list holds one optimizer and one scheduler)."""
    if "optimizer" in state and "optimizers" not in state:
        state = {**state, "optimizers": [state["optimizer"]]}
    if "scheduler" in state and "schedulers" not in state:
        state = {**state, "schedulers": [state["scheduler"]]}
    ckpt.require(state, ("model", "optimizers", "schedulers", "rng", "epoch", "history"), path)
    return state


def _with_defaults(saved: Mapping[str, Any]) -> dict:
    """A saved fingerprint with recipe fields added since it was written at their defaults
    (the run trained with them)."""
    saved = dict(saved)
    if isinstance(saved.get("recipe"), dict):
        saved["recipe"] = {**Recipe().as_dict(), **saved["recipe"]}
    return saved


def _resumed_execution(asked: Execution, saved: Mapping[str, Any] | None,
                       path: Path) -> Execution:
    """What the user left unset comes from the run; another precision is refused."""
    if not saved:
        return asked
    if asked.precision is not None and asked.precision != saved.get("precision"):
        raise ckpt.CheckpointError(
            f"{path}: cannot resume: the run trains in {saved.get('precision')}, this run asks "
            f"for --precision {asked.precision} (leave it out to continue as the run was, or "
            f"use another --out)")
    return Execution(*(getattr(asked, k) if getattr(asked, k) is not None else saved.get(k)
                       for k in ("precision", "channels_last", "compile")))


def _restore_optimizers(state: dict, optimizers, schedulers, path: Path) -> None:
    saved_o, saved_s = state["optimizers"], state["schedulers"]
    if len(saved_o) != len(optimizers) or len(saved_s) != len(schedulers):
        raise ckpt.CheckpointError(f"{path}: holds {len(saved_o)} optimizer state(s), this "
                                   f"step of the recipe has {len(optimizers)}")
    try:
        for obj, saved in (*zip(optimizers, saved_o), *zip(schedulers, saved_s)):
            obj.load_state_dict(saved)
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ckpt.CheckpointError(f"{path}: the optimizer state does not fit this run "
                                   f"({type(err).__name__}: {first})") from None
