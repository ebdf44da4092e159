"""What a search maximises.

`proxy` (the default) needs no training. It is a least-squares fit of the ImageNet top-1 the
paper reports for the 13 MeliusNet / BinaryDenseNet networks it trained with its own recipe
(Table 1; Table 2's "Ours" rows), against two cost-model features of each network:

    top-1 (%) ~ a + b ln(BOPs) + c ln(binary parameters)

BOPs stand for binary compute, binary parameters for binary capacity (the paper's own
argument: dense blocks add capacity, improvement blocks quality). It is honestly a proxy:
13 points, in-sample RMSE ~0.6 points, leave-one-out ~0.9 points, and it knows nothing the
two features do not carry. In particular 32-bit FLOPs (stem, transitions) earn nothing in
it, so under a budget it spends OPs on binary blocks: it prefers the grouped stem, grouped
transitions and the largest reduction factors the space allows. The space's ranges (taken
from the paper's choices) are what keeps widths sensible; use `train` to let accuracy decide.
A candidate whose features lie outside the range of the 13 networks (ImageNet, 224x224) gets
a note on its trial (`proxy_outside`): its score is an extrapolation.

`pareto` maximises the proxy and minimises OPs and size (Optuna's multi-objective TPE),
returning the Pareto front. `train` trains each feasible candidate briefly with the training
backends (`mnas.train`) and maximises validation accuracy, reporting it per epoch so that a
multi-fidelity pruner (`PRUNERS`: Hyperband by default, successive halving, median) stops poor
candidates after a few epochs and spends the epochs on the promising ones. With several GPUs
visible, worker i trains on GPU i mod count (`worker_device`). In every objective a candidate
over budget is recorded as infeasible from its cost alone and never trained."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mnas.errors import MnasError, StudyError, suggest
from mnas.registry import Registry
from mnas.search.costing import CandidateCost
from mnas.zoo import PaperResult, paper_results

#: the paper's results the proxy is fitted to (data: mnas/zoo/paper_results.yaml)
REFERENCE_POINTS: tuple[PaperResult, ...] = paper_results()


@dataclass(frozen=True)
class AccuracyFit:
    """top-1 (%) ~ intercept + per_ln_bops ln(BOPs) + per_ln_binary_params ln(binary params)."""

    intercept: float
    per_ln_bops: float
    per_ln_binary_params: float
    rmse: float
    loo_rmse: float
    points: int
    bops_range: tuple[float, float] = (0.0, float("inf"))
    binary_params_range: tuple[float, float] = (0.0, float("inf"))

    def predict(self, bops: float, binary_params: float) -> float:
        if bops <= 0 or binary_params <= 0:
            return 0.0
        return (self.intercept + self.per_ln_bops * math.log(bops)
                + self.per_ln_binary_params * math.log(binary_params))

    def outside(self, bops: float, binary_params: float) -> str | None:
        """How a network lies outside the range the fit was made on (None: inside)."""
        notes = []
        for label, value, (low, high) in (("BOPs", bops, self.bops_range),
                                          ("binary params", binary_params,
                                           self.binary_params_range)):
            if not low <= value <= high:
                notes.append(f"{label} {value:.3g} {'below' if value < low else 'above'} the "
                             f"fitted {low:.3g}..{high:.3g}")
        return "; ".join(notes) or None

    def describe(self) -> str:
        return (f"top-1 % ~ {self.intercept:.2f} + {self.per_ln_bops:.3f} ln BOPs + "
                f"{self.per_ln_binary_params:.3f} ln binary-params (fit to {self.points} "
                f"ImageNet results of the paper; RMSE {self.rmse:.2f}, leave-one-out "
                f"{self.loo_rmse:.2f} points)")


def reference_features(point: PaperResult) -> tuple[int, int]:
    """BOPs and binary parameters of a reference network (convention-independent)."""
    from mnas.cost.model import cost_graph
    from mnas.spec.expand import load_graph
    from mnas.zoo import SPECS_DIR
    t = cost_graph(load_graph(SPECS_DIR / point.spec, dict(point.sets))).totals
    return t.bops, t.binary_params


@lru_cache(maxsize=1)
def accuracy_fit() -> AccuracyFit:
    import numpy as np
    feats = np.array([reference_features(p) for p in REFERENCE_POINTS], dtype=float)
    X = np.column_stack([np.ones(len(feats)), np.log(feats)])
    y = np.array([p.top1 for p in REFERENCE_POINTS])
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    rmse = float(np.sqrt(np.mean((X @ coef - y) ** 2)))
    loo = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        c = np.linalg.lstsq(X[keep], y[keep], rcond=None)[0]
        loo.append(float(X[i] @ c - y[i]))
    return AccuracyFit(float(coef[0]), float(coef[1]), float(coef[2]), rmse,
                       float(np.sqrt(np.mean(np.square(loo)))), len(y),
                       (float(feats[:, 0].min()), float(feats[:, 0].max())),
                       (float(feats[:, 1].min()), float(feats[:, 1].max())))


@dataclass(frozen=True)
class Candidate:
    """A sampled point of the space: its values, cost, and whether it fits the budget."""

    values: Mapping[str, Any]
    cost: CandidateCost
    feasible: bool
    spec: Callable[[], Any] = field(compare=False)     # builds the Spec when needed


PRUNERS = ("hyperband", "halving", "median")


def make_pruner(name: str, epochs: int, prune: bool = True):
    """Optuna's pruner for `train` over `epochs` epochs (the resource): Hyperband (Li et al.
    2018) or successive halving with a reduction factor of 3 from one epoch, or the median
    rule; none when pruning is off."""
    import optuna
    if not prune:
        return optuna.pruners.NopPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, epochs),
                                              reduction_factor=3)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    raise MnasError(f"--pruner: unknown pruner '{name}'{suggest(name, PRUNERS)}; choose from "
                    f"{', '.join(PRUNERS)}")


def worker_device(device: str, index: int, gpus: int) -> str:
    """The device of search worker `index`: with `auto`/`cuda` and several GPUs, GPU
    index mod count (one trial per GPU at a time); otherwise `device` as given."""
    if device in ("auto", "cuda") and gpus > 1:
        return f"cuda:{index % gpus}"
    return device


@dataclass(frozen=True)
class TrainOptions:
    """How the `train` objective trains a candidate (see `mnas train`). `sets` override
    the candidate's values for training only (e.g. a smaller input), never for costing.
    Recipe and execution fields left None keep the trainer's defaults (the paper's)."""

    data: str = "digits"
    epochs: int = 3
    batch_size: int | None = None
    lr: float | None = None
    device: str = "auto"
    seed: int = 0
    sets: tuple[tuple[str, Any], ...] = ()
    prune: bool = True
    optimizer: str | None = None
    warmup_epochs: float | None = None
    label_smoothing: float | None = None
    steps: int | None = None
    teacher: str | None = None
    precision: str | None = None
    channels_last: bool | None = None
    compile: bool | None = None
    pruner: str = "hyperband"

    def recipe_overrides(self) -> dict[str, Any]:
        """Recipe fields set here (unset ones keep the trainer's defaults, the paper's)."""
        return {k: v for k, v in (("optimizer", self.optimizer),
                                  ("warmup_epochs", self.warmup_epochs),
                                  ("label_smoothing", self.label_smoothing),
                                  ("steps", self.steps), ("teacher", self.teacher))
                if v is not None}

    def execution_overrides(self) -> dict[str, Any]:
        return {k: v for k, v in (("precision", self.precision),
                                  ("channels_last", self.channels_last),
                                  ("compile", self.compile)) if v is not None}


class ProxyObjective:
    name = "proxy"
    directions = ("maximize",)
    value_names = ("proxy_top1",)

    def __init__(self, fit: AccuracyFit):
        self.fit = fit

    def score(self, cost: CandidateCost) -> float:
        return self.fit.predict(cost.bops, cost.binary_params)

    def scored(self, trial, cost: CandidateCost) -> float:
        """The proxy, with a note on the trial (`proxy_outside`) when the candidate lies
        outside the range the fit was made on: its score is then an extrapolation."""
        note = self.fit.outside(cost.bops, cost.binary_params)
        if note:
            trial.set_user_attr("proxy_outside", note)
        return self.score(cost)

    def __call__(self, trial, candidate: Candidate):
        return self.scored(trial, candidate.cost)


class ParetoObjective(ProxyObjective):
    name = "pareto"
    directions = ("maximize", "minimize", "minimize")
    value_names = ("proxy_top1", "ops", "size_mib")

    def __call__(self, trial, candidate: Candidate):
        c = candidate.cost
        return self.scored(trial, c), c.ops, c.size_mib


Trainer = Callable[..., Any]


def default_trainer() -> Trainer:
    """The training backends' `train` (mnas.train, which imports torch)."""
    try:
        from mnas.train.run import train
    except ImportError as err:
        raise MnasError(f"--objective train needs the training backends (mnas.train), which "
                        f"this installation lacks ({err}); use --objective proxy") from None
    return train


class TrainObjective(ProxyObjective):
    """Validation accuracy (%) after a short training; the proxy is kept as a user attribute.
    `trainer(spec, data, epochs=, batch_size=, lr=, seed=, device=, on_epoch=)` must call
    `on_epoch(metrics)` with `metrics.epoch` and `metrics.val_acc` (a fraction) after each
    epoch and let exceptions from it propagate (that is how pruning stops a run)."""

    name = "train"
    directions = ("maximize",)
    value_names = ("val_acc",)

    def __init__(self, fit: AccuracyFit, options: TrainOptions, trainer: Trainer):
        super().__init__(fit)
        self.options = options
        self.trainer = trainer

    def __call__(self, trial, candidate: Candidate):
        import optuna
        trial.set_user_attr("proxy", self.scored(trial, candidate.cost))
        if not candidate.feasible:
            trial.set_user_attr("trained", False)      # over budget: rejected by cost alone
            return 0.0
        trainer = self.trainer
        opts = self.options
        spec = candidate.spec()
        if opts.sets:
            spec = spec.with_values(dict(opts.sets), origin="--train-set")

        def on_epoch(metrics) -> None:
            trial.report(100.0 * metrics.val_acc, metrics.epoch)
            if opts.prune and trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {metrics.epoch}")

        extra = opts.recipe_overrides()
        if opts.execution_overrides():
            from mnas.train.execution import Execution
            extra["execution"] = Execution(**opts.execution_overrides())
        result = trainer(spec, opts.data, epochs=opts.epochs, batch_size=opts.batch_size,
                         lr=opts.lr, seed=opts.seed, device=opts.device, on_epoch=on_epoch,
                         **extra)
        trial.set_user_attr("trained", True)
        return 100.0 * result.best_val_acc


@dataclass(frozen=True)
class ObjectiveDef:
    """One objective a search can optimise: `make(fit, options, trainer)` builds it (an
    object with `directions`, `value_names` and `__call__(trial, candidate)`);
    `default_trials` is the study size when `--trials` is not given; an `instant` objective is
    evaluated while the worker holds the study lock (no other worker can take the same network
    meanwhile), a slow one under a claim on the network."""

    name: str
    description: str
    default_trials: int
    make: Callable[[AccuracyFit, TrainOptions | None, Trainer | None], Any]
    instant: bool = True


OBJECTIVES: Registry[ObjectiveDef] = Registry("objective", StudyError)
register_objective = OBJECTIVES.register


register_objective(ObjectiveDef(
    "proxy", "fitted top-1 from BOPs and binary params (no training; default)", 300,
    lambda fit, options, trainer: ProxyObjective(fit)))
register_objective(ObjectiveDef(
    "pareto", "proxy up, OPs and size down (the Pareto front)", 500,
    lambda fit, options, trainer: ParetoObjective(fit)))
register_objective(ObjectiveDef(
    "train", "validation accuracy after short training, with pruning", 20,
    lambda fit, options, trainer: TrainObjective(fit, options or TrainOptions(),
                                                 trainer or default_trainer()), instant=False))


def make_objective(name: str, options: TrainOptions | None = None,
                   trainer: Trainer | None = None):
    return OBJECTIVES.find(name).make(accuracy_fit(), options, trainer)
