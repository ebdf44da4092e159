"""One search worker. It keeps an in-memory mirror of the study, samples and evaluates there
(fast), and writes each finished trial to the persistent storage in one `add_trial`, under a
file lock that also checks the trial count. So a killed process never leaves a half-written
trial behind and loses at most the one it was evaluating, every finished trial is on disk,
and workers together finish exactly the requested number of trials. Before each trial a
worker pulls the trials other workers wrote into its mirror, so the sampler learns from all of
them.

Candidates already evaluated in the study are not evaluated again: the trial copies the
earlier outcome (user attribute `duplicate_of`). With `train`, "already evaluated" means the
same network (`network_fingerprint`): reductions 1.75 and 2.0 that round to the same width
are trained once."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

from mnas.errors import MnasError
from mnas.search.config import SearchConfig
from mnas.search.costing import Costing, network_fingerprint
from mnas.search.objective import Candidate, TrainOptions, make_objective, make_pruner, \
    worker_device
from mnas.search.samplers import make_sampler, worker_seed
from mnas.search.space import Space, load_space
from mnas.search.storage import file_lock, lock_path, open_storage
from mnas.spec.values import freeze

PROBES = 8


class Worker:
    """Runs trials against an in-memory mirror and persists each finished one (see module
    docstring). `on_trial()` is called after each trial written."""

    def __init__(self, config: SearchConfig, index: int = 0, quota: int | None = None,
                 on_trial: Callable[[], None] | None = None, trainer=None):
        import optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.config, self.index, self.on_trial = config, index, on_trial
        self.space = load_space(config.space)
        self.costing = make_costing(self.space, config)
        self.objective = make_objective(config.objective, _worker_options(config, index),
                                        trainer)
        self.storage = open_storage(config.storage)
        self.study = optuna.load_study(study_name=config.study, storage=self.storage)
        self.quota = config.trials if quota is None else quota
        self.tag = f"{index}:{socket.gethostname()}:{os.getpid()}:{time.time_ns() % 10**9}"
        self.mirrored: set[str] = set()
        self.outcomes: dict[Any, Any] = {}
        self.networks: dict[str, Any] = {}      # train: one training per distinct network
        self.written = 0
        self._seq = 0
        done = len(self.study.get_trials(deepcopy=False))
        train = config.train or TrainOptions()
        pruner = (make_pruner(train.pruner, train.epochs * (train.steps or 1), train.prune)
                  if config.objective == "train" else optuna.pruners.NopPruner())
        self.mirror = optuna.create_study(
            directions=list(self.objective.directions), pruner=pruner,
            sampler=make_sampler(config.sampler, worker_seed(config.seed, index, done),
                                 self.space, self.within_budget))
        self.sync()

    def within_budget(self, params) -> bool:
        """Whether the candidate with these parameters fits the budget (by cost alone)."""
        try:
            c = self.costing.cost(self.space.values(params))
        except MnasError:
            return False
        return self.config.budget.fits(c.ops, c.size_mib, c.latency_ms)

    def sync(self, trials=None) -> None:
        """Copy trials written by others (or earlier runs) into the mirror."""
        for t in trials if trials is not None else self.study.get_trials(deepcopy=False):
            tag = t.user_attrs.get("worker", f"#{t.number}")
            if tag in self.mirrored or not t.state.is_finished():
                continue
            self.mirrored.add(tag)
            self.mirror.add_trial(t)
            self.outcomes.setdefault(freeze(t.params), t)
            if "network" in t.user_attrs:
                self.networks.setdefault(t.user_attrs["network"], t)

    def run(self) -> int:
        while self.written < self.quota:
            trials = self.study.get_trials(deepcopy=False)
            if len(trials) >= self.config.trials:
                break
            if len(trials) > len(self.mirrored):
                self.sync(trials)
            frozen = self.evaluate()
            with file_lock(lock_path(self.config)):
                if len(self.study.get_trials(deepcopy=False)) >= self.config.trials:
                    break           # others finished the study meanwhile: drop this one
                self.study.add_trial(frozen)
            self.mirrored.add(frozen.user_attrs["worker"])
            self.written += 1
            if self.on_trial:
                self.on_trial()
        return self.written

    def evaluate(self):
        """Sample one candidate in the mirror, cost it, score it; the finished FrozenTrial."""
        import optuna
        from optuna.trial import TrialState
        trial = self.mirror.ask()
        self._seq += 1
        trial.set_user_attr("worker", f"{self.tag}:{self._seq}")
        values = self.space.suggest(trial)
        key = freeze(trial.params)
        earlier = self.outcomes.get(key)
        if earlier is not None:
            return self._copy(trial, earlier, key)
        try:
            cost = self.costing.cost(values)
        except MnasError as err:
            trial.set_user_attr("error", str(err))
            frozen = self.mirror.tell(trial, state=TrialState.FAIL)
            self.outcomes[key] = frozen
            return frozen
        if self.config.objective == "train":
            network = network_fingerprint(self.space.spec(values))
            earlier = self.networks.get(network)
            if earlier is not None:
                return self._copy(trial, earlier, key)
            trial.set_user_attr("network", network)
        budget = self.config.budget
        trial.set_user_attr("cost", cost.as_dict())
        if budget.ops:
            trial.set_constraint("ops", (cost.ops - budget.ops) / budget.ops)
        if budget.size_mib:
            trial.set_constraint("size", (cost.size_mib - budget.size_mib) / budget.size_mib)
        if budget.latency_ms:
            trial.set_constraint("latency",
                                 (cost.latency_ms - budget.latency_ms) / budget.latency_ms)
        candidate = Candidate(values, cost, budget.fits(cost.ops, cost.size_mib, cost.latency_ms),
                              lambda: self.space.spec(values))
        try:
            value = self.objective(trial, candidate)
        except optuna.TrialPruned:
            frozen = self.mirror.tell(trial, state=TrialState.PRUNED)
        except MnasError as err:
            trial.set_user_attr("error", str(err))
            frozen = self.mirror.tell(trial, state=TrialState.FAIL)
        else:
            frozen = self.mirror.tell(trial, value)
        self.outcomes[key] = frozen
        if "network" in frozen.user_attrs:
            self.networks[frozen.user_attrs["network"]] = frozen
        return frozen

    def _copy(self, trial, earlier, key):
        """Finish `trial` with the outcome of an earlier trial of the same candidate."""
        from optuna.trial import TrialState
        trial.set_user_attr("duplicate_of", earlier.user_attrs.get("worker", f"#{earlier.number}"))
        for k, v in earlier.user_attrs.items():
            if k not in ("worker", "duplicate_of"):
                trial.set_user_attr(k, v)
        for k, v in earlier.constraints.items():
            trial.set_constraint(k, v)
        for step, v in earlier.intermediate_values.items():
            trial.report(v, step)
        if earlier.state == TrialState.COMPLETE:
            return self.mirror.tell(trial, earlier.values)
        return self.mirror.tell(trial, state=earlier.state)


def _worker_options(config: SearchConfig, index: int) -> TrainOptions | None:
    """The train options of worker `index`: its own GPU when several are visible."""
    if config.objective != "train":
        return config.train
    from dataclasses import replace
    options = config.train or TrainOptions()
    try:
        from mnas.train.context import visible_gpus
    except ImportError:          # no training backends: make_objective says so
        return options
    return replace(options, device=worker_device(options.device, index, visible_gpus()))


def make_costing(space: Space, config: SearchConfig) -> Costing:
    """Costing for the space; the block path is checked on probes unless already known."""
    import random
    latency = config.budget.latency_table
    if config.costing is not None:
        return Costing(space.base, config.convention, method=config.costing, origin=space.file,
                       latency=latency)
    rng = random.Random(0)
    probes = [{**space.values(space.sample(rng))} for _ in range(PROBES)]
    return Costing(space.base, config.convention, probes=probes, origin=space.file,
                   latency=latency)


def worker_main(config: SearchConfig, index: int, quota: int, queue) -> None:
    """Entry point of a worker process: reports each trial, then 'done' or the error."""
    try:
        worker = Worker(config, index, quota, on_trial=lambda: queue.put(("trial", index)))
        worker.run()
        queue.put(("done", index))
    except MnasError as err:
        queue.put(("error", f"worker {index}: {err}"))
    except BaseException as err:   # a bug: keep the traceback for the parent to show
        import traceback
        queue.put(("bug", f"worker {index}:\n{traceback.format_exc()}"))
        raise SystemExit(1) from err
