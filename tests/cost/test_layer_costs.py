"""Every column of every layer of a small network, counted by hand, under the paper's
convention and under a convention that changes every field (so a rule that only happens to
give the right number at the paper's defaults, such as multiplying by binary_bits = 1, shows).
Also the per-layer table and the block / stage roll-ups built from them."""

from __future__ import annotations

import pytest

from mnas.cost.conventions import Convention
from mnas.cost.model import cost_graph
from mnas.spec.expand import build_graph
from mnas.spec.load import load_spec

NET = """
name: hand
input: [16, 8, 8]
layers:
  - name: body
    layers:
      - {name: bn, op: batchnorm}
      - {name: sign, op: sign}
      - {name: bconv, op: conv2d, binary: true, out: 32, kernel: 3}
      - {name: conv, op: conv2d, out: 32, kernel: 1, groups: 4, inputs: [input]}
      - {name: cat, op: concat, inputs: [body.bconv, body.conv]}
  - name: head
    layers:
      - {name: pool, op: global_avgpool}
      - {name: bfc, op: linear, binary: true, out: 16}
      - {name: fc, op: linear, out: 10}
"""
COLUMNS = ("precision", "params", "binary_params", "float_params", "macs", "bops", "flops",
           "ops", "size_bits")

# By hand. bn: 16 channels, gamma + beta. bconv: 32 x 16 x 9 = 4,608 one-bit weights, x 8 x 8
# = 294,912 MACs. conv: 32 x (16 / 4) = 128 weights, x 64 = 8,192 MACs. bfc: 64 x 16 = 1,024
# one-bit weights and MACs, 16 bias; its input (an average pool) is 32-bit, so by Larq's rule
# (a MAC is as wide as the wider of input and weight) its MACs are 32-bit. fc: 16 x 10 = 160
# weights and MACs, 10 bias.
PAPER = {  # OPs = BOPs / 64 + FLOPs; the FC layers' MACs are not ops; 1 / 32 bits
    "input": ("-", 0, 0, 0, 0, 0, 0, 0, 0),
    "body.bn": ("float", 32, 0, 32, 0, 0, 0, 0, 32 * 32),
    "body.sign": ("-", 0, 0, 0, 0, 0, 0, 0, 0),
    "body.bconv": ("binary", 4_608, 4_608, 0, 294_912, 294_912, 0, 4_608, 4_608),
    "body.conv": ("float", 128, 0, 128, 8_192, 0, 8_192, 8_192, 128 * 32),
    "body.cat": ("-", 0, 0, 0, 0, 0, 0, 0, 0),
    "head.pool": ("-", 0, 0, 0, 0, 0, 0, 0, 0),
    "head.bfc": ("float", 1_040, 1_024, 16, 1_024, 0, 0, 0, 1_024 + 16 * 32),
    "head.fc": ("float", 170, 0, 170, 160, 0, 0, 0, 170 * 32),
}
# speed-up 32, FC counted, BN 4 per channel, 2-bit binary and 16-bit other parameters, MB = 1e6
ODD = Convention("odd", "every field changed", binary_speedup=32, fc_in_ops=True,
                 bn_params_per_channel=4, binary_bits=2, float_bits=16, mb_bytes=10 ** 6)
ODD_LAYERS = {
    "body.bn": ("float", 64, 0, 64, 0, 0, 0, 0, 64 * 16),
    "body.bconv": ("binary", 4_608, 4_608, 0, 294_912, 294_912, 0, 9_216, 4_608 * 2),
    "body.conv": ("float", 128, 0, 128, 8_192, 0, 8_192, 8_192, 128 * 16),
    "head.bfc": ("float", 1_040, 1_024, 16, 1_024, 0, 1_024, 1_024, 1_024 * 2 + 16 * 16),
    "head.fc": ("float", 170, 0, 170, 160, 0, 160, 160, 170 * 16),
}


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "hand.yaml"
    path.write_text(NET)
    return build_graph(load_spec(path))


def _rows(report):
    return {layer.name: tuple(getattr(layer, c) for c in COLUMNS) for layer in report.layers}


def test_every_layer_under_the_paper_convention(graph):
    report = cost_graph(graph)
    assert _rows(report) == PAPER
    for layer in report.layers:             # integer counts stay integers (JSON prints them so)
        assert all(type(getattr(layer, c)) is int for c in COLUMNS[1:-2] + ("size_bits",))
    t = report.totals
    assert (t.bops, t.flops, t.ops, t.macs) == (294_912, 8_192, 4_608 + 8_192, 304_288)
    assert (t.params, t.binary_params, t.float_params) == (5_978, 5_632, 346)
    assert t.size_bits == 5_632 + 346 * 32 and t.size_mib == (5_632 + 346 * 32) / 8 / 2 ** 20
    assert report.input == (16, 8, 8) and report.name == "hand"
    assert [layer.shape for layer in report.layers][-4:] == [(64, 8, 8), (64,), (16,), (10,)]


def test_every_layer_under_a_convention_that_changes_every_field(graph):
    report = cost_graph(graph, ODD)
    rows = _rows(report)
    for name, row in ODD_LAYERS.items():
        assert rows[name] == row, name
    t = report.totals
    assert (t.bops, t.flops, t.ops) == (294_912, 8_192 + 1_024 + 160, 9_216 + 8_192 + 1_024 + 160)
    assert (t.params, t.binary_params, t.float_params) == (6_010, 5_632, 378)
    assert t.size_bits == 5_632 * 2 + 378 * 16 and t.size_mib == (5_632 * 2 + 378 * 16) / 8 / 1e6
    assert report.convention is ODD


def test_table_has_one_row_per_layer_in_order(graph):
    df = cost_graph(graph).table()
    assert list(df.columns) == ["name", "op", "block", "stage", "shape", "precision", "params",
                                "binary_params", "float_params", "macs", "bops", "flops", "ops",
                                "size_bits"]
    assert list(df["name"]) == list(PAPER)
    assert list(df["shape"])[:4] == ["16x8x8", "16x8x8", "16x8x8", "32x8x8"]
    assert df.loc[df["name"] == "head.fc", "stage"].item() == "head"
    assert df.loc[df["name"] == "body.bconv", "block"].item() == "body"


def test_table_of_no_layers_still_has_its_columns(graph):
    from dataclasses import replace
    empty = replace(cost_graph(graph), layers=())
    assert list(empty.table().columns)[:3] == ["name", "op", "block"] and empty.table().empty


def test_rollups_by_stage_and_block(graph):
    report = cost_graph(graph)
    by_stage = report.rollup("stage")
    assert list(by_stage.columns[:3]) == ["stage", "layers", "params"]
    assert list(by_stage["stage"]) == ["input", "body", "head"]
    assert list(by_stage["layers"]) == [1, 5, 3]
    assert list(by_stage["params"]) == [0, 32 + 4_608 + 128, 1_040 + 170]
    assert list(by_stage["bops"]) == [0, 294_912, 0]
    assert list(by_stage["size_mib"]) == [0, (32 * 32 + 4_608 + 128 * 32) / 8 / 2 ** 20,
                                          (1_024 + 16 * 32 + 170 * 32) / 8 / 2 ** 20]
    assert list(cost_graph(graph, ODD).rollup("stage")["size_mib"])[2] == \
        (1_024 * 2 + 16 * 16 + 170 * 16) / 8 / 1e6
    assert list(report.rollup("block")["block"]) == ["input", "body", "head"]
    with pytest.raises(ValueError, match="rollup by 'block' or 'stage', not 'unit'"):
        report.rollup("unit")


def test_size_unit_names_the_unit():
    assert Convention("a", "MiB").size_unit == "MiB"                      # 2**20 bytes
    assert Convention("b", "MB", mb_bytes=10 ** 6).size_unit == "MB"
    assert Convention("c", "kB", mb_bytes=1000).size_unit == "x1000B"
    assert Convention("d", "2^21", mb_bytes=2 ** 21).size_unit == "x2097152B"


ONE_BIT_FC = """
name: fc1
input: [16, 4, 4]
layers:
  - {name: pool, op: global_avgpool}
  - {name: sign, op: sign}
  - {name: bfc, op: linear, binary: true, out: 8}
  - {name: fc, op: linear, out: 10}
"""


def test_binary_classifier_on_one_bit_input(tmp_path):
    """A binary FC reading signs: 16 x 8 = 128 BOPs, counted only where the convention counts
    the classifier (ODD: 128 / 32 = 4 OPs; the paper: none); fc 8 x 10 = 80 FLOPs likewise."""
    path = tmp_path / "fc1.yaml"
    path.write_text(ONE_BIT_FC)
    graph = build_graph(load_spec(path))
    paper, odd = cost_graph(graph).totals, cost_graph(graph, ODD).totals
    assert (paper.bops, paper.flops, paper.ops, paper.macs) == (0, 0, 0, 208)
    assert (odd.bops, odd.flops, odd.ops, odd.macs) == (128, 80, 128 / 32 + 80, 208)
    assert (odd.binary_params, odd.float_params) == (128, 8 + 90)
    assert cost_graph(graph).real_input_binary == ()


def test_binary_layers_on_32_bit_inputs_are_named_once(tmp_path):
    """Five binary convs reading a 32-bit input: one warning naming the first, the count of
    the others and three of them."""
    import warnings as w
    from mnas.errors import MnasWarning
    body = "".join(f"  - {{name: c{i}, op: conv2d, binary: true, out: 4, kernel: 1, "
                   f"inputs: [input]}}\n" for i in range(5))
    path = tmp_path / "five.yaml"
    path.write_text("name: five\ninput: [4, 2, 2]\nlayers:\n" + body +
                    "  - {name: cat, op: concat, inputs: [c0, c1, c2, c3, c4]}\n")
    with w.catch_warnings(record=True) as caught:
        w.simplefilter("always")
        report = cost_graph(build_graph(load_spec(path)))
    assert report.real_input_binary == ("c0", "c1", "c2", "c3", "c4")
    assert [type(c.message) for c in caught] == [MnasWarning]
    assert str(caught[0].message).startswith(
        "binary-weight layer 'c0' (and 4 more: c1, c2, c3, ...) reads a 32-bit input, so its "
        "MACs are counted as 32-bit FLOPs, not BOPs")
    assert report.totals.bops == 0 and report.totals.flops == 5 * 16 * 4
