"""Run folders: what they hold, that the final weights are the model the metrics describe,
that a killed run resumes to the same result, and that the Python API serves the search."""

import csv
import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from mnas import api
from mnas.errors import MnasError
from mnas.lower.torch import to_module
from mnas.spec.load import load_spec
from mnas.train import train
from mnas.train.batches import eval_batches
from mnas.train.datasets import open_data
from mnas.train.transforms import normalize
from tiny_run import CIFAR_SPEC, TINY_SETS, one_thread, tiny_args  # noqa: F401 (autouse)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _metrics(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _final(run):
    return json.loads((run / "final.json").read_text())


def _val_acc(spec, sets, weights):
    """Accuracy of saved weights on the digits validation split, computed independently."""
    graph = api.graph(spec, sets)
    model = to_module(graph)
    model.load_state_dict(torch.load(weights, weights_only=False)["model"])
    model.eval()
    data = open_data("digits", graph.input.params.shape)
    correct = 0
    with torch.no_grad():
        for x, y in data.val.iterate(eval_batches(len(data.val), 500), train=False):
            correct += (model(normalize(x, data.mean, data.std)).argmax(1) == y).sum().item()
    return correct / len(data.val)


def _cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "mnas", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_run_folder_holds_metrics_final_and_exportable_weights(tmp_path):
    seen = []
    result = train(str(CIFAR_SPEC), "digits", sets=dict(TINY_SETS), epochs=2, batch_size=64,
                   optimizer="adam", lr=0.005, out=tmp_path, on_epoch=seen.append)
    assert [m.epoch for m in seen] == [1, 2]
    rows = _metrics(tmp_path)
    assert list(rows[0]) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                             "seconds", "lr", "phase"]
    assert [r["phase"] for r in rows] == ["1", "1"]
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    final = _final(tmp_path)
    for key in ("best_val_acc", "last_val_acc", "epochs", "seconds", "history", "recipe"):
        assert key in final
    assert final["epochs"] == 2 and final["recipe"]["optimizer"] == "adam"
    assert final["last_val_acc"] == pytest.approx(float(rows[-1]["val_acc"]), abs=1e-5)
    assert final["best_val_acc"] == max(m.val_acc for m in seen)
    # final.pt is {'model': state_dict} of the lowered module: export and evaluation read it
    state = torch.load(tmp_path / "final.pt", weights_only=False)
    lowered = to_module(api.graph(CIFAR_SPEC, dict(TINY_SETS)))
    assert set(state["model"]) == set(lowered.state_dict())
    assert _val_acc(CIFAR_SPEC, dict(TINY_SETS), tmp_path / "final.pt") == final["last_val_acc"]
    best = torch.load(tmp_path / "best.pt", weights_only=False)
    assert best["epoch"] == final["best_epoch"]
    assert result.best_val_acc == final["best_val_acc"]
    # `mnas export --weights` takes the final checkpoint as it is
    from mnas.cli import main
    sets = [f"--set={k}={v}".replace(" ", "") for k, v in dict(TINY_SETS).items()]
    assert main(["export", str(CIFAR_SPEC), *sets, "--format", "state-dict",
                 "-o", str(tmp_path / "exported.pt"), "--weights", str(tmp_path / "final.pt")]) == 0
    exported = torch.load(tmp_path / "exported.pt", weights_only=True)
    assert all(torch.equal(exported[k], state["model"][k]) for k in state["model"])


def test_loop_learns_a_small_float_network():
    class Net(torch.nn.Module):
        input_shape = (1, 8, 8)

        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(
                torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16),
                torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(16 * 64, 10))

        def forward(self, x):
            return self.body(x)

    result = train(Net(), "digits", epochs=3, batch_size=32, optimizer="adam", lr=0.01)
    assert result.best_val_acc > 0.8          # chance is 0.1
    assert result.history[-1].train_loss < result.history[0].train_loss


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(tmp_path):
    whole, part = tmp_path / "whole", tmp_path / "part"
    opts = dict(sets=dict(TINY_SETS), epochs=3, batch_size=64, optimizer="adam", lr=0.005)
    train(str(CIFAR_SPEC), "digits", out=whole, **opts)
    killed = _cli(*tiny_args(), "--epochs", "3", "--out", part,
                  env={"MNAS_TRAIN_KILL_AFTER_EPOCH": "1"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [r["epoch"] for r in _metrics(part)] == ["1"] and not (part / "final.json").exists()
    train(str(CIFAR_SPEC), "digits", out=part, resume=True, **opts)
    assert _strip(_metrics(part)) == _strip(_metrics(whole))
    a, b = (torch.load(p / "final.pt", weights_only=False)["model"] for p in (whole, part))
    assert all(torch.equal(a[k], b[k]) for k in a)
    fa, fb = _final(whole), _final(part)
    assert (fa["best_val_acc"], fa["last_val_acc"]) == (fb["best_val_acc"], fb["last_val_acc"])


def _interrupted(out):
    """A run of 2 epochs stopped after its first checkpoint."""
    def stop(m):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(str(CIFAR_SPEC), "digits", sets=dict(TINY_SETS), epochs=2, batch_size=64,
              optimizer="adam", lr=0.005, out=out, on_epoch=stop)


def test_existing_run_needs_resume_and_the_same_options(tmp_path, capsys):
    from mnas.cli import main
    _interrupted(tmp_path)
    assert main([*tiny_args(), "--epochs", "2", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds a run" in err[0] and "pass --resume" in err[0]
    assert main([*tiny_args(), "--epochs", "2", "--lr", "0.001", "--out", str(tmp_path),
                 "--resume"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot resume" in err[0] and "recipe=" in err[0]
    assert main([*tiny_args(), "--epochs", "2", "--out", str(tmp_path), "--resume"]) == 0
    assert [r["epoch"] for r in _metrics(tmp_path)] == ["1", "2"]


def test_on_epoch_can_stop_a_run_after_its_checkpoint(tmp_path):
    class Pruned(Exception):
        pass

    def prune(m):
        raise Pruned(m.epoch)

    with pytest.raises(Pruned):
        train(load_spec(CIFAR_SPEC, dict(TINY_SETS)), "digits", epochs=3, batch_size=64,
              out=tmp_path, on_epoch=prune)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["epoch"] == 1


def test_spec_class_count_follows_the_data_unless_set():
    spec = load_spec(CIFAR_SPEC, {**dict(TINY_SETS), "classes": 1000})
    result = train(spec, "digits", epochs=1, batch_size=256)
    assert result.classes == 10
    with pytest.raises(MnasError, match="ends in 1000 outputs but digits has 10 classes"):
        train(str(CIFAR_SPEC), "digits", sets={**dict(TINY_SETS), "classes": 1000}, epochs=1)


def test_search_trainer_call_shape():
    """How `mnas search --objective train` calls it: a Spec, unset options as None."""
    epochs = []
    result = train(load_spec(CIFAR_SPEC, dict(TINY_SETS)), "digits", epochs=1, batch_size=None,
                   lr=None, seed=0, device="cpu", on_epoch=lambda m: epochs.append(m.val_acc))
    assert epochs == [result.last_val_acc] and 0 <= result.best_val_acc <= 1
