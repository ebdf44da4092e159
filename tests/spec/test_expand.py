"""Spec features: blocks with arguments, repeat, for, when, includes, scoping, overrides."""

from __future__ import annotations

import pytest

from conftest import SPECS
from mnas.errors import MnasError, SpecError
from mnas.ir.graph import Scope
from mnas.spec.expand import build_graph
from mnas.spec.load import load_spec, parse_sets


def graph_of(tmp_path, text, overrides=None, name="net.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return build_graph(load_spec(path, overrides))


BLOCKS = """
name: demo
input: [8, 16, 16]
values: {n: 3, wide: false}
blocks:
  unit:
    args: {out: 8}
    layers:
      - {name: conv, op: conv2d, out: "${out}", kernel: 3}
      - {name: add, op: add, inputs: [in, conv]}
layers:
  - {name: unit, block: unit, repeat: "${n}"}
  - name: "s${i}"
    for: {i: "${range(2)}"}
    layers:
      - {op: relu}
      - {op: relu, when: "${wide}"}
  - {name: tail, op: concat, inputs: [unit2, s1]}
"""


def test_blocks_repeat_for_when(tmp_path):
    g = graph_of(tmp_path, BLOCKS)
    names = [n.name for n in g.nodes]
    assert names == ["input", "unit1.conv", "unit1.add", "unit2.conv", "unit2.add", "unit3.conv",
                     "unit3.add", "s0.relu", "s1.relu", "tail"]
    assert g["unit2.conv"].inputs == ("unit1.add",)
    assert g["unit2.add"].inputs == ("unit1.add", "unit2.conv")
    assert g["tail"].inputs == ("unit2.add", "s1.relu")
    assert g["unit3.conv"].scopes == (Scope("unit3", "unit", 3, 3),)
    assert g["s1.relu"].scopes[0] == Scope("s1", None, 2, 2)
    assert g["unit1.conv"].origin.line == 9 and g["unit1.conv"].origin.file.endswith("net.yaml")


def test_overrides_change_structure(tmp_path):
    g = graph_of(tmp_path, BLOCKS, {"n": 2, "wide": True})
    names = [n.name for n in g.nodes]
    assert "unit2.conv" in names and "unit3.conv" not in names and "s0.relu2" in names


def test_forward_reference_and_unknown_input(tmp_path):
    text = ("name: x\ninput: [3, 4, 4]\nlayers:\n  - {name: a, op: add, inputs: [input, b]}\n"
            "  - {name: b, op: relu, inputs: [input]}\n")
    g = graph_of(tmp_path, text)
    assert [n.name for n in g.nodes] == ["input", "b", "a"]


def test_block_cannot_see_callers_layers(tmp_path):
    text = """
name: x
input: [3, 4, 4]
blocks:
  peek: {layers: [{op: add, inputs: [in, outside]}]}
layers:
  - {name: outside, op: relu}
  - {block: peek}
"""
    with pytest.raises(SpecError, match="unknown input 'outside'"):
        graph_of(tmp_path, text)


def test_block_argument_errors(tmp_path):
    base = ("name: x\ninput: [3, 4, 4]\nblocks:\n  b:\n    required: [k]\n    args: {m: 1}\n"
            "    layers: [{op: relu}]\nlayers:\n")
    with pytest.raises(SpecError, match="block 'b' has no argument 'z'"):
        graph_of(tmp_path, base + "  - {block: b, args: {k: 1, z: 2}}\n")
    with pytest.raises(SpecError, match="block 'b' needs argument 'k'"):
        graph_of(tmp_path, base + "  - {block: b}\n")
    with pytest.raises(SpecError, match="unknown block 'bb' \\(did you mean 'b'\\?\\)"):
        graph_of(tmp_path, base + "  - {block: bb}\n")


def test_include_and_local_override(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.yaml").write_text(
        "blocks:\n  act: {layers: [{op: relu}]}\n  keep: {layers: [{op: sign}]}\n")
    text = ("name: x\ninput: [3, 4, 4]\ninclude: [lib/a.yaml]\n"
            "blocks:\n  act: {layers: [{op: flatten}]}\nlayers:\n  - {block: act}\n  - {block: keep}\n")
    g = graph_of(tmp_path, text)
    assert [n.op for n in g.nodes] == ["input", "flatten", "sign"]


def test_include_cycle_and_missing(tmp_path):
    (tmp_path / "a.yaml").write_text("include: [b.yaml]\n")
    (tmp_path / "b.yaml").write_text("include: [a.yaml]\n")
    with pytest.raises(SpecError, match="include cycle"):
        graph_of(tmp_path, "name: x\ninput: [3, 4, 4]\ninclude: [a.yaml]\nlayers: [{op: relu}]\n")
    with pytest.raises(SpecError, match="included file not found"):
        graph_of(tmp_path, "name: x\ninput: [3, 4, 4]\ninclude: [zz.yaml]\nlayers: [{op: relu}]\n")


def test_duplicate_block_across_includes(tmp_path):
    (tmp_path / "a.yaml").write_text("blocks:\n  z: {layers: [{op: relu}]}\n")
    (tmp_path / "b.yaml").write_text("blocks:\n  z: {layers: [{op: relu}]}\n")
    with pytest.raises(SpecError, match="block 'z' is also defined at"):
        graph_of(tmp_path, "name: x\ninput: [3, 4, 4]\ninclude: [a.yaml, b.yaml]\n"
                           "layers: [{op: relu}]\n")


def test_yaml_never_constructs_python_objects(tmp_path):
    text = "name: !!python/object/apply:os.system ['true']\ninput: [3, 4, 4]\nlayers: [{op: relu}]\n"
    with pytest.raises(SpecError, match="could not determine a constructor"):
        graph_of(tmp_path, text)


def test_parse_sets():
    assert parse_sets(["stem=imagenet", "stages=[4, 5, 4, 4]", "groups=2", "x=1.5"]) == {
        "stem": "imagenet", "stages": [4, 5, 4, 4], "groups": 2, "x": 1.5}


@pytest.mark.parametrize("spec", ["meliusnet22", "meliusnet42", "meliusnetc"])
def test_stem_override_round_trip(spec):
    path = SPECS / f"{spec}.yaml"
    grouped = build_graph(load_spec(path))
    big = build_graph(load_spec(path, {"stem": "imagenet"}))
    back = build_graph(load_spec(path, {"stem": "grouped"}))
    assert [n.name for n in big.nodes if n.stage == "stem"] == [
        "stem.conv", "stem.bn", "stem.relu", "stem.pool"]
    assert grouped == back and grouped != big


def test_input_override():
    g = build_graph(load_spec(SPECS / "meliusnet22.yaml", {"input": [3, 64, 64]}))
    assert g.input.params.shape == (3, 64, 64)
    with pytest.raises(MnasError, match="positive integers"):
        load_spec(SPECS / "meliusnet22.yaml", {"input": [3, -1, 4]})
