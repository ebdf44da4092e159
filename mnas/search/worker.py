"""One search worker. It keeps an in-memory mirror of the study, samples there (fast), and writes
each finished trial to the persistent storage in one `add_trial`, under the study lock
(`mnas.search.storage.study_lock`) after checking the trial count. So a killed process never
leaves a half-written trial behind and loses at most the one it was evaluating, every finished
trial is on disk, and workers (on one machine or several sharing a database server) together
finish exactly the requested number of trials, however many of them survive.

Every trial is a new network. A network is what `Costing.network` says (reductions that round to
the same widths give the same network), and the worker never spends a trial on one that the
study holds or that another worker is evaluating: a proposal that repeats one is dropped from
the mirror and the sampler asked again; when the sampler keeps repeating, a new network is drawn
at random, and when none is left in the space's grid the search stops and says so. An instant
objective (the proxy) is scored while the lock is held, so no other worker can take the same
network meanwhile; a slow one (training) first claims the network in the study (`mnas:claims`),
and a claim of a process that died is dropped, so the survivors take its share over.

Each worker takes the next stream number of the study (`mnas:streams`) and seeds its sampler
from it and --seed: processes never draw the same stream, on one machine or several."""

from __future__ import annotations

import math
import os
import random
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mnas.errors import MnasError
from mnas.search.config import SearchConfig
from mnas.search.costing import CandidateCost, Costing
from mnas.search.objective import OBJECTIVES, Candidate, TrainOptions, make_objective, \
    make_pruner, worker_device
from mnas.search.samplers import get_sampler, make_sampler, stream_seed
from mnas.search.space import Space, load_space
from mnas.search.storage import (is_storage_fault, open_storage, storage_failure, study_lock,
                                 trial_count)

PROBES = 8
RETRIES = 30             # proposals of repeated networks before drawing a new one at random
FRESH_DRAWS = 5000       # random draws looking for a new network
ENUMERATE = {"blocks": 200_000, "graph": 2_000}   # grid sizes searched exhaustively at the end
CLAIMS, STREAMS = "mnas:claims", "mnas:streams"
CLAIM_TTL = 6 * 3600     # a claim of another machine older than this is taken over
POLL = 1.0               # seconds between looks while others finish the last trials


@dataclass(frozen=True)
class Verdict:
    """What one parameter set is: its network (or, invalid, a key of the parameters and the
    model's error), its cost, and how far over budget it is (0: within; inf: invalid)."""

    network: str
    cost: CandidateCost | None
    error: MnasError | None
    excess: float


class Worker:
    """Runs trials against an in-memory mirror and persists each finished one until the study
    has `config.trials` (see module docstring). `on_trial()` is called after each trial
    written; `exhausted` says why it stopped early, if it did."""

    def __init__(self, config: SearchConfig, index: int = 0,
                 on_trial: Callable[[], None] | None = None, trainer=None):
        import optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.config, self.index, self.on_trial = config, index, on_trial
        self.space = load_space(config.space)
        self.costing = make_costing(self.space, config)
        self.objective = make_objective(config.objective, _worker_options(config, index),
                                        trainer)
        self.instant = OBJECTIVES[config.objective].instant
        self.screens = get_sampler(config.sampler).screens
        self.storage = open_storage(config.storage)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.tag = f"{index}:{self.host}:{self.pid}:{time.time_ns() % 10**9}"
        self.held: dict[str, str] = {}          # network -> tag of the trial that holds it
        self.claimed: set[str] = set()          # networks other workers are evaluating
        self.verdicts: dict[tuple, Verdict] = {}
        self.params = tuple(d.param for d in self.space.dimensions)
        self.mirrored: set[str] = set()
        self.count = self.written = self._scan = self._seq = 0
        self.exhausted: str | None = None
        with self._storage_faults("cannot open the study"):
            self.study = optuna.load_study(study_name=config.study, storage=self.storage)
            self.study_id = self.storage.get_study_id_from_name(config.study)
            with self.lock():
                self.stream = self._take_stream()
        seed = stream_seed(config.seed, self.stream)
        self.rng = random.Random(seed)
        train = config.train or TrainOptions()
        pruner = (make_pruner(train.pruner, train.epochs * (train.steps or 1), train.prune)
                  if config.objective == "train" else optuna.pruners.NopPruner())
        self.mirror = optuna.create_study(
            directions=list(self.objective.directions), pruner=pruner,
            sampler=make_sampler(config.sampler, seed, self.space,
                                 self.judge if self.screens else None))
        with self._storage_faults("read failed"):
            self.sync()

    # -- the study -----------------------------------------------------------------------------
    def lock(self):
        return study_lock(self.config.storage, self.config.study, self.config.out, self.storage)

    @contextmanager
    def _storage_faults(self, doing: str) -> Iterator[None]:
        """A fault of the storage becomes one StudyError naming its cause."""
        try:
            yield
        except MnasError:
            raise
        except Exception as err:
            if not is_storage_fault(err):
                raise
            raise storage_failure(err, self.config.storage, doing, self.count or None) from None

    def _take_stream(self) -> int:
        stream = self.storage.get_study_system_attrs(self.study_id).get(STREAMS, 0)
        self.storage.set_study_system_attr(self.study_id, STREAMS, stream + 1)
        return stream

    def sync(self) -> None:
        """Read the trials written since the last look (by others): count them, copy them into
        the mirror, note their networks. Costs one count query when there are none."""
        if trial_count(self.storage, self.study_id) == self.count and self.count:
            return
        trials = self.study.get_trials(deepcopy=False)
        self.count = len(trials)
        for t in trials[self._scan:]:
            if not t.state.is_finished():
                continue
            tag = t.user_attrs.get("worker", f"#{t.number}")
            if tag not in self.mirrored:
                self.mirrored.add(tag)
                self.mirror.add_trial(t)
            network = self._network_of(t)
            if network is not None:
                self.held.setdefault(network, tag)
        self._scan = len(trials)

    def _network_of(self, trial) -> str | None:
        stored = trial.user_attrs.get("network")
        if stored and (stored.startswith("g:") or self.costing.method == "graph"):
            return stored          # a graph fingerprint holds whatever the costing method
        if any(d.param not in trial.params for d in self.space.dimensions):
            return stored
        return self.verdict(trial.params).network

    def _claims(self) -> dict[str, dict]:
        claims = dict(self.storage.get_study_system_attrs(self.study_id).get(CLAIMS) or {})
        now = time.time()
        for network, c in list(claims.items()):
            dead = c.get("host") == self.host and not _alive(c.get("pid", -1))
            if dead or now - c.get("since", now) > CLAIM_TTL:
                del claims[network]
        return claims

    def _set_claims(self, claims: dict[str, dict]) -> None:
        self.storage.set_study_system_attr(self.study_id, CLAIMS, claims)

    # -- judging candidates --------------------------------------------------------------------
    def verdict(self, params: Mapping[str, Any]) -> Verdict:
        key = tuple(params[p] for p in self.params)
        hit = self.verdicts.get(key)
        if hit is None:
            hit = self.verdicts[key] = self._judge(params, key)
        return hit

    def _judge(self, params: Mapping[str, Any], key: tuple) -> Verdict:
        try:
            cost, network = self.costing.assess(self.space.values(params))
        except MnasError as err:
            return Verdict(f"x:{key!r}", None, err, math.inf)
        budget = self.config.budget
        if budget.fits(cost.ops, cost.size_mib, cost.latency_ms):
            return Verdict(network, cost, None, 0.0)
        ops, size = budget.usage(cost.ops, cost.size_mib)
        latency = (cost.latency_ms / budget.latency_ms if budget.latency_ms
                   and cost.latency_ms is not None else 0)
        return Verdict(network, cost, None,
                       max(1e-12, (ops or 0) - 1, (size or 0) - 1, latency - 1))

    def is_new(self, v: Verdict) -> bool:
        return v.network not in self.held and v.network not in self.claimed

    def judge(self, params: Mapping[str, Any]) -> tuple[bool, float]:
        """For the sampler: (a new network?, excess over budget)."""
        v = self.verdict(params)
        return self.is_new(v), v.excess

    # -- proposing -----------------------------------------------------------------------------
    def propose(self):
        """(mirror trial, Verdict) of a new network, or None when the space has none left."""
        for _ in range(RETRIES):
            trial = self.mirror.ask()
            self.space.suggest(trial)
            v = self.verdict(trial.params)
            if self.is_new(v):
                return trial, v
            self.drop(trial)
        params = self.fresh()
        if params is None:
            return None
        self.mirror.enqueue_trial(params)
        trial = self.mirror.ask()
        self.space.suggest(trial)
        return trial, self.verdict(trial.params)

    def drop(self, trial) -> None:
        """Forget a mirror trial that will not be written (its sampler sees a failed trial)."""
        from optuna.trial import TrialState
        trial.set_user_attr("dropped", True)
        self.mirror.tell(trial, state=TrialState.FAIL)

    def fresh(self) -> dict[str, Any] | None:
        """A new network drawn at random (within budget when the sampler screens), or, for a
        grid small enough, found by going through all of it; None when none is left."""
        best, best_excess = None, math.inf
        for _ in range(FRESH_DRAWS):
            params = self.space.sample(self.rng)
            v = self.verdict(params)
            if self.is_new(v):
                if v.excess == 0 or not self.screens:
                    return params
                if v.excess < best_excess:
                    best, best_excess = params, v.excess
        size = self.space.size()
        if size is None or size > ENUMERATE[self.costing.method]:
            if best is None:
                self.exhausted = (f"no network the study lacks in {FRESH_DRAWS} random draws; "
                                  f"the space looks exhausted")
            return best
        networks, within = set(), set()
        for params in self.space.grid():
            v = self.verdict(params)
            if v.error is not None:
                continue
            networks.add(v.network)
            if v.excess == 0:
                within.add(v.network)
            if self.is_new(v) and (v.excess == 0 or not self.screens):
                return params
        if self.screens:
            self.exhausted = (f"every network of the space within budget ({len(within)} of "
                              f"{len(networks)} distinct networks) is in the study")
        else:
            self.exhausted = f"every network of the space ({len(networks)}) is in the study"
        return None

    # -- running -------------------------------------------------------------------------------
    def run(self) -> int:
        """Run trials until the study has `config.trials` (or the space has no new network);
        returns how many this worker wrote."""
        with self._storage_faults("write failed"):
            while self.count < self.config.trials:
                proposal = self.propose()
                if proposal is None:
                    break
                done = self._instant(*proposal) if self.instant else self._slow(*proposal)
                if done is None:
                    break
                if done:
                    self.written += 1
                    if self.on_trial:
                        self.on_trial()
        return self.written

    def _instant(self, trial, v: Verdict) -> bool | None:
        with self.lock():
            self.sync()
            if self.count >= self.config.trials:
                self.drop(trial)
                return None
            if not self.is_new(v):
                self.drop(trial)
                return False
            self._write(self.evaluate(trial, v))
        return True

    def _slow(self, trial, v: Verdict) -> bool | None:
        while True:
            with self.lock():
                self.sync()
                claims = self._claims()
                self.claimed = {n for n, c in claims.items() if c.get("worker") != self.tag}
                if self.count >= self.config.trials:
                    self.drop(trial)
                    return None
                if not self.is_new(v):
                    self.drop(trial)
                    return False
                if self.count + len(self.claimed) < self.config.trials:
                    claims[v.network] = {"worker": self.tag, "host": self.host,
                                         "pid": self.pid, "since": time.time()}
                    self._set_claims(claims)
                    break
            time.sleep(POLL)        # the others are on the last trials: take over if one dies
        try:
            frozen = self.evaluate(trial, v)
        except BaseException:
            with self.lock():
                self._release(v.network)
            raise
        with self.lock():
            self._release(v.network)
            self.sync()
            if self.count >= self.config.trials:
                return None
            self._write(frozen)
        return True

    def _release(self, network: str) -> None:
        claims = self._claims()
        if claims.pop(network, None) is not None:
            self._set_claims(claims)

    def _write(self, frozen) -> None:
        self.study.add_trial(frozen)
        tag = frozen.user_attrs["worker"]
        self.mirrored.add(tag)
        if "network" in frozen.user_attrs:
            self.held[frozen.user_attrs["network"]] = tag
        elif frozen.user_attrs.get("error"):
            self.held[self.verdict(frozen.params).network] = tag
        self.count += 1

    def evaluate(self, trial, v: Verdict):
        """Score the candidate of a mirror trial; the finished FrozenTrial."""
        import optuna
        from optuna.trial import TrialState
        self._seq += 1
        trial.set_user_attr("worker", f"{self.tag}:{self._seq}")
        if v.error is not None:
            trial.set_user_attr("error", str(v.error))
            return self.mirror.tell(trial, state=TrialState.FAIL)
        trial.set_user_attr("network", v.network)
        cost, budget = v.cost, self.config.budget
        values = self.space.values(trial.params)
        trial.set_user_attr("cost", cost.as_dict())
        if budget.ops:
            trial.set_constraint("ops", (cost.ops - budget.ops) / budget.ops)
        if budget.size_mib:
            trial.set_constraint("size", (cost.size_mib - budget.size_mib) / budget.size_mib)
        if budget.latency_ms:
            trial.set_constraint("latency",
                                 (cost.latency_ms - budget.latency_ms) / budget.latency_ms)
        candidate = Candidate(values, cost, v.excess == 0, lambda: self.space.spec(values))
        try:
            value = self.objective(trial, candidate)
        except optuna.TrialPruned:
            return self.mirror.tell(trial, state=TrialState.PRUNED)
        except MnasError as err:
            trial.set_user_attr("error", str(err))
            return self.mirror.tell(trial, state=TrialState.FAIL)
        return self.mirror.tell(trial, value)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    latency = config.budget.latency_table
    if config.costing is not None:
        return Costing(space.base, config.convention, method=config.costing, origin=space.file,
                       latency=latency)
    rng = random.Random(0)
    probes = [{**space.values(space.sample(rng))} for _ in range(PROBES)]
    return Costing(space.base, config.convention, probes=probes, origin=space.file,
                   latency=latency)


def die_with_parent(parent: int) -> None:
    """End this process when its parent ends: the kernel's parent-death signal on Linux, and a
    thread that watches the parent's pid everywhere (and for a parent that died first)."""
    import signal
    import sys
    import threading
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)         # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(1.0)
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def worker_main(config: SearchConfig, index: int, parent: int, queue) -> None:
    """Entry point of a worker process: reports each trial, then 'done' (with why it stopped
    early, if it did) or the error."""
    die_with_parent(parent)
    try:
        worker = Worker(config, index, on_trial=lambda: queue.put(("trial", index)))
        worker.run()
        queue.put(("done", (index, worker.exhausted)))
    except MnasError as err:
        queue.put(("error", f"worker {index}: {err}"))
    except BaseException as err:   # a bug: keep the traceback for the parent to show
        import traceback
        queue.put(("bug", f"worker {index}:\n{traceback.format_exc()}"))
        raise SystemExit(1) from err
