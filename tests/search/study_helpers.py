"""Helpers for search tests (not a conftest.py: a nested conftest module would shadow the
root one that other tests import from)."""

from __future__ import annotations


def load_trials(cfg):
    import optuna
    study = optuna.load_study(study_name=cfg.study or "t",
                              storage=cfg.storage or f"sqlite:///{cfg.out}/study.db")
    return study.get_trials(deepcopy=False)
