"""Precision-aware equality of the lowered module and the cost model, layer by layer: every
lowered conv and linear layer does, in torch's FlopCounterMode, exactly the MACs the cost
model books for it, and they are booked in the column its precision says. A module that
binarises its weights (BinaryConv2d, ScaledBinaryConv2d, BinaryLinear) carries BOPs only and
no FLOPs; every other conv/linear carries FLOPs only and no BOPs. (The older equality test in
test_cost_equality.py compares binary + float MACs together, so it cannot see precision.)

Outside this check, by design: BatchNorm, ReLU and sign, pooling, add / concat / add_last,
channel shuffle, and the scaled binary conv's per-channel scale multiply. FlopCounterMode counts
only matrix products and convolutions, and the paper's convention counts none of these as
ops (shared/paper/FACTS.md); FlopCounterMode's global total equalling the conv/linear sum
shows they hide no counted arithmetic. Modules are built on the meta device, so counting the
largest network at 224x224 does no arithmetic."""

from __future__ import annotations

from functools import lru_cache

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from conftest import NETWORK_SPECS, ROOT
from mnas import api
from mnas.cost.conventions import Convention
from mnas.cost.model import cost_graph
from mnas.lower.torch import to_module
from mnas.ops.layers import BinaryConv2d, BinaryLinear

ALL_OPS = ROOT / "tests" / "lower" / "data" / "all_ops.yaml"
#: the all-ops fixture before the modern ops were added, which the hand count below covers
CLASSIC_OPS = ROOT / "tests" / "lower" / "data" / "classic_ops.yaml"
SPECS = ROOT / "specs"
# Every MAC counted, the classifier's too, so each layer's BOPs / FLOPs are its MACs.
ALL_MACS = Convention("all-macs", "every MAC is an op, the FC's too", fc_in_ops=True)
BINARY_MODULES = (BinaryConv2d, BinaryLinear)          # ScaledBinaryConv2d is a BinaryConv2d


def _counted(spec_path, sets=None):
    """(graph, lowered module, FlopCounterMode counts per module, prefix) on the meta device."""
    graph = api.graph(spec_path, sets)
    with torch.device("meta"):
        module = to_module(graph)
    x = torch.empty((1, *graph.input.params.shape), device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module.eval()(x)
    return graph, module, counter.get_flop_counts(), type(module).__name__


def _layer_macs(spec_path, sets=None) -> dict[str, tuple[bool, int, int]]:
    """{layer: (binary weights?, MACs FlopCounterMode counted, weight count)} for every conv
    and linear module, read from the module alone."""
    if sets is None:
        return _layer_macs_cached(spec_path)
    return _measure(spec_path, sets)


@lru_cache(maxsize=None)
def _layer_macs_cached(spec_path):
    return _measure(spec_path, None)


def _measure(spec_path, sets):
    graph, module, counts, prefix = _counted(spec_path, sets)
    out = {}
    for node in graph.nodes[1:]:
        sub = module.get_submodule(node.name)
        flops = sum(counts.get(f"{prefix}.{node.name}", {}).values())
        if isinstance(sub, (nn.Conv2d, nn.Linear)) or flops:    # also fixed filters (blur-pool)
            assert flops % 2 == 0                     # FlopCounterMode: 2 FLOPs per MAC
            weight = getattr(sub, "weight", None)
            out[node.name] = (isinstance(sub, BINARY_MODULES), flops // 2,
                              0 if weight is None else weight.numel())
    total = sum(counts["Global"].values()) // 2
    assert total == sum(macs for _, macs, _ in out.values()), "arithmetic outside conv/linear"
    return out


def _check(spec_path, sets=None) -> tuple[int, int]:
    measured = _layer_macs(spec_path, sets)
    graph = api.graph(spec_path, sets)
    every = {layer.name: layer for layer in cost_graph(graph, ALL_MACS).layers}
    paper = {layer.name: layer for layer in cost_graph(graph, "paper").layers}
    binary_macs = float_macs = 0
    for name, (binary, macs, weights) in measured.items():
        layer = every[name]
        assert macs > 0, name
        if binary:
            assert (layer.bops, layer.flops) == (macs, 0), name
            assert (layer.binary_params, layer.precision) == (weights, "binary"), name
            binary_macs += macs
        else:
            assert (layer.bops, layer.flops) == (0, macs), name
            assert layer.binary_params == 0 and layer.precision == "float", name
            float_macs += macs
        # the paper's convention: the classifier's MACs are not ops; the rest as counted
        fc = graph[name].op == "linear"
        assert (paper[name].bops, paper[name].flops) == \
            ((0, 0) if fc else (layer.bops, layer.flops)), name
    totals = cost_graph(graph, ALL_MACS).totals
    assert (totals.bops, totals.flops) == (binary_macs, float_macs)
    # no layer other than a conv or linear books MACs
    assert {n for n, layer in every.items() if layer.macs} == set(measured)
    return binary_macs, float_macs


LOWER_SPECS = [*NETWORK_SPECS, ALL_OPS]  # globbed: a new spec is checked automatically


@pytest.mark.parametrize("spec_path", LOWER_SPECS, ids=[p.stem for p in LOWER_SPECS])
def test_binary_layers_carry_bops_only_and_float_layers_flops_only(spec_path):
    _check(spec_path)


def test_all_ops_fixture_by_hand():
    """tests/lower/data/classic_ops.yaml at 16x16, counted by hand: binary bconv 8 x (8/2) x 9 x
    16^2 = 73,728, sconv 8 x 8 x 9 x 16^2 = 147,456, blin 384 x 24 = 9,216; float conv
    8 x 3 x 9 x 16^2 = 55,296, small 4 x 8 x 16^2 = 8,192, fc 24 x 10 = 240."""
    measured = _layer_macs(CLASSIC_OPS)
    assert measured == {"conv": (False, 55_296, 216), "bconv": (True, 73_728, 288),
                        "sconv": (True, 147_456, 576), "small": (False, 8_192, 32),
                        "blin": (True, 9_216, 9_216), "fc": (False, 240, 240)}
    assert _check(CLASSIC_OPS) == (73_728 + 147_456 + 9_216, 55_296 + 8_192 + 240)


# Written out from each network's published structure (shared/paper/FACTS.md, Table 1 of the
# MeliusNet paper, the Bi-Real Net paper, the MobileNet paper): binary conv/linear layers, and
# 32-bit conv/linear layers. MeliusNets: a dense and an improvement block per unit (2 binary
# convs), grouped stem (3 convs) + 3 transitions + FC; BinaryDenseNets: 1 binary conv per unit,
# 7x7 stem + 3 transitions + FC; ResNetE / Bi-Real: 1 binary conv per unit, 7x7 stem + 3
# downsampling shortcuts + FC; MobileNet-v1: conv + 13 x (depthwise + pointwise) + FC.
LAYER_COUNTS = {
    "meliusnet22": (2 * (4 + 5 + 4 + 4), 7),
    "meliusnet29": (2 * (4 + 6 + 8 + 6), 7),
    "meliusnet42": (2 * (5 + 8 + 14 + 10), 7),
    "meliusnet59": (2 * (6 + 12 + 24 + 12), 7),
    "meliusneta": (2 * (4 + 5 + 5 + 6), 7),
    "meliusnetb": (2 * (4 + 6 + 8 + 6), 7),
    "meliusnetc": (2 * (3 + 5 + 10 + 6), 7),
    "binarydensenet28": (6 + 6 + 6 + 5, 5),
    "binarydensenet37": (6 + 8 + 12 + 6, 5),
    "binarydensenet45": (6 + 12 + 14 + 8, 5),
    "resnete18": (16, 5),
    "resnete34": (6 + 8 + 12 + 6, 5),
    "birealnet18": (16, 5),
    "birealnet34": (6 + 8 + 12 + 6, 5),
    "mobilenet_v1": (0, 1 + 2 * 13 + 1),
}


@pytest.mark.parametrize("name", list(LAYER_COUNTS))
def test_published_networks_have_their_binary_and_float_layers(name):
    measured = _layer_macs(SPECS / f"{name}.yaml")     # counted once, shared with the test above
    binary = sum(b for b, _, _ in measured.values())
    assert (binary, len(measured) - binary) == LAYER_COUNTS[name]


@pytest.mark.parametrize("sets", [{"stem": "imagenet"}, {"groups": 4, "input": [3, 96, 128]}],
                         ids=["7x7-stem", "grouped-transitions"])
def test_variants_reachable_only_through_set(sets):
    binary, flops = _check(SPECS / "meliusnet22.yaml", sets)
    assert binary > 0 and flops > 0
