"""Inference forms and the packed export: every form computes what the lowered module
computes in eval mode, to the bit (binary layers' +-1 sums are exact integers in float), on
networks with every op, MeliusNet and Bi-Real Net (scaled weights, approx_sign)."""

from __future__ import annotations

import pytest
import torch

from mnas import api
from mnas.cost.conventions import Convention
from mnas.cost.model import cost_graph
from mnas.export import export_spec
from mnas.export.packed import load_packed
from mnas.kernels import ops
from mnas.kernels.modules import PackedBinaryConv2d, PackedBinaryLinear, PackSigns
from mnas.kernels.bits import pack_bits, unpack_bits
from mnas.lower.inference import inference_module
from mnas.lower.torch import example_input, to_module

from conftest import ROOT

ALL_OPS = ROOT / "tests" / "lower" / "data" / "all_ops.yaml"
# every op; a real MeliusNet; a small Bi-Real Net (approx_sign, scaled weights)
NETWORKS = [pytest.param(ALL_OPS, None, id="all_ops"),
            pytest.param(ROOT / "specs" / "meliusnet-cifar.yaml", None, id="meliusnet-cifar"),
            pytest.param(ROOT / "specs" / "birealnet18.yaml",
                         {"input": [3, 32, 32], "blocks": [1, 1, 1, 1],
                          "widths": [16, 32, 64, 128], "stem_channels": 16}, id="birealnet-small")]
MELIUSNET22 = pytest.param(ROOT / "specs" / "meliusnet22.yaml", {"input": [3, 32, 32]},
                           id="meliusnet22-32px", marks=pytest.mark.slow)


def randomized(graph, seed=0):
    """A lowered module with random BatchNorm statistics (so eval mode matters) and some
    latent weights exactly 0 (which binarise to +1)."""
    torch.manual_seed(seed)
    module = to_module(graph)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                if m.weight is not None:
                    m.weight.uniform_(0.5, 1.5)
                if m.bias is not None:
                    m.bias.normal_(0, 0.1)
            elif hasattr(m, "weight") and isinstance(m.weight, torch.Tensor):
                m.weight[m.weight.abs() < 0.01] = 0.0
    return module.eval()


@pytest.mark.parametrize("spec, sets", NETWORKS)
def test_every_form_is_the_lowered_module_to_the_bit(spec, sets):
    graph = api.graph(spec, sets)
    module = randomized(graph)
    x = example_input(graph, batch=3, seed=1)
    with torch.no_grad():
        expected = module(x)
        for form in ("signed", "bits", "kernels"):
            assert torch.equal(inference_module(graph, module, form)(x), expected), form
        # channels-last: the 32-bit layers may round differently, the binary ones never
        last = [inference_module(graph, module, form, channels_last=True)(x)
                for form in ("signed", "kernels")]
        assert torch.equal(last[0], last[1])


def test_kernels_form_runs_exactly_the_binary_layers_with_a_binary_input():
    """all_ops: sign -> grouped dilated conv, approx_sign -> scaled conv, sign -> binary
    linear, rsign -> conv padded with 1 and rsign -> binary dense (RSign keeps its threshold:
    the binary layer packs)."""
    graph = api.graph(ALL_OPS)
    module = inference_module(graph, to_module(graph), "kernels")
    kinds = {name: type(m) for name, m in module.named_modules()}
    on_kernels = {n.name for n in graph.nodes if getattr(n.params, "binary", False)
                  and graph[n.inputs[0]].op in ("sign", "approx_sign", "rsign")}
    assert on_kernels == {"bconv", "sconv", "blin", "pconv", "bdense"}
    for name in on_kernels:
        assert kinds[name] is (PackedBinaryLinear if name in ("blin", "bdense")
                               else PackedBinaryConv2d), name
    assert [kinds[n] for n in ("sign", "sign2")] == [PackSigns, PackSigns]
    assert kinds["asign"] is PackSigns
    assert kinds["rsign"] is not PackSigns and kinds["vsign"] is not PackSigns


def test_bits_round_trip_by_hand():
    flags = torch.tensor([True, False, False, True, True, False, False, False, True, True])
    bits = pack_bits(flags)
    assert bits.tolist() == [1 + 8 + 16, 1 + 2]          # bit i of byte i // 8 is flag i
    assert unpack_bits(bits, (2, 5)).flatten().tolist() == flags.float().tolist()


@pytest.mark.parametrize("spec, sets", [*NETWORKS, MELIUSNET22])
def test_packed_file_runs_on_the_kernels_with_the_modules_outputs(spec, sets, tmp_path):
    graph = api.graph(spec, sets)
    module = randomized(graph)
    weights = tmp_path / "w.pt"
    torch.save(module.state_dict(), weights)
    out = export_spec(spec, "packed", tmp_path / "net.packed", sets, weights).path
    loaded = load_packed(out)
    assert any(isinstance(m, PackedBinaryConv2d) for m in loaded.modules())
    x = example_input(graph, batch=2, seed=3)
    with torch.no_grad():
        assert torch.equal(loaded(x), module(x))
        if ops.supported("portable"):   # the compiled code paths agree on the whole network
            ops.use_path("portable")
            try:
                assert torch.equal(loaded(x), module(x))
            finally:
                ops.use_path(None)


@pytest.mark.slow   # exports MeliusNet22 at 224x224 three times
def test_exports_are_about_the_cost_models_size(tmp_path):
    """The payload is the cost model's count with BatchNorm's running statistics (4 values
    per channel instead of the 2 affine ones): 1 bit per binary weight, 32 per other value.
    Before binary weights were stored as signs, the ONNX file was 7.2x the network's size."""
    spec = ROOT / "specs" / "meliusnet22.yaml"
    graph = api.graph(spec)
    payload = cost_graph(graph, Convention("bn4", "", bn_params_per_channel=4)).totals.size_bits / 8
    assert cost_graph(graph).totals.size_mib == pytest.approx(3.877, abs=5e-4)   # Table 1
    for fmt, limit in (("packed", 1.05), ("onnx", 1.10), ("torchscript", 1.15)):
        size = export_spec(spec, fmt, tmp_path / f"m22.{fmt}").path.stat().st_size
        assert payload < size < limit * payload, (fmt, size, payload)
