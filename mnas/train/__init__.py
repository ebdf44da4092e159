"""Training: the paper's recipe, data loaders, the epoch loop, local and DDP backends,
resumable run folders. `train(...)` is the entry point for Python callers.

The names below are loaded on first use, so `mnas.train.recipe` (what the CLI parsers read)
does not import torch."""

__all__ = ["EpochMetrics", "TrainJob", "TrainResult", "train"]


def __getattr__(name):
    if name in __all__:
        from mnas.train import run
        return getattr(run, name)
    raise AttributeError(f"module 'mnas.train' has no attribute '{name}'")
