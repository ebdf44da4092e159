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
