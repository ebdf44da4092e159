"""What the training tests share: specs/meliusnet-cifar.yaml shrunk to train in seconds, and
one intra-op thread. Test modules import these names (a nested conftest.py would shadow the
root one that other tests import from)."""

from pathlib import Path

import pytest

CIFAR_SPEC = Path(__file__).resolve().parents[2] / "specs" / "meliusnet-cifar.yaml"
TINY_SETS = {"input": [3, 16, 16], "stem_channels": 8, "growth": 8, "stages": [1, 1],
             "transitions": [16]}


def tiny_args() -> list[str]:
    """`mnas train` arguments for a quick run of the shrunk spec on digits."""
    sets = [f"--set={k}={v}".replace(" ", "") for k, v in TINY_SETS.items()]
    return ["train", str(CIFAR_SPEC), "--data", "digits", *sets, "--batch-size", "64",
            "--optimizer", "adam", "--lr", "0.005", "--quiet"]


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Train with one intra-op thread: on a shared 2-core machine, torch's default of one
    thread per core spins against other processes and runs several times slower. CLI
    subprocesses inherit OMP_NUM_THREADS."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)


def small_digits(n_train: int = 256, n_val: int = 96, shape=(3, 16, 16)):
    """digits cut to a few batches (the same images every time), for runs of seconds."""
    from dataclasses import replace

    from mnas.train.datasets import open_data
    from mnas.train.sources import TensorSource
    d = open_data("digits", shape)
    return replace(d, train=TensorSource(d.train.images[:n_train], d.train.labels[:n_train],
                                         d.train.augment, d.train.pad),
                   val=TensorSource(d.val.images[:n_val], d.val.labels[:n_val]))


def tiny_spec():
    from mnas.spec.load import load_spec
    return load_spec(CIFAR_SPEC, dict(TINY_SETS))
