"""`RefiningSampler` (`--sampler refine`, the default): Optuna's TPE, made aware of the budget
and given local moves.

Under a budget the best candidates sit on the constraint boundary: the objective is flat along
it and falls off a cliff beyond it. TPE finds the region quickly but closes in on the last per
cent slowly, and spends many trials beyond the cliff. Two changes, neither of which looks at
the objective:

- screening: a candidate that its cost already puts over budget is redrawn: up to `screen`
  times from TPE once the study has a feasible trial, up to 100 x `screen` times during TPE's
  random start-up. Costing is analytic and cheap, so trials go to candidates that can win.
  Every trial still records its constraints.
- local moves (one objective only): after `explore` trials, with probability `local` a trial
  is a neighbour of one of the `top` best feasible trials instead: one to three dimensions
  moved by one or two grid steps (another choice for a categorical), within budget, never a
  candidate already tried.

Everything else is TPE's; `make_tpe` holds its settings."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from optuna.samplers import BaseSampler
from optuna.trial import TrialState

from mnas.spec.values import freeze
from mnas.search.ranking import directions_of, feasible, rank
from mnas.search.space import Dimension

Feasible = Callable[[Mapping[str, Any]], bool]


def make_tpe(seed: int | None) -> optuna.samplers.TPESampler:
    """Multivariate TPE weighing 100 candidates per trial (Optuna's default: 24); costing
    is cheap, so a better-chosen trial is worth the extra sampling time."""
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=10,
                                      n_ei_candidates=100)


class RefiningSampler(BaseSampler):
    def __init__(self, base: BaseSampler, dimensions: Sequence[Dimension],
                 feasible: Feasible | None = None, seed: int | None = None, explore: int = 40,
                 local: float = 0.3, top: int = 3, screen: int = 10):
        self.base, self.dims, self.feasible = base, tuple(dimensions), feasible
        self.explore, self.local, self.top, self.screen = explore, local, top, screen
        self.rng = random.Random(seed)
        self._random = optuna.samplers.RandomSampler(seed=None if seed is None else seed + 1)
        self._planned: dict[int, dict[str, Any]] = {}

    # -- Optuna's sampler interface ------------------------------------------------------------
    def infer_relative_search_space(self, study, trial):
        return self.base.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        planned = self._planned.get(trial.number)
        if planned is not None:
            return {k: planned[k] for k in search_space if k in planned}
        params = self.base.sample_relative(study, trial, search_space)
        if self.feasible is None or not self.screen or len(search_space) != len(self.dims):
            return params
        if not params:       # TPE's random start-up: draw at random, within budget if possible
            draw = lambda: {k: self._random.sample_independent(study, trial, k, d)  # noqa: E731
                            for k, d in search_space.items()}
            tries = 100 * self.screen
        elif any(t.state == TrialState.COMPLETE and feasible(t)
                  for t in study.get_trials(deepcopy=False)):
            draw = lambda: self.base.sample_relative(study, trial, search_space)  # noqa: E731
            tries = self.screen
        else:
            return params
        params = params or draw()
        for _ in range(tries):
            if self.feasible(params):
                break
            params = draw()
        return params

    def sample_independent(self, study, trial, param_name, param_distribution):
        planned = self._planned.get(trial.number)
        if planned is not None and param_name in planned:
            return planned[param_name]
        return self.base.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self.base.before_trial(study, trial)
        if len(study.directions) == 1:
            move = self._plan(study)
            if move is not None:
                self._planned[trial.number] = move

    def after_trial(self, study, trial, state, values) -> None:
        self._planned.pop(trial.number, None)
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()
        self._random.reseed_rng()
        self.rng = random.Random()

    # -- local moves -----------------------------------------------------------------------------
    def _plan(self, study) -> dict[str, Any] | None:
        trials = study.get_trials(deepcopy=False)
        if len(trials) < self.explore or self.rng.random() >= self.local:
            return None
        good = rank(trials, directions_of(study), self.top)
        if not good:
            return None
        start = good[int(self.rng.random() ** 2 * len(good))]   # mostly the best
        if any(d.param not in start.params for d in self.dims):
            return None
        tried = {freeze(t.params) for t in trials}
        for _ in range(200):
            move = self._neighbour(start.params)
            if freeze(move) not in tried and (self.feasible is None or self.feasible(move)):
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
