"""Where training runs, one registry entry each: `local` (this process, CPU or one GPU) or
`ddp` (torch.distributed, one process per device started by torchrun; gloo on CPU, nccl on
GPU). Both give the loop a `Context` (`mnas.train.context`).

`mnas train --backend ddp --nproc N` writes the job to the run folder and starts
`python -m torch.distributed.run --standalone --nproc_per_node N -m mnas.train.worker JOB`;
a user may equally start `torchrun ... -m mnas train ... --backend ddp` (any launcher that sets
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mnas.errors import MnasError
from mnas.registry import Registry


class BackendError(MnasError):
    """A backend cannot start (no device, launcher failed, bad process count)."""


@dataclass(frozen=True)
class BackendDef:
    """One backend: `run(job, on_epoch, on_step)` trains a checked `TrainJob` and returns its
    `TrainResult`."""

    name: str
    description: str
    run: Callable


BACKENDS: Registry[BackendDef] = Registry(
    "backend", BackendError, "--backend: unknown backend '{name}'{hint}; choose from {known}")
register_backend = BACKENDS.register
get_backend = BACKENDS.find


def _local(job, on_epoch, on_step):
    from mnas.train.context import local_context
    from mnas.train.job import run_job
    return run_job(job, local_context(job.device), on_epoch, on_step)


def _ddp(job, on_epoch, on_step):
    """Under a launcher: join its process group and train this rank. Otherwise start
    `job.nproc` processes under torchrun (then `on_epoch`/`on_step` run in the workers' rank 0
    instead, as printing) and read the result they wrote."""
    from mnas.train import checkpoint as ckpt
    from mnas.train.context import ddp_context, launch_ddp, under_launcher
    from mnas.train.fit import write_json
    from mnas.train.job import run_job
    from mnas.train.network import check_classes
    from mnas.train.results import TrainResult
    if under_launcher():
        ctx = ddp_context(job.device)
        try:
            return run_job(job, ctx, on_epoch if ctx.main else None, on_step if ctx.main else None)
        finally:
            ctx.close()
    if not job.out:
        raise BackendError("the ddp backend needs a run folder (--out)")
    out = Path(job.out)
    ckpt.check_run_folder(out, job.resume, job.force)    # --force clears it here, once
    from mnas.spec.load import load_spec
    spec = load_spec(job.spec, dict(job.sets))        # spec and data errors: one line, here
    check_classes(spec, job.data, dict(job.sets))
    out.mkdir(parents=True, exist_ok=True)
    job_file = out / "job.json"
    write_json(job_file, job.to_json())
    launch_ddp(job_file, job.nproc)
    try:
        return TrainResult.from_json(json.loads((out / "final.json").read_text()))
    except FileNotFoundError:
        raise BackendError(f"{out}: ddp workers finished without writing final.json") from None


register_backend(BackendDef("local", "one process, CPU or one GPU", _local))
register_backend(BackendDef("ddp", "torch.distributed, one process per device (torchrun)", _ddp))
