"""The real outcome: the small CIFAR MeliusNet, binary convs and all, learns to read digits."""

import json

import pytest

from mnas.cli import main
from tiny_run import CIFAR_SPEC, one_thread  # noqa: F401 (autouse)


@pytest.mark.slow
def test_meliusnet_cifar_reaches_90_percent_on_digits(tmp_path):
    # about 1 minute on one shared core: 6 epochs of 22 steps at 32x32 (the spec as written)
    assert main(["train", str(CIFAR_SPEC), "--data", "digits", "--epochs", "6",
                 "--batch-size", "64", "--optimizer", "adam", "--lr", "0.005", "--warmup", "1",
                 "--device", "cpu", "--out", str(tmp_path), "--quiet"]) == 0
    final = json.loads((tmp_path / "final.json").read_text())
    assert final["epochs"] == 6 and final["val_images"] == 360
    assert final["last_val_acc"] >= 0.90, final["history"]
