"""Checkpoint files on their own (the resumed training run is tested in test_run.py): atomic
writes, one-line errors for missing, unreadable and foreign files, RNG states that resume the
same random streams, and the same-run check naming the setting that differs."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from mnas.train.checkpoint import (CheckpointError, check_run_folder, check_same_run, load,
                                   restore_module, rng_state, save, set_rng_state)


def test_save_then_load_round_trips_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save({"model": {"w": torch.arange(3.0)}, "epoch": 4}, path)
    save({"model": {"w": torch.arange(5.0)}, "epoch": 5}, path)      # replaced whole
    obj = load(path)
    assert obj["epoch"] == 5 and obj["model"]["w"].tolist() == [0, 1, 2, 3, 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_a_resume_checkpoint_with_rng_states_loads(tmp_path):
    """Resume checkpoints hold numpy and Python RNG states, which torch.load's
    weights-only mode refuses: load must read full checkpoints."""
    path = tmp_path / "checkpoint.pt"
    save({"model": {}, "rng": rng_state()}, path)
    assert set(load(path)["rng"]) >= {"python", "numpy", "torch"}


def test_load_errors_are_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="nope.pt: no such checkpoint"):
        load(tmp_path / "nope.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pt: cannot read checkpoint"):
        load(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not an mnas checkpoint \\(no 'model' state dict\\)"):
        load(foreign)
    listed = tmp_path / "list.pt"
    torch.save([1, 2], listed)
    with pytest.raises(CheckpointError, match="not an mnas checkpoint"):
        load(listed)


def test_rng_state_resumes_every_stream():
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    state = rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(2), np.random.seed(2), torch.manual_seed(2)
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_same_run_check_names_the_setting():
    saved = {"spec": "a.yaml", "seed": 0, "epochs": 3}
    check_same_run(saved, dict(saved), "ckpt")
    with pytest.raises(CheckpointError, match="ckpt: cannot resume: the checkpoint was made "
                                              "with seed=0, this run has seed=1"):
        check_same_run(saved, {**saved, "seed": 1}, "ckpt")
    with pytest.raises(CheckpointError, match="with data=None, this run has data='digits'"):
        check_same_run(saved, {**saved, "data": "digits"}, "ckpt")
    with pytest.raises(CheckpointError, match="with epochs=3, this run has epochs=None"):
        check_same_run(saved, {"spec": "a.yaml", "seed": 0}, "ckpt")


def test_cuda_rng_states_are_kept_where_cuda_is(monkeypatch):
    """On a CUDA machine (simulated: this suite runs on CPU) the GPUs' RNG states are saved
    and restored; without CUDA, or without them in the checkpoint, nothing is restored."""
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: ["gpu0", "gpu1"])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    state = rng_state()
    assert state["cuda"] == ["gpu0", "gpu1"]
    set_rng_state(state)
    assert restored == [["gpu0", "gpu1"]]
    set_rng_state({k: v for k, v in state.items() if k != "cuda"})   # saved on a CPU machine
    assert restored == [["gpu0", "gpu1"]]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    set_rng_state(state)                                               # resumed without CUDA
    assert restored == [["gpu0", "gpu1"]]
    assert "cuda" not in rng_state()


def test_save_syncs_the_file_before_renaming_it(tmp_path, monkeypatch):
    import os
    calls = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync") or fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: calls.append("replace") or replace(a, b))
    save({"model": {}}, tmp_path / "final.pt")
    assert calls == ["fsync", "replace"]


def test_load_maps_tensors_where_asked(tmp_path):
    path = tmp_path / "best.pt"
    save({"model": {"w": torch.ones(2)}}, path)
    assert load(path)["model"]["w"].device.type == "cpu"
    assert load(path, map_location="meta")["model"]["w"].device.type == "meta"


def _linear_state(**extra):
    return {"weight": torch.full((2, 3), 0.5), "bias": torch.tensor([1.0, -1.0]), **extra}


def test_restore_module_loads_the_weights():
    module = torch.nn.Linear(3, 2)
    restore_module(module, _linear_state(), "w.pt")
    assert torch.equal(module.weight, torch.full((2, 3), 0.5))
    assert torch.equal(module.bias, torch.tensor([1.0, -1.0]))


@pytest.mark.parametrize("state,message", [
    ({"weight": torch.zeros(2, 3)}, "entries 1 missing (first 'bias')"),
    (_linear_state(scale=torch.ones(1), shift=torch.ones(1)),
     "entries 2 unexpected (first 'scale')"),
    ({"weight": torch.zeros(2, 4), "bias": torch.zeros(2)},
     "entries 1 of another shape (first 'weight': [2, 4], the network has [2, 3])"),
    ({"weight": torch.zeros(2, 4), "extra": torch.zeros(1)},
     "entries 1 missing (first 'bias'); 1 unexpected (first 'extra'); 1 of another shape "
     "(first 'weight': [2, 4], the network has [2, 3])"),
])
def test_restore_module_names_what_does_not_fit(state, message):
    module = torch.nn.Linear(3, 2)
    with pytest.raises(CheckpointError) as err:
        restore_module(module, state, "w.pt")
    assert str(err.value) == f"w.pt: the weights do not fit the network: {message}"


def test_run_folder_rules(tmp_path):
    """Empty: a new run. A checkpoint: only --resume continues, only --force starts over (and
    removes what the run wrote). Finished files without a checkpoint: never resumed."""
    out = tmp_path / "run"
    assert check_run_folder(out, resume=False, force=False) is False
    out.mkdir()
    for name in ("metrics.csv", "checkpoint.pt"):
        (out / name).write_text("x")
    assert check_run_folder(out, resume=True, force=False) is True
    with pytest.raises(CheckpointError) as err:
        check_run_folder(out, resume=False, force=False)
    assert str(err.value) == (f"{out}: already holds a run (checkpoint.pt); pass --resume to "
                              "continue it, --force to start over, or choose another --out")
    (out / "notes.txt").write_text("mine")
    assert check_run_folder(out, resume=False, force=True) is False
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    (out / "final.json").write_text("{}")
    with pytest.raises(CheckpointError, match="cannot resume: it holds final.json but no "
                                              "checkpoint.pt"):
        check_run_folder(out, resume=True, force=False)
    with pytest.raises(CheckpointError, match="already holds a finished run \\(final.json\\)"):
        check_run_folder(out, resume=False, force=False)


def _first_line_of(call) -> str:
    try:
        call()
    except Exception as err:
        return f"{type(err).__name__}: {str(err).strip().splitlines()[0]}"
    raise AssertionError("expected the call to fail")


def test_errors_torch_raises_are_one_line_with_torchs_first_line(tmp_path):
    """What torch itself says (its first line) is kept in the one-line error."""
    state = {"weight": "not a tensor", "bias": torch.zeros(2)}
    said = _first_line_of(lambda: torch.nn.Linear(3, 2).load_state_dict(state))
    with pytest.raises(CheckpointError) as err:
        restore_module(torch.nn.Linear(3, 2), state, "w.pt")
    assert str(err.value) == f"w.pt: cannot load the weights ({said})"
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    said = _first_line_of(lambda: torch.load(garbage, weights_only=False))
    with pytest.raises(CheckpointError) as err:
        load(garbage)
    assert str(err.value) == (f"{garbage}: cannot read checkpoint, the file is truncated or "
                              f"not a torch checkpoint ({said})")
