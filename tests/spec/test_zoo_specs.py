"""Every network spec builds, validates and costs; the binary ones take either stem; the zoo's
structures are the ones shared/paper/FACTS.md and the original papers describe."""

from __future__ import annotations

import pytest

from conftest import NETWORK_SPECS, SPECS
from mnas import api
from mnas.ir.shapes import infer_shapes

STEMS = ("imagenet", "grouped")


@pytest.mark.parametrize("path", NETWORK_SPECS, ids=lambda p: p.stem)
def test_every_spec_builds_validates_and_costs(path):
    graph = api.graph(path)
    shapes = infer_shapes(graph)
    classes = api.load(path).values.get("classes", 1000)      # 10 in the CIFAR spec
    assert shapes[graph.output.name] == (classes,)
    t = api.cost(path).totals
    assert t.ops > 0 and t.params > 0 and t.size_mib > 0
    assert t.ops == t.bops / 64 + t.flops


# Written out, not derived from costs: a list built from `bops > 0` goes silently empty (every
# test skipped) when binary MACs are booked as FLOPs, which is what it should catch.
BINARY_NETWORKS = ["binarydensenet28", "binarydensenet37", "binarydensenet45", "birealnet18",
                   "birealnet34", "meliusnet-cifar", "meliusnet22", "meliusnet29", "meliusnet42",
                   "meliusnet59", "meliusneta", "meliusnetb", "meliusnetc", "resnete18",
                   "resnete34"]


@pytest.mark.parametrize("name", BINARY_NETWORKS)
def test_binary_networks_take_either_stem(name):
    path = SPECS / f"{name}.yaml"
    spec = api.load(path)
    assert "stem" in spec.settable()
    costs = {stem: api.cost(path, {"stem": stem}).totals for stem in STEMS}
    assert costs["imagenet"].bops == costs["grouped"].bops > 0
    assert costs["imagenet"].binary_params == costs["grouped"].binary_params > 0
    assert costs["grouped"].flops < costs["imagenet"].flops
    graphs = {stem: api.graph(path, {"stem": stem}) for stem in STEMS}
    kernels = {stem: sorted(n.params.kernel for n in g.nodes
                            if n.op == "conv2d" and n.name.startswith("stem."))
               for stem, g in graphs.items()}
    assert kernels == {"imagenet": [7], "grouped": [3, 3, 3]}


@pytest.mark.parametrize("name", ["binarydensenet28", "binarydensenet37", "binarydensenet45",
                                  "resnete18", "resnete34", "birealnet18", "birealnet34"])
def test_zoo_networks_default_to_their_original_7x7_stem(name):
    graph = api.graph(SPECS / f"{name}.yaml")
    assert graph["stem.conv"].params.kernel == 7


# FACTS.md, "Structure as implemented": BinaryDenseNet transitions as (C -> C') per stage
DENSENET_TRANSITIONS = {
    "binarydensenet28": ((6, 6, 6, 5), [(448, 160), (544, 192), (576, 256)]),
    "binarydensenet37": ((6, 8, 12, 6), [(448, 128), (640, 192), (960, 256)]),
    "binarydensenet45": ((6, 12, 14, 8), [(448, 160), (928, 288), (1184, 288)]),
}


@pytest.mark.parametrize("name", sorted(DENSENET_TRANSITIONS))
def test_binarydensenet_blocks_and_transition_widths(name):
    blocks, transitions = DENSENET_TRANSITIONS[name]
    graph = api.graph(SPECS / f"{name}.yaml")
    shapes = infer_shapes(graph)
    convs = [n for n in graph.nodes if n.op == "conv2d" and n.name.endswith("transition.conv")]
    assert [(shapes[n.inputs[0]][0], shapes[n.name][0]) for n in convs] == transitions
    per_stage = [sum(1 for n in graph.nodes if n.op == "concat"
                     and n.name.startswith(f"stage{i + 1}.")) for i in range(4)]
    assert tuple(per_stage) == blocks
    assert not any(n.op == "add_last" for n in graph.nodes)  # no improvement blocks


def _binary_convs(graph):
    return [n for n in graph.nodes if n.op == "conv2d" and n.params.binary]


@pytest.mark.parametrize("name,units", [("resnete18", (4, 4, 4, 4)), ("resnete34", (6, 8, 12, 6)),
                                        ("birealnet18", (4, 4, 4, 4)),
                                        ("birealnet34", (6, 8, 12, 6))])
def test_binary_resnets_units_shortcuts_and_widths(name, units):
    """FACTS.md (ResNetE) and Liu et al. 2018 (Bi-Real): one binary 3x3 conv per shortcut,
    stages of 64/128/256/512 channels at 56/28/14/7, downsampling shortcuts AvgPool 2x2 ->
    32-bit 1x1 conv -> BN in the first unit of stages 2-4."""
    graph = api.graph(SPECS / f"{name}.yaml")
    shapes = infer_shapes(graph)
    binary = _binary_convs(graph)
    assert len(binary) == sum(units)
    for i, (count, width, size) in enumerate(zip(units, (64, 128, 256, 512), (56, 28, 14, 7))):
        stage = [n for n in binary if n.name.startswith(f"stage{i + 1}.")]
        assert len(stage) == count
        assert {shapes[n.name] for n in stage} == {(width, size, size)}
        assert all(n.params.kernel == 3 for n in stage)
    adds = [n for n in graph.nodes if n.op == "add"]
    assert len(adds) == sum(units)
    shortcuts = [n for n in graph.nodes if n.op == "conv2d" and ".shortcut." in n.name]
    assert len(shortcuts) == 3
    for conv in shortcuts:
        assert not conv.params.binary and conv.params.kernel == 1
        pool = graph[conv.inputs[0]]
        assert pool.op == "avgpool" and (pool.params.kernel, pool.params.step) == (2, 2)
        assert graph.users[conv.name] and graph[graph.users[conv.name][0]].op == "batchnorm"
    # every binary conv reads a sign and its unit adds a shortcut onto its BN
    for conv in binary:
        assert graph[conv.inputs[0]].op in ("sign", "approx_sign")


def test_resnete_input_bn_stem_bn_and_head():
    """FACTS.md: BN without scale on the 3 input channels, stem, BN(64); head ReLU -> GAP -> FC
    with no final BN."""
    graph = api.graph(SPECS / "resnete18.yaml")
    first = graph.nodes[1]
    assert first.name == "input_bn" and first.op == "batchnorm" and not first.params.scale
    assert graph["stem_bn"].inputs == ("stem.pool",)
    assert [graph[n].op for n in ("head.relu", "head.pool", "head.fc")] == \
        ["relu", "global_avgpool", "linear"]
    assert "head.bn" not in graph.by_name
    assert all(n.op == "sign" and n.params.clip == 1.3 for n in graph.nodes
               if n.name.endswith(".sign"))


def test_birealnet_blocks_pair_two_units_and_follow_its_release():
    """Bi-Real Net: a block is two binary convs, each with its own shortcut; stem without
    ReLU, head GAP -> FC; approximated sign and magnitude-aware weights."""
    graph = api.graph(SPECS / "birealnet18.yaml")
    blocks = sorted({n.name.split(".unit")[0] for n in _binary_convs(graph)})
    assert blocks == [f"stage{s}.block{b}" for s in range(1, 5) for b in (1, 2)]
    for block in blocks:
        assert graph[f"{block}.unit2.add"].inputs == (f"{block}.unit2.bn", f"{block}.unit1.add")
    assert "stem.relu" not in graph.by_name and graph["stem.pool"].inputs == ("stem.bn",)
    assert [n.op for n in graph.nodes[-2:]] == ["global_avgpool", "linear"]
    assert all(n.params.weight_scale for n in _binary_convs(graph))
    assert {graph[n.inputs[0]].op for n in _binary_convs(graph)} == {"approx_sign"}


def test_bireal18_has_resnet18_parameters_and_resnete18_costs():
    """Bi-RealNet18 keeps ResNet-18's weights (11,689,512 parameters in torchvision's
    resnet18, BN gamma/beta counted) and costs what ResNetE18 costs."""
    bireal = api.cost(SPECS / "birealnet18.yaml").totals
    resnete = api.cost(SPECS / "resnete18.yaml").totals
    assert bireal.params == 11_689_512
    assert (bireal.bops, bireal.flops) == (resnete.bops, resnete.flops)
    # input BN (3 channels, 2 each under `paper` although it has no scale) + BN after the stem
    assert resnete.params - bireal.params == 2 * 3 + 2 * 64


def test_bireal_options_switch_to_ste_sign_and_plain_weights():
    graph = api.graph(SPECS / "birealnet18.yaml", {"sign": "ste", "weight_scale": False})
    assert {graph[n.inputs[0]].op for n in _binary_convs(graph)} == {"sign"}
    assert not any(n.params.weight_scale for n in _binary_convs(graph))
