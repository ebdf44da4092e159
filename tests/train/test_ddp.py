"""The ddp backend: torchrun with 2 CPU processes (gloo) trains, both ranks end with the
same weights, and those are the weights saved and described by the metrics."""

import json
import os
import subprocess
import sys

import pytest
import torch

from mnas import api
from mnas.lower.torch import to_module
from mnas.train.context import state_digest
from mnas.train.batches import eval_batches
from mnas.train.datasets import open_data
from mnas.train.transforms import normalize
from tiny_run import CIFAR_SPEC, TINY_SETS, one_thread, tiny_args  # noqa: F401 (autouse)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_ddp_two_cpu_processes_train_to_identical_weights(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mnas", *tiny_args(), "--epochs", "2",
                           "--nproc", "2", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    final = json.loads((tmp_path / "final.json").read_text())
    assert final["backend"] == "ddp" and final["world"] == 2
    digests = final["rank_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    state = torch.load(tmp_path / "final.pt", weights_only=False)["model"]
    assert state_digest(state) == digests[0]          # the saved weights are both ranks'
    h = final["history"]
    assert h[1]["train_loss"] < h[0]["train_loss"] and h[0]["train_images"] == 22 * 64
    # validation was split over the ranks and summed: recompute it in one process
    graph = api.graph(CIFAR_SPEC, dict(TINY_SETS))
    model = to_module(graph)
    model.load_state_dict(state)
    model.eval()
    data = open_data("digits", graph.input.params.shape)
    with torch.no_grad():
        x, y = next(data.val.iterate(eval_batches(len(data.val), len(data.val)), train=False))
        acc = (model(normalize(x, data.mean, data.std)).argmax(1) == y).sum().item() / len(y)
    assert acc == pytest.approx(final["last_val_acc"], abs=1e-9)
