"""Studies that persist and scale: storage, workers, resume.

Storage: an SQLite file `runs/<study>/study.db` by default (WAL journal, so several local
processes can share it), any Optuna RDB URL via `--storage` (PostgreSQL/MySQL for many
machines), or `journal:PATH` for Optuna's journal file. The resolved budget, the space, the
objective and the convention are stored in the study's user attributes; resuming with other
settings is refused.

How a worker runs: it keeps an in-memory mirror of the study, samples and evaluates there
(fast), and writes each finished trial to the persistent storage in one `add_trial`, under a
file lock that also checks the trial count. So a killed process never leaves a half-written
trial behind and loses at most the one it was evaluating, every finished trial is on disk,
and workers together finish exactly the requested number of trials. Before each trial a
worker pulls the trials other workers wrote into its mirror, so the sampler learns from all of
them. Re-running the same command resumes: it runs only the trials still missing.

Candidates already evaluated in the study are not evaluated again: the trial copies the
earlier outcome (user attribute `duplicate_of`). With `train`, "already evaluated" means the
same network (`network_fingerprint`): reductions 1.75 and 2.0 that round to the same width
are trained once."""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from mnas import __version__
from mnas.cost.budgets import Budget
from mnas.errors import BudgetError, MnasError
from mnas.search.costing import Costing, network_fingerprint
from mnas.spec.values import freeze
from mnas.search.objective import OBJECTIVES, Candidate, TrainOptions, make_objective
from mnas.search.space import Space, load_space

log = logging.getLogger(__name__)

DEFAULT_TRIALS = {"proxy": 300, "pareto": 500, "train": 20}
SAMPLERS = ("refine", "tpe", "random", "nsga2")
PROBES = 8


class StudyError(MnasError):
    """A storage that cannot be opened, or a study that does not match the options."""


@dataclass(frozen=True)
class SearchConfig:
    """Everything a search (and each of its worker processes) needs, as plain data."""

    budget: Budget
    space: str | None = None
    objective: str = "proxy"
    trials: int | None = None
    workers: int = 1
    seed: int | None = 0
    study: str | None = None
    storage: str | None = None
    out: str | None = None
    sampler: str = "refine"
    top: int = 5
    convention: str = "paper"
    train: TrainOptions | None = None
    costing: str | None = None       # 'formula' / 'graph' once checked (set for workers)

    def resolved(self) -> SearchConfig:
        """Defaults filled in: study name, run folder, storage URL, trial count."""
        if self.objective not in OBJECTIVES:
            raise StudyError(f"unknown objective '{self.objective}'; choose from "
                             f"{', '.join(OBJECTIVES)}")
        if self.sampler not in SAMPLERS:
            raise StudyError(f"unknown sampler '{self.sampler}'; choose from {', '.join(SAMPLERS)}")
        if self.workers < 1:
            raise StudyError(f"--workers must be >= 1, got {self.workers}")
        trials = self.trials if self.trials is not None else DEFAULT_TRIALS[self.objective]
        if trials < 1:
            raise StudyError(f"--trials must be >= 1, got {trials}")
        space = Path(self.space) if self.space else None
        study = self.study or default_study_name(space, self.budget, self.objective)
        if not study or "/" in study or study.startswith("."):
            raise StudyError(f"--study: '{study}' is not a usable name (no '/', no leading '.')")
        out = self.out or str(Path("runs") / study)
        storage = self.storage or f"sqlite:///{Path(out) / 'study.db'}"
        return replace(self, trials=trials, study=study, out=out, storage=storage)


def default_study_name(space: Path | None, budget: Budget, objective: str) -> str:
    stem = space.stem if space else "meliusnet"
    base = budget.name.split("+latency")[0]
    if budget.ops is None and budget.size_mib is None:
        label = ""
    elif base in ("custom",) or base.endswith("(custom)"):
        label = "-".join(p for p in (f"ops{budget.ops:.4g}" if budget.ops else "",
                                     f"size{budget.size_mib:.4g}" if budget.size_mib else "") if p)
    else:
        label = base
    if budget.latency_ms is not None:
        label = "-".join(p for p in (label, f"latency{budget.latency_ms:g}ms") if p)
    return f"{stem}-{label}-{objective}"


# -- storage ---------------------------------------------------------------------------------

def _sqlite_creator(path: str) -> Callable[[], Any]:
    def connect():
        import sqlite3
        conn = sqlite3.connect(path, timeout=120, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")      # readers never block the writer
        conn.execute("PRAGMA synchronous=NORMAL")    # durable across process crashes
        return conn
    return connect


def open_storage(url: str):
    """An Optuna storage for `url`: sqlite:///PATH, another SQLAlchemy URL, or journal:PATH."""
    import optuna
    try:
        if url.startswith("journal:"):
            from optuna.storages.journal import JournalFileBackend
            path = Path(url[len("journal:"):].removeprefix("//"))
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///"):]
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.RDBStorage(
                url, engine_kwargs={"creator": _sqlite_creator(path)})
        if "://" not in url:
            raise StudyError(f"--storage: '{url}' is not a storage URL (sqlite:///PATH, "
                             f"postgresql://..., mysql://..., or journal:PATH)")
        return optuna.storages.RDBStorage(url)
    except StudyError:
        raise
    except Exception as err:    # driver missing, unreachable server, bad URL
        raise StudyError(f"--storage {url}: cannot open: {type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}") from None


@contextmanager
def file_lock(path: Path):
    """An exclusive lock shared by the local processes of one study."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def study_attrs(config: SearchConfig, space: Space, directions) -> dict[str, Any]:
    return {"budget": asdict(config.budget), "objective": config.objective,
            "directions": list(directions), "convention": config.convention,
            "space": space.file, "dimensions": space.fingerprint(), "mnas": __version__}


def open_study(config: SearchConfig, space: Space, directions, storage=None):
    """Create the study or load it, refusing to resume under different settings."""
    import optuna
    storage = storage if storage is not None else open_storage(config.storage)
    with file_lock(lock_path(config)):
        study = optuna.create_study(storage=storage, study_name=config.study,
                                    directions=list(directions), load_if_exists=True)
    want = study_attrs(config, space, directions)
    have = study.user_attrs.get("search")
    if have is None:
        study.set_user_attr("search", want)
        return study
    for key in ("budget", "objective", "convention", "dimensions"):
        if have.get(key) != want[key]:
            raise StudyError(f"study '{config.study}' ({config.storage}) was created with "
                             f"another {key}: {_short(have.get(key))}, not {_short(want[key])}; "
                             f"use another --study (or the same options) to resume")
    return study


def _short(value: Any) -> str:
    if isinstance(value, dict) and "ops" in value:
        return f"{value.get('name')} (OPs {value.get('ops')}, size {value.get('size_mib')} MiB)"
    text = str(value)
    return text if len(text) < 120 else text[:117] + "..."


def lock_path(config: SearchConfig) -> Path:
    return Path(config.out) / "search.lock"


# -- samplers ---------------------------------------------------------------------------------

def make_sampler(name: str, seed: int | None, space: Space | None = None,
                 feasible=None):
    """Optuna's samplers as they are, or `refine` (TPE with budget screening and local
    moves, mnas.search.sampler)."""
    import optuna
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=20)
    from mnas.search.sampler import RefiningSampler, make_tpe
    if name == "tpe" or space is None:
        return make_tpe(seed)
    return RefiningSampler(make_tpe(seed), space.dimensions, feasible, seed)


def worker_seed(seed: int | None, index: int, done: int) -> int | None:
    """Distinct per worker, and per resume point, yet fixed by --seed."""
    if seed is None:
        return None
    import numpy as np
    return int(np.random.SeedSequence([seed, index, done]).generate_state(1)[0])


# -- one worker ------------------------------------------------------------------------------

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
        self.objective = make_objective(config.objective, config.train, trainer)
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
        pruner = (optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
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


def make_costing(space: Space, config: SearchConfig) -> Costing:
    """Costing for the space; the closed form is checked on probes unless already known."""
    import random
    latency = config.budget.latency_table
    if config.costing is not None:
        return Costing(space.base, config.convention, method=config.costing, origin=space.file,
                       latency=latency)
    rng = random.Random(0)
    probes = [{**space.values(space.sample(rng))} for _ in range(PROBES)]
    return Costing(space.base, config.convention, probes=probes, origin=space.file,
                   latency=latency)


def _worker_main(config: SearchConfig, index: int, quota: int, queue) -> None:
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


# -- the search ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchRun:
    """What `run_search` did: the resolved config, how many trials it ran, and how long."""

    config: SearchConfig
    space: Space
    costing_method: str
    trials_before: int
    trials_run: int
    seconds: float


def prepare(config: SearchConfig, trainer=None) -> tuple[SearchConfig, Space, Any]:
    """Resolve defaults, load the space, decide how to cost, open (or create) the study."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = config.resolved()
    space = load_space(config.space)
    costing = make_costing(space, config)
    objective = make_objective(config.objective, config.train, trainer)
    config = replace(config, space=space.file, costing=costing.method)
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
    if missing:
        workers = min(config.workers, missing)
        if workers == 1:
            Worker(config, 0, missing, on_trial=(lambda: advance(1)) if advance else None,
                   trainer=trainer).run()
        else:
            _run_processes(config, workers, missing, advance)
    seconds = time.perf_counter() - t0
    after = len(study.get_trials(deepcopy=False))
    return SearchRun(config, space, config.costing, before, after - before, seconds), study


def _run_processes(config: SearchConfig, workers: int, missing: int,
                   advance: Callable[[int], None] | None) -> None:
    import multiprocessing as mp
    import queue as queue_mod
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    quotas = [missing // workers + (1 if i < missing % workers else 0) for i in range(workers)]
    procs = [ctx.Process(target=_worker_main, args=(config, i, quotas[i], q), daemon=True)
             for i in range(workers)]
    for p in procs:
        p.start()
    finished: set[int] = set()

    def handle(kind: str, payload) -> None:
        if kind == "trial":
            if advance:
                advance(1)
        elif kind == "done":
            finished.add(payload)
        elif kind == "error":
            raise StudyError(payload)
        else:
            raise RuntimeError(f"a search worker crashed: {payload}")

    try:
        while len(finished) < workers:
            try:
                handle(*q.get(timeout=0.5))
            except queue_mod.Empty:
                if any(p.is_alive() for p in procs):
                    continue
                while True:            # all ended: take what they said before ending
                    try:
                        handle(*q.get(timeout=0.5))
                    except queue_mod.Empty:
                        break
                if len(finished) < workers:
                    lost = [i for i in range(workers) if i not in finished]
                    raise StudyError(f"worker process(es) {lost} ended without finishing (exit "
                                     f"codes {[procs[i].exitcode for i in lost]}); re-run to "
                                     f"resume") from None
    finally:
        for p in procs:
            if p.is_alive() and len(finished) < workers:
                p.terminate()
        for p in procs:
            p.join(timeout=10)


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


def search(config: SearchConfig, advance: Callable[[int], None] | None = None,
           start: Callable[[int, int], None] | None = None, plot: bool = True,
           trainer=None) -> SearchOutcome:
    """Run (or resume) the study, then write best-K specs, trials.csv and pareto.png to the
    run folder. Raises BudgetError when no trial fits the budget."""
    from collections import Counter
    from mnas.search.objective import make_objective
    from mnas.search.plot import draw_pareto, hand_designed, pareto_plot_data
    from mnas.search.results import feasible, report_best, trials_frame
    run, study = run_search(config, advance, start, trainer)
    cfg = run.config
    objective = make_objective(cfg.objective, cfg.train, trainer)
    out = Path(cfg.out)
    frame = trials_frame(study, run.space, cfg.budget, objective.directions,
                         objective.value_names)
    files = {"trials": out / "trials.csv"}
    frame.to_csv(files["trials"], index=False)
    best = report_best(study, run.space, cfg.budget, objective.directions,
                       objective.value_names, out, cfg.top, cfg.convention, cfg.study)
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
    outcome = SearchOutcome(run, tuple(best), tuple(objective.value_names), cfg.objective,
                            files, len(trials), sum(feasible(t) for t in trials),
                            dict(Counter(t.state.name for t in trials)))
    budget_error_if_empty(best, study, cfg.budget)
    return outcome
