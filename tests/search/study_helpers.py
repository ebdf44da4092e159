"""Helpers for search tests (not a conftest.py: a nested conftest module would shadow the
root one that other tests import from)."""

from __future__ import annotations


def load_trials(cfg):
    import optuna
    study = optuna.load_study(study_name=cfg.study or "t",
                              storage=cfg.storage or f"sqlite:///{cfg.out}/study.db")
    return study.get_trials(deepcopy=False)


def hand_widths(stages, reductions, stem_channels: int = 64, growth: int = 64) -> tuple:
    """Transition widths by the paper's rule, independently of mnas: a stage of n units adds
    n x growth channels to the C it receives; the transition after it keeps
    round(C / r / 32) x 32 of them (at least 32), rounding halves up."""
    import math
    c, widths = stem_channels, []
    for n, r in zip(stages, reductions):
        c += n * growth
        c = max(32, math.floor(c / r / 32 + 0.5) * 32)
        widths.append(c)
    return tuple(widths)


def hand_network(p) -> tuple:
    """What network the parameters of a trial of the default MeliusNet space are: stem, units
    per stage, transition widths (by `hand_widths`), groups."""
    stages = tuple(p[f"stages[{i}]"] for i in range(4))
    reductions = tuple(p[f"reductions[{i}]"] for i in range(3))
    return p["stem"], stages, hand_widths(stages, reductions), p["groups"]
