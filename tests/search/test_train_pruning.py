"""`--objective train` at scale: multi-fidelity pruning over epochs, the training options
reaching the trainer, and one GPU per worker."""

from __future__ import annotations

from dataclasses import dataclass

import optuna
import pytest

from mnas.errors import MnasError
from mnas.search.objective import TrainOptions, make_pruner, worker_device
from mnas.search.run import run_search
from study_helpers import load_trials


@dataclass(frozen=True)
class Epoch:
    epoch: int
    val_acc: float


@dataclass(frozen=True)
class Result:
    best_val_acc: float


class Trainer:
    """Accuracy grows per epoch towards a level set by the candidate (no torch)."""

    def __init__(self):
        self.kwargs = []

    def __call__(self, spec, data, *, epochs, on_epoch, **kwargs):
        self.kwargs.append(kwargs)
        level = (sum(spec.values["stages"]) * 37 % 50) / 100 + 0.4
        for e in range(1, epochs + 1):
            on_epoch(Epoch(e, level * e / epochs))
        return Result(level)


@pytest.mark.parametrize("index, gpus, want", [(0, 0, "auto"), (3, 1, "auto"), (0, 4, "cuda:0"),
                                               (5, 4, "cuda:1"), (2, 2, "cuda:0")])
def test_each_worker_takes_its_own_gpu_when_there_are_several(index, gpus, want):
    assert worker_device("auto", index, gpus) == want
    assert worker_device("cpu", index, gpus) == "cpu"
    assert worker_device("cuda:1", index, gpus) == "cuda:1"


def test_pruners_by_name():
    assert isinstance(make_pruner("hyperband", 9), optuna.pruners.HyperbandPruner)
    assert isinstance(make_pruner("halving", 9), optuna.pruners.SuccessiveHalvingPruner)
    assert isinstance(make_pruner("median", 9), optuna.pruners.MedianPruner)
    assert isinstance(make_pruner("hyperband", 9, prune=False), optuna.pruners.NopPruner)
    with pytest.raises(MnasError, match="unknown pruner 'hyperbnd' \\(did you mean 'hyperband'"):
        make_pruner("hyperbnd", 9)


def test_successive_halving_stops_trials_only_at_its_rungs(config):
    """Rungs of successive halving from 1 epoch with reduction factor 3 are epochs 1, 3, 9
    (Jamieson & Talwalkar 2016; Li et al. 2018): a pruned trial stops right after one."""
    from mnas.cost.budgets import resolve_budget
    cfg = config(objective="train", trials=14, sampler="random", seed=3,
                 budget=resolve_budget(max_ops=1e9),
                 train=TrainOptions(epochs=6, pruner="halving"))
    run, _ = run_search(cfg, trainer=Trainer())
    trials = load_trials(run.config)
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned and {len(t.intermediate_values) for t in pruned} <= {1, 3}
    complete = [t for t in trials if t.state.name == "COMPLETE" and t.user_attrs.get("trained")]
    assert complete and all(sorted(t.intermediate_values) == list(range(1, 7)) for t in complete)


def test_training_options_reach_the_trainer(config):
    from mnas.cost.budgets import resolve_budget
    from mnas.train.execution import Execution
    trainer = Trainer()
    opts = TrainOptions(epochs=1, label_smoothing=0.1, steps=2, teacher="runs/t",
                        precision="bf16", channels_last=True, prune=False)
    run_search(config(objective="train", trials=3, sampler="random", seed=1,
                      budget=resolve_budget(max_ops=1e9), train=opts), trainer=trainer)
    assert trainer.kwargs
    for kw in trainer.kwargs:
        assert kw["label_smoothing"] == 0.1 and kw["steps"] == 2 and kw["teacher"] == "runs/t"
        assert kw["execution"] == Execution("bf16", True, None)

