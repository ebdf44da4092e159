"""Training: the paper's recipe, data loaders, the epoch loop, local and DDP backends,
resumable run folders. `train(...)` is the entry point for Python callers."""

from mnas.train.run import EpochMetrics, TrainJob, TrainResult, train  # noqa: F401

__all__ = ["EpochMetrics", "TrainJob", "TrainResult", "train"]
