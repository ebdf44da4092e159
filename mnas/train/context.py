"""A training process's place in a run (`Context`): its backend, rank, world size and device.
The loop is the same code for every backend and only asks the context to wrap the model, sum
metrics over processes and average normalisation statistics. Also the devices, joining a
torch.distributed process group, and starting processes under torchrun."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from mnas.train.backends import BackendError

@dataclass(frozen=True)
class Context:
    """This process's place in the run: backend, rank among `world` processes, device."""

    backend: str
    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.backend == "ddp"

    def wrap(self, model):
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel
        ids = [self.device.index] if self.device.type == "cuda" else None
        # Each rank keeps its own BatchNorm statistics during the epoch; `sync_buffers`
        # averages them before validation and checkpointing. (Newer torch renames the flag.)
        import inspect
        params = inspect.signature(DistributedDataParallel.__init__).parameters
        flag = "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"
        return DistributedDataParallel(model, device_ids=ids, **{flag: False})

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise sum over all processes (identity for local)."""
        if self.distributed:
            import torch.distributed as dist
            values = values.clone()
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def sync_buffers(self, module) -> None:
        """Average floating-point buffers (BatchNorm running statistics) over processes, so
        every rank validates and saves the same model."""
        if not self.distributed:
            return
        import torch.distributed as dist
        with torch.no_grad():
            for buf in module.buffers():
                if buf.is_floating_point():
                    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
                    buf.div_(self.world)

    def gather(self, obj) -> list:
        if not self.distributed:
            return [obj]
        import torch.distributed as dist
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist
            dist.barrier()

    def close(self) -> None:
        if self.distributed:
            import torch.distributed as dist
            if dist.is_initialized():
                dist.destroy_process_group()


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' (a GPU when there is one), 'cpu', 'cuda' or 'cuda:N'."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BackendError(f"--device {name}: no CUDA device is available (torch "
                               f"{torch.__version__}); use --device cpu")
        if name == "cuda":
            return torch.device("cuda", local_rank % torch.cuda.device_count())
    try:
        return torch.device(name)
    except RuntimeError:
        raise BackendError(f"--device: unknown device '{name}'; use auto, cpu or "
                           f"cuda[:N]") from None


def visible_gpus() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def under_launcher() -> bool:
    """True in a process started by torchrun (or another launcher setting the env vars)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def local_context(device: str = "auto") -> Context:
    return Context("local", 0, 1, 0, pick_device(device))


def ddp_context(device: str = "auto") -> Context:
    """Join the process group that the launcher described in the environment."""
    if not under_launcher():
        raise BackendError("the ddp backend runs under torchrun: use --nproc N (mnas starts "
                           "it) or start it yourself with torchrun ... -m mnas train ...")
    import torch.distributed as dist
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    dev = pick_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo",
                                rank=rank, world_size=world)
    return Context("ddp", rank, world, local_rank, dev)


def launch_ddp(job_file: Path, nproc: int) -> None:
    """Run the job in `nproc` processes under torchrun; returns when they have all finished."""
    if nproc < 1:
        raise BackendError(f"--nproc: must be >= 1, got {nproc}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", "-m", "mnas.train.worker", str(job_file)]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0:
        raise BackendError(f"ddp training failed in one of its {nproc} processes (exit "
                           f"{proc.returncode}); the messages above say why")


def state_digest(module_or_state) -> str:
    """sha256 of every parameter and buffer, in order: equal digests mean equal models."""
    h = hashlib.sha256()
    state = module_or_state if isinstance(module_or_state, dict) else module_or_state.state_dict()
    for name, t in state.items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
