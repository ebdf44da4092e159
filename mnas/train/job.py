"""A training run as plain data (`TrainJob`, JSON-able so DDP workers can rebuild it) and
`run_job`, which builds the job's network and data and trains it in one process's context."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mnas.train.backends import BackendError
from mnas.train.context import Context
from mnas.train.datasets import prepare_data, short_name
from mnas.train.execution import Execution
from mnas.train.loop import OnStep
from mnas.train.recipe import Recipe, he_init
from mnas.train.results import OnEpoch, TrainResult


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
    execution: Execution = Execution()
    force: bool = False

    def to_json(self) -> dict:
        d = asdict(self)
        d["sets"] = [list(kv) for kv in self.sets]
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TrainJob:
        d = dict(d)
        d["recipe"] = Recipe(**d.get("recipe", {}))
        d["execution"] = Execution(**d.get("execution", {}))
        d["sets"] = tuple((k, v) for k, v in d.get("sets", []))
        return cls(**d)


def run_job(job: TrainJob, ctx: Context, on_epoch: OnEpoch | None = None,
            on_step: OnStep | None = None) -> TrainResult:
    """Build the job's network and data and train it in context `ctx`."""
    from mnas.spec.load import load_spec
    from mnas.train.fit import fit, seed_everything
    from mnas.train.network import graph_digest, graph_for_data, lower
    sets = dict(job.sets)
    spec = load_spec(job.spec, sets)
    spec, graph, data = graph_for_data(spec, job.data, job.download, sets)
    seed_everything(job.seed)
    module = lower(graph)
    he_init(module, graph)
    meta = {"spec": str(job.spec), "sets": sets, "values": dict(spec.values),
            "input": list(spec.input)}
    return fit(module, data, job.recipe, ctx, name=spec.name, seed=job.seed,
               out=Path(job.out) if job.out else None, resume=job.resume, force=job.force,
               workers=job.workers, eval_batch_size=job.eval_batch_size,
               execution=job.execution,
               fingerprint={"graph": graph_digest(graph)}, meta=meta,
               on_epoch=on_epoch, on_step=on_step)


def default_out(spec_path: str, data_name: str) -> str:
    return str(Path("runs") / "train" / f"{Path(spec_path).stem}-{short_name(data_name)}")


def check_job(job: TrainJob) -> TrainJob:
    """Catch bad options before any process starts."""
    from mnas.train.backends import get_backend
    job.recipe.check()
    job.execution.check()
    if job.resume and job.force:
        raise BackendError("--resume continues the run in --out, --force starts it over: "
                           "give one of them")
    get_backend(job.backend)
    if job.workers < 0:
        raise BackendError(f"--workers: must be >= 0, got {job.workers}")
    prepare_data(job.data, job.download)
    return job
