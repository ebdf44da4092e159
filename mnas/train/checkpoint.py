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
#: every file a run writes into its folder, in the order a user would look for them
RUN_FILES = ("final.json", "metrics.csv", FINAL, BEST, RESUME)


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
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise CheckpointError(f"{path}: cannot read checkpoint, the file is truncated or not "
                              f"a torch checkpoint ({type(err).__name__}: {first})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("model"), dict):
        raise CheckpointError(f"{path}: not an mnas checkpoint (no 'model' state dict)")
    return obj


def require(state: dict, keys, path: Path) -> None:
    """A resume checkpoint must hold every entry the run needs."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise CheckpointError(f"{path}: incomplete checkpoint, no {', '.join(map(repr, missing))} "
                              f"entry; resume from another run folder or start over with --force")


def restore_module(module, state: dict, where) -> None:
    """`module.load_state_dict(state)` with a one-line error naming what does not fit."""
    want = module.state_dict()
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    wrong = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in want.items()
             if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (first '{missing[0]}')")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (first '{unexpected[0]}')")
    if wrong:
        k, got, exp = wrong[0]
        problems.append(f"{len(wrong)} of another shape (first '{k}': {list(got)}, the network "
                        f"has {list(exp)})")
    if problems:
        raise CheckpointError(f"{where}: the weights do not fit the network: entries "
                              f"{'; '.join(problems)}")
    try:
        module.load_state_dict(state)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise CheckpointError(f"{where}: cannot load the weights ({type(err).__name__}: "
                              f"{first})") from None


def check_run_folder(out: Path, resume: bool, force: bool) -> bool:
    """Whether training in `out` continues a run (True) or starts one (False). A folder
    holding a run is continued only with `resume` and a checkpoint; `force` removes what it
    holds; anything else would overwrite finished work and is refused."""
    out = Path(out)
    present = [f for f in RUN_FILES if (out / f).exists()]
    if not present:
        return False
    if force:
        for f in present:
            (out / f).unlink()
        return False
    if (out / RESUME).exists():
        if resume:
            return True
        raise CheckpointError(f"{out}: already holds a run ({RESUME}); pass --resume to continue "
                              f"it, --force to start over, or choose another --out")
    if resume:
        raise CheckpointError(f"{out}: cannot resume: it holds {', '.join(present)} but no "
                              f"{RESUME} to continue from; choose another --out, or pass --force "
                              f"to train from scratch over it")
    raise CheckpointError(f"{out}: already holds a finished run ({', '.join(present)}); choose "
                          f"another --out, or pass --force to overwrite it")


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
