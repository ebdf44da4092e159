"""`mnas render` drawn by graphviz: every spec renders to SVG that parses as XML and shows its
stages and repeat counts; a layer-level SVG has one node per IR node (minus folded ones)."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mnas import api
from mnas.cli import main
from mnas.ir.shapes import infer_shapes
from mnas.render.fold import fold_plan

SPECS = sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.yaml"))
IDS = [p.stem for p in SPECS]
SVG = "{http://www.w3.org/2000/svg}"

pytestmark = pytest.mark.skipif(shutil.which("dot") is None,
                                reason="graphviz 'dot' not installed (setup.sh installs it)")


def render_svg(spec: Path, out: Path, *args: str) -> ET.Element:
    assert main(["render", str(spec), "-o", str(out), *args]) == 0
    return ET.parse(out).getroot()


def texts(root: ET.Element) -> list[str]:
    return [t.text for t in root.iter(f"{SVG}text") if t.text]


def drawn_nodes(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]


def test_spec_glob_finds_the_zoo():
    assert {"meliusnet22", "mobilenet_v1"} <= set(IDS)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_every_spec_renders_to_svg_with_its_stages_and_repeat_counts(spec, tmp_path):
    root = render_svg(spec, tmp_path / "net.svg")
    assert root.tag == f"{SVG}svg"
    words = texts(root)
    graph = api.graph(spec)
    assert graph.name in words
    layout = api.diagram(spec)
    assert len(drawn_nodes(root)) == len(layout.boxes)
    for node in graph.nodes:
        if node.scopes and layout.box_of(node.name).repeat == 1:
            assert node.scopes[0].name in words, node.scopes[0].name
    loaded = api.load(spec)
    values = loaded.values
    if loaded.block == "meliusnet":
        for i, n in enumerate(values["stages"]):
            assert f"stage{i + 1}" in words
            assert f"unit × {n}" in words
        for width in values.get("transitions") or ():
            assert any(w.endswith(f"→ {width} channels") for w in words)
    for box in layout.boxes:
        if box.repeat > 1:
            assert any(w.endswith(f"× {box.repeat}") for w in words)


def test_layer_level_svg_has_one_node_per_ir_node_minus_folded(tmp_path):
    spec = next(p for p in SPECS if p.stem == "meliusnet22")
    graph = api.graph(spec)
    root = render_svg(spec, tmp_path / "layers.svg", "--level", "layer")
    assert len(drawn_nodes(root)) == len(graph)
    root = render_svg(spec, tmp_path / "folded.svg", "--level", "layer", "--fold")
    assert len(drawn_nodes(root)) == len(graph) - len(fold_plan(graph))
    shapes = infer_shapes(graph)
    first_add = next(n for n in graph.nodes if n.op == "add_last")
    c, k = shapes[first_add.inputs[0]][0], shapes[first_add.inputs[1]][0]
    words = texts(root)
    assert f"add onto last {k} of {c} ch" in words
    assert f"onto ch {c - k}–{c - 1}" in words


def test_costs_show_in_the_svg(tmp_path):
    spec = next(p for p in SPECS if p.stem == "meliusnet22")
    words = texts(render_svg(spec, tmp_path / "c.svg", "--costs"))
    assert any(w.startswith("OPs ") and "BOPs" in w for w in words)
    assert sum(w.startswith("OPs ") and "params" in w for w in words) >= 8


@pytest.mark.parametrize("fmt,magic", [("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_png_and_pdf_from_the_output_suffix(fmt, magic, tmp_path):
    spec = next(p for p in SPECS if p.stem == "meliusnet22")
    out = tmp_path / f"m22.{fmt}"
    assert main(["render", str(spec), "-o", str(out)]) == 0
    assert out.read_bytes().startswith(magic)
