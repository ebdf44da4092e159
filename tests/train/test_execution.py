"""How a run executes: bf16/fp16 autocast (fp16 with a gradient scaler), channels_last and
torch.compile, recorded in the run and taken up again by --resume."""

import json
import shutil

import pytest
import torch

from mnas import api
from mnas.errors import MnasError
from mnas.lower.torch import to_module
from mnas.train import train
from mnas.train.execution import Execution
from tiny_run import CIFAR_SPEC, TINY_SETS, one_thread, small_digits, tiny_spec  # noqa: F401


def _lowered():
    torch.manual_seed(0)
    return to_module(api.graph(CIFAR_SPEC, dict(TINY_SETS)))


def test_bf16_and_channels_last_reach_the_convolutions():
    module = _lowered()
    seen = []

    def hook(mod, inputs, output):
        if mod.training:
            seen.append((output.dtype, inputs[0].is_contiguous(memory_format=torch.channels_last),
                         mod.weight.is_contiguous(memory_format=torch.channels_last)))

    module.stem.conv.register_forward_hook(hook)                      # a 32-bit conv
    module.stage1.unit1.dense.binconv.conv.register_forward_hook(hook)  # a binary one
    data = small_digits()
    result = train(module, data, epochs=1, batch_size=64, optimizer="adam", device="cpu",
                   init=False, execution=Execution("bf16", True, None))
    assert seen and set(seen) == {(torch.bfloat16, True, True)}
    assert result.extra["execution"] == {"precision": "bf16", "channels_last": True,
                                         "compile": False}


def test_fp32_on_cpu_is_the_default():
    module = _lowered()
    dtypes = set()
    module.stem.conv.register_forward_hook(lambda m, i, o: dtypes.add(o.dtype))
    result = train(module, small_digits(), epochs=1, batch_size=64, device="cpu", init=False)
    assert dtypes == {torch.float32}
    assert result.extra["execution"] == {"precision": "fp32", "channels_last": False,
                                         "compile": False}


def test_fp16_steps_through_a_gradient_scaler(tmp_path):
    train(tiny_spec(), small_digits(), epochs=1, batch_size=64, optimizer="adam", lr=0.005,
          device="cpu", out=tmp_path, execution=Execution("fp16"))
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    scale = saved["scaler"]["scale"]
    # torch's GradScaler starts at 2**16 and halves on every overflow
    assert 0 < scale <= 2.0 ** 16 and float(scale).is_integer()
    assert (2.0 ** 16 / scale).is_integer()
    assert saved["execution"]["precision"] == "fp16"


def _stop_after_first(m):
    raise KeyboardInterrupt


def test_resume_takes_the_runs_precision_and_layout_and_refuses_another(tmp_path, capsys):
    opts = dict(epochs=2, batch_size=64, optimizer="adam", lr=0.005, device="cpu")
    whole, part = tmp_path / "whole", tmp_path / "part"
    train(tiny_spec(), small_digits(), out=whole, execution=Execution("bf16", True), **opts)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_spec(), small_digits(), out=part, execution=Execution("bf16", True),
              on_epoch=_stop_after_first, **opts)
    refused = tmp_path / "refused"
    shutil.copytree(part, refused)
    with pytest.raises(MnasError, match=r"cannot resume: the run trains in bf16, this run asks "
                                        r"for --precision fp32"):
        train(tiny_spec(), small_digits(), out=refused, resume=True,
              execution=Execution("fp32"), **opts)
    result = train(tiny_spec(), small_digits(), out=part, resume=True, **opts)  # nothing set
    assert result.extra["execution"] == {"precision": "bf16", "channels_last": True,
                                         "compile": False}
    a, b = (torch.load(p / "final.pt", weights_only=False)["model"] for p in (whole, part))
    assert all(torch.equal(a[k], b[k]) for k in a)           # the same run, continued
    final = json.loads((part / "final.json").read_text())
    assert final["execution"]["precision"] == "bf16"


def _has_compiler() -> bool:
    return any(shutil.which(c) for c in ("g++", "c++", "clang++"))


@pytest.mark.slow
@pytest.mark.skipif(not _has_compiler(), reason="torch.compile on CPU needs a C++ compiler")
def test_compile_trains_the_lowered_network_and_resume_keeps_it(tmp_path):
    """One dense and one improvement block (the smallest MeliusNet), compiled by inductor."""
    import torch._dynamo
    from mnas.spec.load import load_spec
    sets = {**TINY_SETS, "stages": [1], "transitions": []}
    spec = load_spec(CIFAR_SPEC, sets)
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    with pytest.raises(KeyboardInterrupt):
        train(spec, small_digits(128, 64), epochs=2, batch_size=64, optimizer="adam",
              device="cpu", out=tmp_path, execution=Execution("bf16", True, True),
              on_epoch=_stop_after_first)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1
    torch._dynamo.utils.counters.clear()
    result = train(spec, small_digits(128, 64), epochs=2, batch_size=64, optimizer="adam",
                   device="cpu", out=tmp_path, resume=True)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1   # compiled again
    assert result.extra["execution"] == {"precision": "bf16", "channels_last": True,
                                         "compile": True}
    assert [m.epoch for m in result.history] == [1, 2]
    assert all(torch.isfinite(torch.tensor(m.train_loss)) for m in result.history)
