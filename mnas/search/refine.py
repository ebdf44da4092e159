"""`RefiningSampler` (`--sampler refine`, the default): Optuna's multivariate TPE, made aware of
the budget and of the networks the study already holds, and given local moves.

Under a budget the best candidates sit on the constraint boundary: the objective is flat along
it and falls off a cliff beyond it. Plain TPE finds the region quickly, then spends many trials
beyond the cliff and on networks it has already seen. Three changes, none of which looks at the
objective:

- screening: each trial fits TPE's two densities once and draws `candidates` points from the
  good one, `rounds` times at most; of the draws that are new networks within budget (as
  `judge` says, from cost alone) the one TPE rates best becomes the trial. Random start-up
  trials are screened the same way. Only when no draw qualifies does a trial go to the new
  network closest to the budget.
- a flat cost per trial: the 'above' density is fitted on at most `above` trials (a random
  sample of them; the 'below' one keeps TPE's best 10%, at most 25), and the study is read
  incrementally, so a trial costs about the same at trial 3000 as at trial 100.
- local moves (one objective only): after `explore` trials, with probability `local` a trial
  is a neighbour of one of the `top` best feasible trials instead: one to three dimensions
  moved by one or two grid steps (another choice for a categorical), a new network within
  budget.

Everything else is TPE's (`make_tpe` holds the settings it shares with `--sampler tpe`). It
relies on TPESampler internals of Optuna 5 (`_split_trials`, `_build_parzen_estimator`,
`_compute_acquisition_func`), hence the pinned major version."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import TPESampler
from optuna.samplers._tpe.sampler import (_split_trials, default_gamma,
                                          default_gamma_multiobjective)
from optuna.trial import TrialState

from mnas.search.ranking import feasible
from mnas.search.space import Dimension

#: judge(params) -> (new, excess): `new` when the network is neither in the study nor being
#: evaluated by another worker; `excess` how far over budget (0 within, inf when invalid)
Judge = Callable[[Mapping[str, Any]], tuple[bool, float]]

STARTUP = 10
CANDIDATES = 100
ROUNDS = 8
ABOVE = 200
RANDOM_DRAWS = 2000


def make_tpe(seed: int | None) -> TPESampler:
    """Multivariate TPE weighing 100 candidates per trial (Optuna's default: 24); costing
    is cheap, so a better-chosen trial is worth the extra sampling time."""
    return TPESampler(seed=seed, multivariate=True, n_startup_trials=STARTUP,
                      n_ei_candidates=CANDIDATES)


def distribution(d: Dimension):
    """The Optuna distribution `Dimension.suggest` asks for."""
    if d.kind == "choice":
        return CategoricalDistribution(list(d.choices))
    if d.kind == "int":
        return IntDistribution(d.low, d.high, step=d.step or 1, log=d.log)
    return FloatDistribution(d.low, d.high, step=d.step, log=d.log)


class RefiningSampler(TPESampler):
    def __init__(self, dimensions: Sequence[Dimension], judge: Judge | None = None,
                 seed: int | None = None, explore: int = 40, local: float = 0.3, top: int = 3,
                 candidates: int = CANDIDATES, rounds: int = ROUNDS, above: int = ABOVE):
        super().__init__(seed=seed, multivariate=True, n_startup_trials=STARTUP,
                         n_ei_candidates=candidates, constant_liar=False)
        self.dims, self.judge = tuple(dimensions), judge
        self.explore, self.local, self.top = explore, local, top
        self.rounds, self.above = rounds, above
        self.rng = random.Random(seed)
        self._space = {d.param: distribution(d) for d in self.dims}
        self._planned: dict[int, dict[str, Any]] = {}
        self._seen = 0                        # trials of the study read so far
        self._finished = 0                    # of which COMPLETE or PRUNED
        self._good: list[tuple] = []          # best feasible: (sort key, params), best first

    # -- Optuna's sampler interface ------------------------------------------------------------
    def infer_relative_search_space(self, study, trial):
        return dict(self._space)

    def sample_relative(self, study, trial, search_space):
        if not search_space:
            return {}
        planned = self._planned.pop(trial.number, None)
        if planned is not None:
            return planned
        self._read(study)
        if self._finished < self._n_startup_trials:
            return self._random(RANDOM_DRAWS)
        return self._tpe(study, search_space)

    def before_trial(self, study, trial) -> None:
        super().before_trial(study, trial)
        if len(study.directions) == 1:
            self._read(study)
            move = self._plan()
            if move is not None:
                self._planned[trial.number] = move

    def after_trial(self, study, trial, state, values) -> None:
        self._planned.pop(trial.number, None)
        super().after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        super().reseed_rng()
        self.rng = random.Random()

    # -- choosing among draws ------------------------------------------------------------------
    def _verdict(self, params: Mapping[str, Any]) -> tuple[bool, float]:
        return (True, 0.0) if self.judge is None else self.judge(params)

    def _random(self, draws: int) -> dict[str, Any]:
        """The first random point that is a new network within budget (else the new one
        closest to the budget, else the last drawn)."""
        fallback, fallback_excess, params = None, math.inf, {}
        for _ in range(draws):
            params = {d.param: d.sample(self.rng) for d in self.dims}
            new, excess = self._verdict(params)
            if new and excess == 0:
                return params
            if new and (fallback is None or excess < fallback_excess):
                fallback, fallback_excess = params, excess
        return fallback if fallback is not None else params

    def _tpe(self, study, search_space) -> dict[str, Any]:
        trials = study._get_trials(deepcopy=False, states=(TrialState.COMPLETE,
                                                             TrialState.PRUNED), use_cache=True)
        gamma = default_gamma if len(study.directions) == 1 else default_gamma_multiobjective
        below, above = _split_trials(study, trials, gamma(len(trials)))
        if len(above) > self.above:
            above = sorted(self.rng.sample(above, self.above), key=lambda t: t.number)
        mpe_below = self._build_parzen_estimator(study, search_space, below, handle_below=True)
        mpe_above = self._build_parzen_estimator(study, search_space, above, handle_below=False)
        names = list(search_space)
        fallback, fallback_excess = None, math.inf
        for _ in range(self.rounds):
            samples = mpe_below.sample(self._rng.rng, self._n_ei_candidates)
            drawn = [{n: search_space[n].to_external_repr(samples[n][i]) for n in names}
                     for i in range(len(samples[names[0]]))]
            good = []
            for i, params in enumerate(drawn):
                new, excess = self._verdict(params)
                if new and excess == 0:
                    good.append(i)
                elif new and excess < fallback_excess:
                    fallback, fallback_excess = params, excess
            if good:
                chosen = {k: v[good] for k, v in samples.items()}
                acquisition = self._compute_acquisition_func(chosen, mpe_below, mpe_above)
                return drawn[good[int(np.argmax(acquisition))]]
        params = self._random(RANDOM_DRAWS)
        new, excess = self._verdict(params)
        if fallback is not None and not (new and excess <= fallback_excess):
            return fallback
        return params

    # -- what the study holds, read incrementally ------------------------------------------------
    def _read(self, study) -> None:
        trials = study._get_trials(deepcopy=False, states=None, use_cache=False)
        single = len(study.directions) == 1
        sign = 1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1
        for t in trials[self._seen:]:
            if not t.state.is_finished():
                break
            self._seen += 1
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
                self._finished += 1
            if (single and t.state == TrialState.COMPLETE and feasible(t)
                    and all(d.param in t.params for d in self.dims)):
                key = (-sign * t.values[0], t.user_attrs["cost"]["ops"], t.number)
                bisect.insort(self._good, (key, dict(t.params)))
                del self._good[self.top:]

    # -- local moves -----------------------------------------------------------------------------
    def _plan(self) -> dict[str, Any] | None:
        if self._seen < self.explore or not self._good or self.rng.random() >= self.local:
            return None
        start = self._good[int(self.rng.random() ** 2 * len(self._good))][1]   # mostly the best
        for _ in range(200):
            move = self._neighbour(start)
            new, excess = self._verdict(move)
            if new and excess == 0:
                return move
        return None

    def _neighbour(self, params: Mapping[str, Any]) -> dict[str, Any]:
        move = dict(params)
        for d in self.rng.sample(self.dims, min(len(self.dims), self.rng.choice((1, 2, 2, 3)))):
            grid = d.grid()
            current = move[d.param]
            if grid is None:                   # continuous: a step of ~5% of the range
                span = d.high - d.low
                move[d.param] = min(d.high, max(d.low, current + self.rng.gauss(0, 0.05 * span)))
            elif d.kind == "choice":
                others = [c for c in grid if c != current]
                if others:
                    move[d.param] = self.rng.choice(others)
            else:
                i = min(range(len(grid)), key=lambda j: abs(grid[j] - current))
                j = min(len(grid) - 1, max(0, i + self.rng.choice((-2, -1, -1, 1, 1, 2))))
                move[d.param] = grid[j]
        return move
