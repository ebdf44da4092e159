"""The lowered module has exactly the parameters and multiply-accumulates the cost model
counts, layer by layer, for every spec. Modules are built on the meta device, so counting
the largest network at 224x224 does no arithmetic."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mnas import api
from mnas.cost.conventions import Convention
from mnas.cost.model import cost_graph
from mnas.ops.layers import BinaryConv2d, BinaryLinear
from mnas.lower.torch import to_module

from conftest import NETWORK_SPECS, ROOT

ALL_OPS = ROOT / "tests" / "lower" / "data" / "all_ops.yaml"  # every registered op type
LOWER_SPECS = [*NETWORK_SPECS, ALL_OPS]  # globbed: a new spec is checked automatically
MELIUSNET22 = ROOT / "specs" / "meliusnet22.yaml"
#: both published conventions count 2 values per BatchNorm channel whatever the layer learns
#: (MXNet keeps gamma; Larq's summary counts 2); the module holds what its layers learn
LEARNED = Convention(name="learned", description="parameters as the layers hold them",
                     fc_in_ops=True, bn_params_per_channel=None)
per_spec = pytest.mark.parametrize("spec_path", LOWER_SPECS, ids=[p.stem for p in LOWER_SPECS])


def _lowered(spec_path, sets=None, convention="paper"):
    graph = api.graph(spec_path, sets)
    with torch.device("meta"):
        module = to_module(graph)
    return graph, module, cost_graph(graph, convention)


def _split_params(module: torch.nn.Module) -> tuple[int, int]:
    """(binary weights, every other parameter) of a module, read from the module alone."""
    binary = other = 0
    for sub in module.modules():
        for name, p in sub.named_parameters(recurse=False):
            if isinstance(sub, (BinaryConv2d, BinaryLinear)) and name == "weight":
                binary += p.numel()
            else:
                other += p.numel()
    return binary, other


@per_spec
def test_parameter_counts_equal_the_cost_model(spec_path, sets=None):
    graph, module, report = _lowered(spec_path, sets, LEARNED)
    for layer in report.layers[1:]:
        sub = module.get_submodule(layer.name)
        assert _split_params(sub) == (layer.binary_params, layer.float_params), layer.name
    binary, other = _split_params(module)
    assert binary == report.totals.binary_params
    assert other == report.totals.float_params
    assert sum(p.numel() for p in module.parameters()) == report.totals.params
    if spec_path.stem.startswith("meliusnet"):
        assert binary > 0 and other > 0


@per_spec
def test_flop_counter_macs_equal_the_cost_model(spec_path, sets=None):
    graph, module, report = _lowered(spec_path, sets)
    x = torch.empty((1, *graph.input.params.shape), device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module.eval()(x)  # eval: batch statistics of one sample are undefined for 1-D BN
    counts = counter.get_flop_counts()
    prefix = type(module).__name__
    counted_layers = 0
    for layer in report.layers:
        flops = sum(counts.get(f"{prefix}.{layer.name}", {}).values())
        assert flops == 2 * layer.macs, layer.name  # FlopCounterMode: 2 FLOPs per MAC
        counted_layers += layer.macs > 0
    assert counted_layers > 0
    # nothing else in the module does arithmetic the cost model leaves out
    assert sum(counts["Global"].values()) == 2 * report.totals.macs


@pytest.mark.parametrize("sets", [{"stem": "imagenet"}, {"groups": 4, "input": [3, 96, 128]}],
                         ids=["7x7-stem", "grouped-transitions"])
def test_overridden_variants_count_equal(sets):
    """Variants only reachable through --set: the 7x7 stem, grouped and shuffled transitions,
    a non-square input."""
    test_parameter_counts_equal_the_cost_model(MELIUSNET22, sets)
    test_flop_counter_macs_equal_the_cost_model(MELIUSNET22, sets)
