"""Train one network: `train(...)` for Python callers (the search's `train` objective, `mnas
validate`), `TrainJob` + `run_job` for the CLI and the DDP workers. A run folder holds

  job.json        the options the run was started with
  metrics.csv     one row per epoch: epoch, train_loss, train_acc, val_loss, val_acc, seconds, lr
  final.json      best_val_acc, best_epoch, last_val_acc, epochs, seconds, images_per_second,
                  the recipe, the data, the history, ...
  checkpoint.pt   everything a resumed run needs, rewritten after every epoch
  best.pt         {'model': state_dict, ...} of the epoch with the best validation accuracy
  final.pt        {'model': state_dict, ...} after the last epoch (for `mnas export --weights`)

Accuracies are fractions in [0, 1]. Setting MNAS_TRAIN_KILL_AFTER_EPOCH=k makes the process
SIGKILL itself right after epoch k is checkpointed: the crash the resume tests recover from."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import random
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from mnas.errors import MnasError
from mnas.train import checkpoint as ckpt
from mnas.train.backends import BACKENDS, BackendError, Context, ddp_context, launch_ddp, \
    local_context, state_digest
from mnas.train.data import Data, DataError, epoch_batches, eval_batches, open_data, \
    parse_name, prepare_data, steps_per_epoch
from mnas.train.loop import OnStep, evaluate, train_epoch
from mnas.train.recipe import Recipe, he_init, make_optimizer, make_scheduler

log = logging.getLogger(__name__)

CSV_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "lr")
KILL_ENV = "MNAS_TRAIN_KILL_AFTER_EPOCH"


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float
    lr: float
    train_seconds: float = 0.0
    train_images: int = 0


OnEpoch = Callable[[EpochMetrics], None]


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports (also written as final.json)."""

    name: str
    best_val_acc: float
    best_epoch: int
    last_val_acc: float
    epochs: int
    seconds: float
    images_per_second: float
    history: tuple[EpochMetrics, ...]
    classes: int
    params: int
    out: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def as_json(self) -> dict:
        d = {k: getattr(self, k) for k in ("name", "best_val_acc", "best_epoch", "last_val_acc",
                                           "epochs", "seconds", "images_per_second", "classes",
                                           "params", "out")}
        d.update(self.extra)
        d["history"] = [asdict(m) for m in self.history]
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TrainResult:
        known = {f.name for f in fields(cls)} - {"history", "extra"}
        return cls(**{k: d[k] for k in known if k in d},
                   history=tuple(EpochMetrics(**m) for m in d.get("history", [])),
                   extra={k: v for k, v in d.items() if k not in known and k != "history"})


@dataclass(frozen=True)
class TrainJob:
    """A training run as plain data (JSON-able), so DDP workers can rebuild it."""

    spec: str
    data: str = "digits"
    recipe: Recipe = Recipe()
    sets: tuple[tuple[str, Any], ...] = ()
    seed: int = 0
    out: str | None = None
    resume: bool = False
    device: str = "auto"
    workers: int = 0
    download: bool = False
    eval_batch_size: int = 0
    backend: str = "local"
    nproc: int = 1

    def to_json(self) -> dict:
        d = asdict(self)
        d["sets"] = [list(kv) for kv in self.sets]
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TrainJob:
        d = dict(d)
        d["recipe"] = Recipe(**d.get("recipe", {}))
        d["sets"] = tuple((k, v) for k, v in d.get("sets", []))
        return cls(**d)


# -- building the model ----------------------------------------------------------------------

def graph_digest(graph) -> str:
    """What the network is (names, ops, wiring, params), not where its spec lines are."""
    text = repr([(n.name, n.op, n.inputs, n.params) for n in graph.nodes])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def lower(graph):
    """The graph as a trainable module (the lowering lives in mnas.lower)."""
    from mnas.lower.torch import to_module
    return to_module(graph)


def output_classes(graph) -> int | None:
    from mnas.ir.shapes import infer_shapes
    shape = infer_shapes(graph)[graph.output.name]
    return shape[0] if len(shape) == 1 else None


def graph_for_data(spec, data_name: str, download: bool, user_sets: Mapping[str, Any]):
    """Build the spec's graph and open the data shaped for it. When the network's class count
    differs from the data's and the spec has a `classes` value the user did not set, the
    network is rebuilt with the data's class count."""
    from mnas.spec.expand import build_graph
    graph = build_graph(spec)
    data = open_data(data_name, spec.input, download)
    classes = output_classes(graph)
    if classes != data.classes:
        if "classes" in spec.settable() and "classes" not in user_sets:
            log.info("%s: classes %s -> %d to fit %s", spec.name, classes, data.classes, data.name)
            spec = spec.with_values({"classes": data.classes}, origin="data")
            graph = build_graph(spec)
        else:
            raise DataError(f"{spec.file}: the network ends in {classes} outputs but {data.name} "
                            f"has {data.classes} classes (set classes={data.classes})")
    return spec, graph, data


def count_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- the run ----------------------------------------------------------------------------------

def _write_csv(path: Path, history) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for m in history:
            w.writerow([m.epoch] + [f"{getattr(m, c):.6g}" if c != "seconds" else
                                    f"{m.seconds:.3f}" for c in CSV_COLUMNS[1:]])
    os.replace(tmp, path)


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def seed_everything(seed: int) -> None:
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
            _write_csv(out / "metrics.csv", history)
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
        _write_csv(out / "metrics.csv", history)
        _write_json(out / "final.json", result.as_json())
    ctx.barrier()
    return result


def run_job(job: TrainJob, ctx: Context, on_epoch: OnEpoch | None = None,
            on_step: OnStep | None = None) -> TrainResult:
    """Build the job's network and data and train it in context `ctx`."""
    from mnas.spec.load import load_spec
    sets = dict(job.sets)
    spec = load_spec(job.spec, sets)
    spec, graph, data = graph_for_data(spec, job.data, job.download, sets)
    seed_everything(job.seed)
    module = lower(graph)
    he_init(module)
    meta = {"spec": str(job.spec), "sets": sets, "values": dict(spec.values),
            "input": list(spec.input)}
    return fit(module, data, job.recipe, ctx, name=spec.name, seed=job.seed,
               out=Path(job.out) if job.out else None, resume=job.resume, workers=job.workers,
               eval_batch_size=job.eval_batch_size,
               fingerprint={"graph": graph_digest(graph)}, meta=meta,
               on_epoch=on_epoch, on_step=on_step)


def default_out(spec_path: str, data_name: str) -> str:
    kind, _ = parse_name(data_name)
    return str(Path("runs") / "train" / f"{Path(spec_path).stem}-{kind}")


def check_job(job: TrainJob) -> TrainJob:
    """Catch bad options before any process starts."""
    job.recipe.check()
    if job.backend not in BACKENDS:
        raise BackendError(f"--backend: unknown backend '{job.backend}'; choose from "
                           f"{', '.join(BACKENDS)}")
    if job.workers < 0:
        raise BackendError(f"--workers: must be >= 0, got {job.workers}")
    prepare_data(job.data, job.download)
    return job


def start(job: TrainJob, on_epoch: OnEpoch | None = None,
          on_step: OnStep | None = None) -> TrainResult:
    """Run `job` on its backend: in this process, or in `nproc` DDP processes via torchrun
    (then `on_epoch`/`on_step` run in the workers' rank 0 instead, as printing)."""
    from mnas.train.backends import under_launcher
    check_job(job)
    if job.backend == "local":
        return run_job(job, local_context(job.device), on_epoch, on_step)
    if under_launcher():
        ctx = ddp_context(job.device)
        try:
            return run_job(job, ctx, on_epoch if ctx.main else None, on_step if ctx.main else None)
        finally:
            ctx.close()
    if not job.out:
        raise BackendError("the ddp backend needs a run folder (--out)")
    out = Path(job.out)
    if (out / ckpt.RESUME).exists() and not job.resume:
        raise ckpt.CheckpointError(f"{out}: already holds a run ({ckpt.RESUME}); pass --resume "
                                   f"to continue it, or choose another --out")
    from mnas.spec.load import load_spec
    from mnas.spec.expand import build_graph
    from mnas.train.data import count_classes
    spec = load_spec(job.spec, dict(job.sets))        # spec and data errors: one line, here
    classes, wanted = output_classes(build_graph(spec)), count_classes(job.data)
    if classes != wanted and ("classes" not in spec.settable() or "classes" in dict(job.sets)):
        raise DataError(f"{spec.file}: the network ends in {classes} outputs but {job.data} "
                        f"has {wanted} classes (set classes={wanted})")
    out.mkdir(parents=True, exist_ok=True)
    job_file = out / "job.json"
    _write_json(job_file, job.to_json())
    launch_ddp(job_file, job.nproc)
    try:
        return TrainResult.from_json(json.loads((out / "final.json").read_text()))
    except FileNotFoundError:
        raise BackendError(f"{out}: ddp workers finished without writing final.json") from None


def train(model, data: str | Data = "digits", *, epochs: int | None = None,
          batch_size: int | None = None, lr: float | None = None, optimizer: str | None = None,
          warmup_epochs: float | None = None, weight_decay: float | None = None,
          recipe: Recipe | None = None, sets: Mapping[str, Any] | None = None, seed: int = 0,
          out: str | Path | None = None, resume: bool = False, device: str = "auto",
          workers: int = 0, download: bool = False, eval_batch_size: int = 0,
          backend: str = "local", nproc: int = 1, init: bool = True,
          on_epoch: OnEpoch | None = None, on_step: OnStep | None = None) -> TrainResult:
    """Train a network and return its `TrainResult`.

    `model`: a spec file path, a `Spec`, a `Graph`, or an `nn.Module` (then `data` must be a
    `Data`, or a name opened for the module's `input_shape` attribute). `data`: a name as for
    `--data` or a `Data`. Unset recipe fields take `recipe`'s (default: the paper's).
    `on_epoch(EpochMetrics)` runs after each epoch's checkpoint; raising from it (e.g.
    `optuna.TrialPruned`) stops training and propagates. `backend='ddp'` needs a spec path
    and `out`, and starts `nproc` processes."""
    base = recipe or Recipe()
    overrides = {k: v for k, v in dict(epochs=epochs, batch_size=batch_size, lr=lr,
                                       optimizer=optimizer, warmup_epochs=warmup_epochs,
                                       weight_decay=weight_decay).items() if v is not None}
    recipe = replace(base, **overrides).check()
    sets = dict(sets or {})
    if isinstance(model, (str, Path)):
        if not isinstance(data, str):
            raise MnasError("train(spec path, ...) takes data by name (like --data)")
        job = TrainJob(str(model), data, recipe, tuple(sets.items()), seed,
                       str(out) if out is not None else None, resume, device, workers, download,
                       eval_batch_size, backend, nproc)
        if backend == "ddp" and (on_epoch or on_step):
            raise BackendError("on_epoch/on_step callbacks need the local backend")
        return start(job, on_epoch, on_step)
    if backend != "local":
        raise BackendError("only a spec file can be trained with the ddp backend")
    ctx = local_context(device)
    from mnas.ir.graph import Graph
    from mnas.spec.load import Spec
    fingerprint: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    if isinstance(model, Spec):
        spec = model.with_values(sets) if sets else model
        if isinstance(data, str):
            spec, graph, data = graph_for_data(spec, data, download, sets)
        else:
            from mnas.spec.expand import build_graph
            graph = build_graph(spec)
        model, name = graph, spec.name
        meta = {"spec": spec.file, "values": dict(spec.values), "input": list(spec.input)}
    if isinstance(model, Graph):
        graph = model
        if isinstance(data, str):
            data = open_data(data, graph.input.params.shape, download)
        classes = output_classes(graph)
        if classes != data.classes:
            raise DataError(f"{graph.name}: the network ends in {classes} outputs but "
                            f"{data.name} has {data.classes} classes")
        seed_everything(seed)
        module = lower(graph)
        he_init(module)
        fingerprint = {"graph": graph_digest(graph)}
        meta.setdefault("input", list(graph.input.params.shape))
        name = graph.name
    else:
        module = model
        if isinstance(data, str):
            shape = getattr(module, "input_shape", None)
            if shape is None:
                raise MnasError("train(nn.Module, 'name'): give the module an `input_shape` "
                                "attribute or pass a Data")
            data = open_data(data, shape, download)
        if init:
            seed_everything(seed)
            he_init(module)
        name = type(module).__name__
        fingerprint = {"module": name, "params": count_params(module)}
    seed_everything(seed)
    return fit(module, data, recipe, ctx, name=name, seed=seed,
               out=Path(out) if out is not None else None, resume=resume, workers=workers,
               eval_batch_size=eval_batch_size, fingerprint=fingerprint, meta=meta,
               on_epoch=on_epoch, on_step=on_step)
