"""Checkpoints of a run folder. `checkpoint.pt` is rewritten after every epoch with all that a
resumed run needs (model, optimizer, scheduler, RNG states, history); `best.pt` and `final.pt`
hold {'model': state_dict, ...} only, the form `mnas export --weights` reads. Files are written
to a temporary name and renamed, so a kill never leaves a torn checkpoint."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import torch

from mnas.errors import MnasError

RESUME = "checkpoint.pt"
BEST = "best.pt"
FINAL = "final.pt"


class CheckpointError(MnasError):
    """A checkpoint is missing, unreadable or belongs to a different run."""


def save(obj: dict, path: Path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load(path: Path, map_location="cpu") -> dict:
    try:
        obj = torch.load(path, map_location=map_location, weights_only=False)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except Exception as err:
        raise CheckpointError(f"{path}: cannot read checkpoint "
                              f"({type(err).__name__}: {err})") from None
    if not isinstance(obj, dict) or "model" not in obj:
        raise CheckpointError(f"{path}: not an mnas checkpoint (no 'model' entry)")
    return obj


def rng_state() -> dict[str, Any]:
    import numpy as np
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def check_same_run(saved: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    """A resumed run must be the run that was interrupted: same spec, data, recipe, seed."""
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            raise CheckpointError(
                f"{path}: cannot resume: the checkpoint was made with {key}={saved.get(key)!r}, "
                f"this run has {key}={current.get(key)!r} (use the same options or another --out)")
