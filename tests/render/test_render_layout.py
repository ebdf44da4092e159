"""The layout pass of `mnas render`: checked as data (boxes, clusters, edges), for every spec.
Expected figures come from each spec's values and the IR's shapes, never typed in."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnas import api
from mnas.errors import RenderError
from mnas.ir.shapes import infer_shapes
from mnas.render.fold import fold_plan
from mnas.render.labels import fmt_shape

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.yaml"))
IDS = [p.stem for p in SPECS]


def melius_specs():
    """Specs built from the MeliusNet family body (every unit of a stage is alike, so a
    stage is one "unit × n" box followed by its transition)."""
    return [p for p in SPECS if api.load(p).block == "meliusnet"]


def expected_precision(graph, members):
    """From the layers that multiply: binary-weight convs and FCs are binary (every zoo
    network puts a sign before them), other convs, FCs and blur-pools 32-bit."""
    kinds = {getattr(graph[m].params, "binary", False) for m in members
             if graph[m].op in ("conv2d", "linear", "dense", "blurpool")}
    return {frozenset({True}): "binary", frozenset({False}): "float",
            frozenset({True, False}): "mixed"}.get(frozenset(kinds))


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
@pytest.mark.parametrize("level,fold", [("block", False), ("layer", False), ("layer", True)])
def test_boxes_draw_every_node_once_and_edges_carry_shapes(spec, level, fold):
    graph = api.graph(spec)
    shapes = infer_shapes(graph)
    layout = api.diagram(spec, level=level, fold=fold)
    members = [m for box in layout.boxes for m in box.members]
    assert sorted(members) == sorted(n.name for n in graph.nodes)
    ids = {b.id for b in layout.boxes}
    clusters = {c.id for c in layout.clusters}
    assert all(b.cluster is None or b.cluster in clusters for b in layout.boxes)
    for edge in layout.edges:
        assert edge.src in ids and edge.dst in ids and edge.src != edge.dst
        src = next(b for b in layout.boxes if b.id == edge.src)
        assert edge.shape in {shapes[m] for m in src.members}
        assert edge.label.startswith(fmt_shape(edge.shape))
    # every tensor that crosses boxes is drawn
    crossing = {(layout.box_of(i).id, layout.box_of(n.name).id)
                for n in graph.nodes for i in n.inputs} - {(b.id, b.id) for b in layout.boxes}
    assert crossing == {(e.src, e.dst) for e in layout.edges}
    for box in layout.boxes:
        want = expected_precision(graph, box.members)
        if want is not None and (level == "block" or box.kind == "layer"):
            assert box.precision == want, box
    assert {p.key for p in layout.legend} == {b.precision for b in layout.boxes}


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_block_level_shows_each_top_level_part(spec):
    """Each top-level scope (stem, stage1, head, sep3...) is a cluster or one box titled with
    its name, or part of a box of repeats marked "× n"."""
    graph = api.graph(spec)
    layout = api.diagram(spec)
    clusters = {c.label.split(" ")[0] for c in layout.clusters}
    tops = {}
    for node in graph.nodes:
        if node.scopes:
            tops.setdefault(node.scopes[0].name, []).append(node.name)
    assert tops
    for top, names in tops.items():
        if top in clusters:
            continue
        (box,) = {layout.box_of(n) for n in names}
        if box.repeat == 1:
            assert box.title == top
        else:
            assert box.title.endswith(f" × {box.repeat}") and set(names) < set(box.members)
    assert len(layout.boxes) < len(graph)


@pytest.mark.parametrize("spec", melius_specs(), ids=lambda p: p.stem)
def test_stages_show_units_times_n_and_transition_widths(spec):
    values = api.load(spec).values
    layout = api.diagram(spec)
    labels = {c.id: c.label for c in layout.clusters}
    for i, n in enumerate(values["stages"]):
        stage = f"stage{i + 1}"
        inside = [b for b in layout.boxes if labels.get(b.cluster) == stage]
        units = [b for b in inside if b.title.startswith("unit")]
        assert len(units) == 1 and units[0].repeat == n
        assert units[0].title == f"unit × {n}"
        assert units[0].precision == "binary"
        trans = [b for b in inside if b.title == "transition"]
        if i < len(values["stages"]) - 1:
            assert len(trans) == 1 and trans[0].precision == "float"
            assert trans[0].lines[-1].endswith(f"→ {values['transitions'][i]} channels")
        else:
            assert not trans


def test_mobilenet_collapses_exactly_the_identical_separable_layers():
    spec = next(p for p in SPECS if p.stem == "mobilenet_v1")
    loaded = api.load(spec)
    v = {**loaded.blocks[loaded.block].args, **loaded.values}
    layers = [(32 if i == 0 else v["widths"][i - 1], v["widths"][i], v["strides"][i])
              for i in range(len(v["widths"]))]
    runs, k = [], 1
    for a, b in zip(layers, layers[1:] + [None]):
        if a == b:
            k += 1
        else:
            runs.append(k)
            k = 1
    layout = api.diagram(spec)
    assert sorted(b.repeat for b in layout.boxes if b.repeat > 1) == sorted(r for r in runs if r > 1)
    assert all(b.precision in ("float", "none") for b in layout.boxes)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_repeats_merge_only_identical_structures(spec):
    graph = api.graph(spec)
    for box in api.diagram(spec).boxes:
        if box.repeat > 1:
            ops = [graph[m].op for m in box.members]
            period = len(ops) // box.repeat
            assert period * box.repeat == len(ops)
            assert ops == ops[:period] * box.repeat


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_layer_level_has_one_box_per_node_and_fold_removes_bn_sign_relu(spec):
    graph = api.graph(spec)
    plain = api.diagram(spec, level="layer")
    assert len(plain.boxes) == len(graph)
    assert all(len(b.members) == 1 for b in plain.boxes)
    folded = api.diagram(spec, level="layer", fold=True)
    plan = fold_plan(graph)
    assert len(folded.boxes) == len(graph) - len(plan) < len(graph)
    for box in folded.boxes:
        heads = [m for m in box.members if m not in plan]
        assert len(heads) == 1
        if len(box.members) > 1:
            assert graph[heads[0]].op in ("conv2d", "linear", "dense")
            assert all(graph[m].op in {"batchnorm", "learned_scale", "sign", "approx_sign",
                                       "rsign", "relu", "prelu", "rprelu", "hardtanh",
                                       "sigmoid"} for m in box.members if m != heads[0])
    # BN -> sign -> binary conv: a binarizer (MeliusNet's sign, Bi-Real Net's approx_sign,
    # ReActNet's rsign) goes with the conv it feeds (one feeding two convs stays apart)
    for node in graph.nodes:
        if node.op in ("sign", "approx_sign", "rsign") and len(graph.users[node.name]) == 1:
            (user,) = graph.users[node.name]
            assert plan[node.name] == user and graph[user].params.binary


def test_improvement_add_onto_last_channels_is_visible_at_layer_level():
    spec = next(p for p in SPECS if p.stem == "meliusnet22")
    graph = api.graph(spec)
    shapes = infer_shapes(graph)
    for fold in (False, True):
        layout = api.diagram(spec, level="layer", fold=fold)
        adds = [n for n in graph.nodes if n.op == "add_last"]
        assert len(adds) == sum(api.load(spec).values["stages"])
        for node in adds:
            c, k = shapes[node.inputs[0]][0], shapes[node.inputs[1]][0]
            box = layout.box_of(node.name)
            assert f"add onto last {k} of {c} ch" in box.lines
            (edge,) = [e for e in layout.edges if e.dst == box.id and e.kind == "add_last"]
            assert edge.src == layout.box_of(node.inputs[1]).id
            assert f"onto ch {c - k}–{c - 1}" in edge.label


def test_costs_per_box_add_up_to_the_report_totals():
    spec = next(p for p in SPECS if p.stem == "meliusnet22")
    report = api.cost(spec)
    for level in ("block", "layer"):
        layout = api.diagram(spec, level=level, costs=True)
        assert sum(b.ops for b in layout.boxes) == pytest.approx(report.totals.ops)
        assert sum(b.params for b in layout.boxes) == report.totals.params
        assert any(line.startswith("OPs ") for line in layout.title)
    assert all(b.ops is None for b in api.diagram(spec).boxes)


def test_overrides_reach_the_diagram():
    spec = next(p for p in SPECS if p.stem == "meliusnet22")
    layout = api.diagram(spec, {"stages": [2, 3, 2, 7]})
    assert sorted(b.repeat for b in layout.boxes if b.repeat > 1) == [2, 2, 3, 7]


def test_unknown_level_is_a_render_error():
    spec = next(p for p in SPECS if p.stem == "meliusnet22")
    with pytest.raises(RenderError, match="unknown level 'blocks'.*did you mean 'block'"):
        api.diagram(spec, level="blocks")


FLAT = """\
name: Flat
input: [3, 32, 32]
layers:
  - {name: c1, op: conv2d, out: 16, kernel: 3}
  - {name: bn1, op: batchnorm}
  - {name: relu1, op: relu}
  - {name: c2, op: conv2d, out: 32, kernel: 3, stride: 2}
  - {name: bn2, op: batchnorm}
  - {name: sign2, op: sign}
  - {name: c3, op: conv2d, out: 32, kernel: 3, binary: true}
  - {name: pool, op: global_avgpool}
  - {name: fc, op: linear, out: 10}
"""


def test_fold_sends_bn_sign_to_the_binary_conv_and_bn_relu_to_the_conv_before(tmp_path):
    spec = tmp_path / "flat.yaml"
    spec.write_text(FLAT)
    assert fold_plan(api.graph(spec)) == {"bn1": "c1", "relu1": "c1", "bn2": "c3",
                                          "sign2": "c3"}
    layout = api.diagram(spec, level="layer", fold=True)
    assert layout.box_of("sign2").lines == ("binary conv 3×3 → 32", "after BN → sign")
    assert layout.box_of("relu1").lines == ("conv 3×3 → 16", "then BN → ReLU")
    assert layout.box_of("c3").precision == "binary" and layout.box_of("c2").precision == "float"


def test_block_level_of_a_spec_without_blocks_groups_layers_as_fold_does(tmp_path):
    spec = tmp_path / "flat.yaml"
    spec.write_text(FLAT)
    layout = api.diagram(spec)
    assert [b.members for b in layout.boxes] == [
        ("input",), ("c1", "bn1", "relu1"), ("c2",), ("bn2", "sign2", "c3"), ("pool",), ("fc",)]
    assert [b.title for b in layout.boxes][1:4] == ["c1", "c2", "c3"]
    assert not layout.clusters
