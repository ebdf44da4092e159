"""What a training run reports: one `EpochMetrics` per epoch and the `TrainResult` of the
run (also written as final.json). Accuracies are fractions in [0, 1]."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float
    lr: float
    train_seconds: float = 0.0
    train_images: int = 0
    phase: int = 1                 # the step of a two-step schedule (1 or 2)


OnEpoch = Callable[[EpochMetrics], None]


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports (also written as final.json)."""

    name: str
    best_val_acc: float
    best_epoch: int
    last_val_acc: float
    epochs: int
    seconds: float
    images_per_second: float
    history: tuple[EpochMetrics, ...]
    classes: int
    params: int
    out: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def as_json(self) -> dict:
        d = {k: getattr(self, k) for k in ("name", "best_val_acc", "best_epoch", "last_val_acc",
                                           "epochs", "seconds", "images_per_second", "classes",
                                           "params", "out")}
        d.update(self.extra)
        d["history"] = [asdict(m) for m in self.history]
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TrainResult:
        known = {f.name for f in fields(cls)} - {"history", "extra"}
        return cls(**{k: d[k] for k in known if k in d},
                   history=tuple(EpochMetrics(**m) for m in d.get("history", [])),
                   extra={k: v for k, v in d.items() if k not in known and k != "history"})
