"""Training: the paper's recipe, data sets, the epoch loop, local and DDP backends,
resumable run folders. `train(...)` is the entry point for Python callers.

The names below are loaded on first use, so `mnas.train.recipe` (what the CLI parsers read)
does not import torch."""

__all__ = ["EpochMetrics", "TrainJob", "TrainResult", "train"]

_HOMES = {"EpochMetrics": "results", "TrainResult": "results", "TrainJob": "job", "train": "run"}


def __getattr__(name):
    if name in _HOMES:
        import importlib
        return getattr(importlib.import_module(f"mnas.train.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'mnas.train' has no attribute '{name}'")
