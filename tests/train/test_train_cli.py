"""`mnas train` option errors are one line naming the option; registering the training
commands imports no torch (so `mnas cost` stays light)."""

import subprocess
import sys

import pytest
import torch

from mnas.cli import main
from tiny_run import CIFAR_SPEC, one_thread  # noqa: F401 (autouse)


@pytest.mark.parametrize("extra, message", [
    (["--data", "imagenet"], "--data: unknown dataset 'imagenet'"),
    (["--data", "cifar10:/nonexistent"], "cifar10 not found in /nonexistent/"),
    (["--data", "digits", "--nproc", "2", "--backend", "local"], "--nproc > 1 needs --backend ddp"),
    (["--data", "digits", "--epochs", "0"], "--epochs: must be >= 1"),
    (["--data", "digits", "--set", "stagez=[1]"], "unknown value 'stagez'"),
    (["--data", "digits", "--nproc", "2", "--set", "classes=5"],
     "the network ends in 5 outputs but digits has 10 classes (set classes=10)"),
])
def test_bad_options_print_one_line(extra, message, capsys, tmp_path):
    assert main(["train", str(CIFAR_SPEC), "--out", str(tmp_path / "run"), *extra]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_says_so(capsys, tmp_path):
    assert main(["train", str(CIFAR_SPEC), "--data", "digits", "--device", "cuda",
                 "--out", str(tmp_path)]) == 1
    assert "no CUDA device is available" in capsys.readouterr().err


def test_registering_commands_imports_no_torch():
    code = ("import sys; from mnas.cli import build_parser; build_parser(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
