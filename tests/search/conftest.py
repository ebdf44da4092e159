"""Helpers for search tests: small studies in a temporary run folder."""

from __future__ import annotations

import pytest

from mnas.cost.budgets import resolve_budget
from mnas.search.study import SearchConfig


@pytest.fixture(scope="session")
def budget075():
    return resolve_budget("mobilenet-0.75")


@pytest.fixture
def config(tmp_path, budget075):
    def make(**kw) -> SearchConfig:
        kw.setdefault("budget", budget075)
        kw.setdefault("out", str(tmp_path / "run"))
        kw.setdefault("study", "t")
        return SearchConfig(**kw)
    return make


def load_trials(cfg):
    import optuna
    study = optuna.load_study(study_name=cfg.study or "t",
                              storage=cfg.storage or f"sqlite:///{cfg.out}/study.db")
    return study.get_trials(deepcopy=False)
