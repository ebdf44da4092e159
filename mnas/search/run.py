"""Run a search: resolve the config, check the space against its base, open (or create) the
study, run the missing trials with one or more worker processes (`mnas.search.worker`), then
write the results to the run folder (best-K specs, trials.csv, pareto.png). Re-running the same
command resumes: it runs only the trials still missing. Worker processes end with their parent;
when one ends early the others take its share over."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mnas.cost.budgets import Budget
from mnas.errors import BudgetError, StudyError
from mnas.search.config import SearchConfig
from mnas.search.objective import make_objective
from mnas.search.space import Space, load_space
from mnas.search.storage import open_study
from mnas.search.corners import check_corners
from mnas.search.worker import Worker, make_costing, worker_main

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchRun:
    """What `run_search` did: the resolved config, how many trials it ran, and how long;
    `exhausted` says why it stopped before `config.trials` (the space had no new network)."""

    config: SearchConfig
    space: Space
    costing_method: str
    trials_before: int
    trials_run: int
    seconds: float
    exhausted: str | None = None
    lost_workers: tuple[str, ...] = ()


def prepare(config: SearchConfig, trainer=None) -> tuple[SearchConfig, Space, Any]:
    """Resolve defaults, load the space, decide how to cost, open (or create) the study."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = config.resolved()
    space = load_space(config.space)
    costing = make_costing(space, config)
    objective = make_objective(config.objective, config.train, trainer)
    config = replace(config, space=space.file, costing=costing.method)
    check_corners(space, costing)
    Path(config.out).mkdir(parents=True, exist_ok=True)
    study = open_study(config, space, objective.directions)
    return config, space, study


def run_search(config: SearchConfig, advance: Callable[[int], None] | None = None,
               start: Callable[[int, int], None] | None = None, trainer=None):
    """Run the missing trials of the study with `config.workers` processes. `start(done,
    total)` is called once before the first trial, `advance(n)` after trials are written.
    Returns (SearchRun, study)."""
    config, space, study = prepare(config, trainer)
    before = len(study.get_trials(deepcopy=False))
    missing = max(0, config.trials - before)
    if start:
        start(min(before, config.trials), config.trials)
    t0 = time.perf_counter()
    exhausted, lost = None, ()
    if missing:
        workers = min(config.workers, missing)
        if workers == 1:
            worker = Worker(config, 0, on_trial=(lambda: advance(1)) if advance else None,
                            trainer=trainer)
            worker.run()
            exhausted = worker.exhausted
        else:
            exhausted, lost = _run_processes(config, workers, advance)
    seconds = time.perf_counter() - t0
    after = len(study.get_trials(deepcopy=False))
    return SearchRun(config, space, config.costing, before, after - before, seconds, exhausted,
                     lost), study


def _run_processes(config: SearchConfig, workers: int, advance: Callable[[int], None] | None
                   ) -> tuple[str | None, tuple[str, ...]]:
    """Run `workers` processes until the study is complete. A process that ends early (killed)
    is reported and the others finish its share; an error in one stops all."""
    import multiprocessing as mp
    import os
    import queue as queue_mod
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=worker_main, args=(config, i, os.getpid(), q), daemon=True)
             for i in range(workers)]
    for p in procs:
        p.start()
    finished: set[int] = set()
    exhausted: list[str] = []
    lost: dict[int, str] = {}

    def handle(kind: str, payload) -> None:
        if kind == "trial":
            if advance:
                advance(1)
        elif kind == "done":
            index, why = payload
            finished.add(index)
            if why:
                exhausted.append(why)
        elif kind == "error":
            raise StudyError(payload)
        else:
            raise RuntimeError(f"a search worker crashed: {payload}")

    def drain() -> None:
        while True:
            try:
                handle(*q.get(timeout=0.2))
            except queue_mod.Empty:
                return

    try:
        while len(finished) + len(lost) < workers:
            try:
                handle(*q.get(timeout=0.5))
                continue
            except queue_mod.Empty:
                pass
            for i, p in enumerate(procs):
                if i not in finished and i not in lost and not p.is_alive():
                    drain()                  # what it said before ending
                    if i not in finished:
                        lost[i] = _exit(p.exitcode)
                        log.info("search worker %d ended (%s); the others take its share "
                                    "over", i, lost[i])
        drain()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=10)
    if not finished:
        raise StudyError(f"every worker process ended without finishing "
                         f"({', '.join(lost.values())}); finished trials are kept; re-run to "
                         f"resume")
    return (exhausted[0] if exhausted else None,
            tuple(f"worker {i}: {why}" for i, why in sorted(lost.items())))


def _exit(code: int | None) -> str:
    import signal
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def budget_error_if_empty(rows, study, budget: Budget) -> None:
    """No feasible candidate at all: say how close the space came."""
    if rows:
        return
    trials = study.get_trials(deepcopy=False)
    errors = [t.user_attrs["error"] for t in trials if "error" in t.user_attrs]
    if errors:
        raise BudgetError(f"no feasible candidate finished: {len(errors)} of {len(trials)} "
                          f"trials failed, the first with: {errors[0]}")
    costs = [t.user_attrs["cost"] for t in trials if "cost" in t.user_attrs]
    if not costs:
        raise BudgetError("no trial could be costed; see the trials' errors in trials.csv")
    low_ops = min(c["ops"] for c in costs)
    low_size = min(c["size_mib"] for c in costs)
    latency = ("" if budget.latency_ms is None else
               f", latency {min(c['latency_ms'] for c in costs):.4g} ms")
    limit = "" if budget.latency_ms is None else f", latency <= {budget.latency_ms:g} ms"
    raise BudgetError(f"no candidate fits budget '{budget.name}' (OPs <= {budget.ops or 'inf'}"
                      f", size <= {budget.size_mib or 'inf'} MiB{limit}) in {len(costs)} "
                      f"trials; the smallest seen: OPs {low_ops:.4g}, size {low_size:.4g} MiB"
                      f"{latency}")


@dataclass(frozen=True)
class SearchOutcome:
    """A finished search: the run, the best feasible candidates (written as specs), the files
    written, and counts of the study's trials."""

    run: SearchRun
    best: tuple
    value_names: tuple[str, ...]
    objective: str
    files: dict
    trials: int
    feasible: int
    states: dict
    extrapolated: int = 0


def search(config: SearchConfig, advance: Callable[[int], None] | None = None,
           start: Callable[[int, int], None] | None = None, plot: bool = True,
           trainer=None) -> SearchOutcome:
    """Run (or resume) the study, then write best-K specs, trials.csv and pareto.png to the
    run folder. Raises BudgetError when no trial fits the budget."""
    from collections import Counter
    from mnas.search.plot import draw_pareto, hand_designed, pareto_plot_data
    from mnas.search.ranking import feasible
    from mnas.search.results import MANIFEST, report_best, trials_frame
    run, study = run_search(config, advance, start, trainer)
    cfg = run.config
    objective = make_objective(cfg.objective, cfg.train, trainer)
    out = Path(cfg.out)
    frame = trials_frame(study, run.space, cfg.budget, objective.directions,
                         objective.value_names)
    files = {"trials": out / "trials.csv"}
    frame.to_csv(files["trials"], index=False)
    best = report_best(study, run.space, cfg.budget, objective.value_names, out, cfg.top,
                       cfg.convention, cfg.study, objective.directions)
    trials = study.get_trials(deepcopy=False)
    if plot:
        score = None if cfg.objective == "train" else objective.score
        data = pareto_plot_data(study, cfg.budget, objective.value_names[0],
                                objective.directions[0] == "maximize",
                                hand_designed(cfg.convention, score),
                                f"mnas search '{cfg.study}': {len(trials)} trials, budget "
                                f"{cfg.budget.name}, objective {cfg.objective}")
        files["plot"] = draw_pareto(data, out / "pareto.png")
    files.update({f"best-{b.rank}": Path(b.spec) for b in best})
    if best:
        files["manifest"] = out / MANIFEST
    outcome = SearchOutcome(run, tuple(best), tuple(objective.value_names), cfg.objective,
                            files, len(trials), sum(feasible(t) for t in trials),
                            dict(Counter(t.state.name for t in trials)),
                            sum("proxy_outside" in t.user_attrs for t in trials))
    budget_error_if_empty(best, study, cfg.budget)
    return outcome
