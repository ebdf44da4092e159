"""What a search is asked to do, as plain data (`SearchConfig`), with its defaults resolved:
the study's name, run folder, storage URL and trial count."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from mnas.cost.budgets import Budget
from mnas.errors import StudyError
from mnas.search.objective import OBJECTIVES, TrainOptions
from mnas.search.samplers import SAMPLERS


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
    costing: str | None = None       # 'blocks' / 'graph' once checked (set for workers)

    def resolved(self) -> SearchConfig:
        """Defaults filled in: study name, run folder, storage URL, trial count."""
        objective = OBJECTIVES.find(self.objective)
        SAMPLERS.find(self.sampler)
        if self.workers < 1:
            raise StudyError(f"--workers must be >= 1, got {self.workers}")
        trials = self.trials if self.trials is not None else \
            objective.default_trials
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
