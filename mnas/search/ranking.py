"""The one ranking of a study's trials, used by the search's results, its sampler's local
moves, the Pareto plot and `mnas validate`.

- feasible: the trial was costed (`cost` user attribute) and satisfies every constraint
  (`trial.constraints` all <= 0, as the search records the budget);
- ranked: completed feasible trials, one per distinct parameter set (the lowest-numbered),
  best first by the first objective (several objectives: the Pareto front only), ties by
  fewer OPs, then by trial number."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mnas.spec.values import freeze


def feasible(trial) -> bool:
    """Costed and within every constraint (the budget), whatever the trial's state."""
    return "cost" in trial.user_attrs and all(v <= 0 for v in trial.constraints.values())


def directions_of(study) -> tuple[str, ...]:
    """The study's directions as 'maximize' / 'minimize'."""
    return tuple(d.name.lower() for d in study.directions)


def dominates(a: Sequence[float], b: Sequence[float], signs: Sequence[int]) -> bool:
    better = False
    for x, y, s in zip(a, b, signs):
        if s * x < s * y:
            return False
        if s * x > s * y:
            better = True
    return better


def pareto_front(trials: Sequence, directions: Sequence[str]) -> list:
    """Non-dominated trials (ties kept)."""
    signs = [1 if d == "maximize" else -1 for d in directions]
    return [t for t in trials
            if not any(dominates(o.values, t.values, signs) for o in trials if o is not t)]


def rank(trials: Iterable, directions: Sequence[str], top: int | None = None,
         identity: Callable[[Any], Any] | None = None) -> list:
    """The ranking (module docstring) of `trials`; with `identity(trial)`, also one trial per
    distinct identity (e.g. per distinct network)."""
    from optuna.trial import TrialState
    seen, pool = set(), []
    for t in trials:
        if t.state != TrialState.COMPLETE or not feasible(t):
            continue
        key = freeze(t.params)
        if key not in seen:
            seen.add(key)
            pool.append(t)
    if len(directions) > 1:
        pool = pareto_front(pool, directions)
    sign = 1 if directions[0] == "maximize" else -1
    pool.sort(key=lambda t: (-sign * t.values[0], t.user_attrs["cost"]["ops"], t.number))
    out, identities = [], set()
    for t in pool:
        if identity is not None:
            key = identity(t)
            if key in identities:
                continue
            identities.add(key)
        out.append(t)
        if top is not None and len(out) == top:
            break
    return out


def best_trials(study, top: int | None = None,
                identity: Callable[[Any], Any] | None = None) -> list:
    """`rank` over a study's trials, in the study's own directions."""
    return rank(study.get_trials(deepcopy=False), directions_of(study), top, identity)
