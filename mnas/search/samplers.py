"""The samplers a search can use, one registry entry each: Optuna's own (`tpe`, `random`,
`nsga2`) as they are, or `refine` (TPE that screens its draws for new networks within budget and
adds local moves, `mnas.search.refine`, the default). Whatever the sampler, the worker never
spends a trial on a network the study already holds (`mnas.search.worker`). Optuna is imported
only when a sampler is made."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mnas.errors import StudyError
from mnas.registry import Registry


@dataclass(frozen=True)
class SamplerDef:
    """`make(seed, space, judge)` returns an Optuna sampler; `space` and `judge` (params ->
    (new network?, excess over budget), see `mnas.search.refine.Judge`) are given for the
    samplers that use them. A sampler that `screens` keeps trials within budget itself, so
    the search only falls back to networks within budget for it."""

    name: str
    description: str
    make: Callable[[int | None, Any, Callable | None], Any]
    screens: bool = False


SAMPLERS: Registry[SamplerDef] = Registry("sampler", StudyError)
register_sampler = SAMPLERS.register
get_sampler = SAMPLERS.find


def make_sampler(name: str, seed: int | None, space=None, judge=None):
    return get_sampler(name).make(seed, space, judge)


def stream_seed(seed: int | None, stream: int) -> int | None:
    """The sampler seed of one stream of a study: each process that works on a study takes
    the next stream number from the study, so processes on one machine or many draw different
    candidates whatever --seed says, and a run is still reproducible from --seed."""
    if seed is None:
        return None
    import numpy as np
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def _refine(seed, space, judge):
    from mnas.search.refine import RefiningSampler, make_tpe
    if space is None:
        return make_tpe(seed)
    return RefiningSampler(space.dimensions, judge, seed)


def _tpe(seed, space, judge):
    from mnas.search.refine import make_tpe
    return make_tpe(seed)


def _random(seed, space, judge):
    import optuna
    return optuna.samplers.RandomSampler(seed=seed)


def _nsga2(seed, space, judge):
    import optuna
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=20)


register_sampler(SamplerDef("refine", "Optuna's TPE that picks new networks within budget and "
                            "adds local moves around the best (default)", _refine, screens=True))
register_sampler(SamplerDef("tpe", "Optuna's multivariate TPE", _tpe))
register_sampler(SamplerDef("random", "Optuna's random sampler", _random))
register_sampler(SamplerDef("nsga2", "Optuna's NSGA-II (several objectives)", _nsga2))
