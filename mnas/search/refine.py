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
from optuna.samplers._tpe.sampler import (_get_infeasible_trial_score,
                                          _get_pruned_trial_score, _split_trials,
                                          default_gamma, default_gamma_multiobjective)
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
                 candidates: int = CANDIDATES, rounds: int = ROUNDS, above: int = ABOVE,
                 moves: int = 32, tries: int = 400):
        super().__init__(seed=seed, multivariate=True, n_startup_trials=STARTUP,
                         n_ei_candidates=candidates, constant_liar=False)
        self.dims, self.judge = tuple(dimensions), judge
        self.explore, self.local, self.top = explore, local, top
        self.rounds, self.above, self.moves, self.tries = rounds, above, moves, tries
        self.rng = random.Random(seed)
        self._space = {d.param: distribution(d) for d in self.dims}
        self._seen = 0                        # trials of the study read so far
        self._finished: list = []             # of which COMPLETE or PRUNED, in order
        self._ranked: tuple[list, list, list] = ([], [], [])   # see _read
        self._good: list[tuple] = []          # best feasible: (sort key, params), best first

    # -- Optuna's sampler interface ------------------------------------------------------------
    def infer_relative_search_space(self, study, trial):
        return dict(self._space)

    def sample_relative(self, study, trial, search_space):
        if not search_space:
            return {}
        self._read(study)
        if len(self._finished) < self._n_startup_trials:
            return self._random(RANDOM_DRAWS)
        below, above = self._split(study)
        mpe_below = self._build_parzen_estimator(study, search_space, below, handle_below=True)
        mpe_above = self._build_parzen_estimator(study, search_space, above, handle_below=False)
        if (len(study.directions) == 1 and len(self._finished) >= self.explore and self._good
                and self.rng.random() < self.local):
            moves = self._moves()
            if moves:
                return self._best(moves, search_space, mpe_below, mpe_above)
        return self._tpe(search_space, mpe_below, mpe_above)

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

    def _split(self, study) -> tuple[list, list]:
        """TPE's split into good ('below') and other ('above') trials, the latter sampled down
        to `above`. One objective: from the ranking kept by `_read`, without reading every
        trial again (Optuna's own split parses each trial's constraints, every trial)."""
        trials = self._finished
        if len(study.directions) > 1:
            below, above = _split_trials(study, trials, default_gamma_multiobjective(len(trials)))
        else:
            below, want = [], default_gamma(len(trials))
            for ranked in self._ranked:
                below += [t for _, _, t in ranked[:want - len(below)]]
            chosen = {t.number for t in below}
            if len(trials) - len(below) <= self.above:
                above = [t for t in trials if t.number not in chosen]
            else:
                picks = self.rng.sample(range(len(trials)), self.above + len(below))
                above = [trials[i] for i in picks if trials[i].number not in chosen][:self.above]
            below.sort(key=lambda t: t.number)
        if len(above) > self.above:
            above = self.rng.sample(above, self.above)
        return below, sorted(above, key=lambda t: t.number)

    def _best(self, candidates: list[dict[str, Any]], search_space, mpe_below, mpe_above):
        """The candidate TPE rates best (highest l(x) / g(x))."""
        samples = {n: np.array([d.to_internal_repr(c[n]) for c in candidates])
                   for n, d in search_space.items()}
        acquisition = self._compute_acquisition_func(samples, mpe_below, mpe_above)
        return candidates[int(np.argmax(acquisition))]

    def _tpe(self, search_space, mpe_below, mpe_above) -> dict[str, Any]:
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
        """Take in the trials finished since the last look: TPE's ranking of them (feasible
        complete trials by value, then pruned ones by how far they got, then infeasible ones
        by how far over), and the best feasible ones for local moves."""
        trials = study._get_trials(deepcopy=False, states=None, use_cache=False)
        single = len(study.directions) == 1
        sign = 1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1
        complete, pruned, infeasible = self._ranked
        for t in trials[self._seen:]:
            if not t.state.is_finished():
                break
            self._seen += 1
            if t.state not in (TrialState.COMPLETE, TrialState.PRUNED):
                continue
            self._finished.append(t)
            over = _get_infeasible_trial_score(t)
            if over > 0:
                bisect.insort(infeasible, (over, t.number, t))
            elif t.state == TrialState.PRUNED:
                bisect.insort(pruned, (_get_pruned_trial_score(t, study), t.number, t))
            elif single:
                bisect.insort(complete, (-sign * t.values[0], t.number, t))
            if (single and t.state == TrialState.COMPLETE and feasible(t)
                    and all(d.param in t.params for d in self.dims)):
                key = (-sign * t.values[0], t.user_attrs["cost"]["ops"], t.number)
                bisect.insort(self._good, (key, dict(t.params)))
                del self._good[self.top:]

    # -- local moves -----------------------------------------------------------------------------
    def _moves(self) -> list[dict[str, Any]]:
        """Up to `moves` neighbours of the best feasible trials (mostly of the best) that are
        new networks within budget."""
        found: dict[tuple, dict[str, Any]] = {}
        for _ in range(self.tries):
            start = self._good[int(self.rng.random() ** 2 * len(self._good))][1]
            move = self._neighbour(start)
            key = tuple(move[d.param] for d in self.dims)
            if key in found:
                continue
            new, excess = self._verdict(move)
            if new and excess == 0:
                found[key] = move
                if len(found) == self.moves:
                    break
        return list(found.values())

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
