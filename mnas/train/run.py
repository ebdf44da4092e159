"""Train one network: `start(job)` runs a `TrainJob` on its backend (the CLI, `mnas
validate`, the DDP workers); `train(...)` is the entry point for Python callers (the search's
`train` objective). The run folder is described in `mnas.train.fit`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from mnas.errors import MnasError
from mnas.train.backends import BackendError, get_backend
from mnas.train.datasets import Data, DataError, open_data
from mnas.train.execution import Execution
from mnas.train.fit import fit, seed_everything
from mnas.train.job import TrainJob, check_job
from mnas.train.loop import OnStep
from mnas.train.network import count_params, graph_digest, graph_for_data, lower, output_classes
from mnas.train.recipe import Recipe, he_init
from mnas.train.results import OnEpoch, TrainResult


def start(job: TrainJob, on_epoch: OnEpoch | None = None,
          on_step: OnStep | None = None) -> TrainResult:
    """Check `job`, then run it on its backend."""
    check_job(job)
    return get_backend(job.backend).run(job, on_epoch, on_step)


def train(model, data: str | Data = "digits", *, recipe: Recipe | None = None,
          sets: Mapping[str, Any] | None = None, seed: int = 0, out: str | Path | None = None,
          resume: bool = False, force: bool = False, device: str = "auto", workers: int = 0,
          download: bool = False, eval_batch_size: int = 0, backend: str = "local",
          nproc: int = 1, init: bool = True, execution: Execution | None = None,
          on_epoch: OnEpoch | None = None, on_step: OnStep | None = None,
          **recipe_fields) -> TrainResult:
    """Train a network and return its `TrainResult`.

    `model`: a spec file path, a `Spec`, a `Graph`, or an `nn.Module` (then `data` must be a
    `Data`, or a name opened for the module's `input_shape` attribute). `data`: a name as for
    `--data` or a `Data`. `recipe_fields` are `Recipe` fields (epochs=, lr=, steps=,
    label_smoothing=, teacher=, ...); those left out or None take `recipe`'s (default: the
    paper's). `execution`: precision, channels_last, compile (default: the device's).
    `on_epoch(EpochMetrics)` runs after each epoch's checkpoint; raising from it (e.g.
    `optuna.TrialPruned`) stops training and propagates. `backend='ddp'` needs a spec path
    and `out`, and starts `nproc` processes."""
    known = {f.name for f in fields(Recipe)}
    unknown = sorted(set(recipe_fields) - known)
    if unknown:
        raise TypeError(f"train() got unexpected keyword argument(s) {', '.join(unknown)}")
    overrides = {k: v for k, v in recipe_fields.items() if v is not None}
    recipe = replace(recipe or Recipe(), **overrides).check()
    execution = (execution or Execution()).check()
    sets = dict(sets or {})
    if isinstance(model, (str, Path)):
        if not isinstance(data, str):
            raise MnasError("train(spec path, ...) takes data by name (like --data)")
        job = TrainJob(str(model), data, recipe, tuple(sets.items()), seed,
                       str(out) if out is not None else None, resume, device, workers, download,
                       eval_batch_size, backend, nproc, execution, force)
        if backend == "ddp" and (on_epoch or on_step):
            raise BackendError("on_epoch/on_step callbacks need the local backend")
        return start(job, on_epoch, on_step)
    if backend != "local":
        raise BackendError("only a spec file can be trained with the ddp backend")
    from mnas.train.context import local_context
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
        he_init(module, graph)
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
               out=Path(out) if out is not None else None, resume=resume, force=force,
               workers=workers, eval_batch_size=eval_batch_size, execution=execution,
               fingerprint=fingerprint, meta=meta, on_epoch=on_epoch, on_step=on_step)
