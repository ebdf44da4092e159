"""Precision inference: 1 bit after a sign-like op, kept by ops that only select or move
values, 32 bits after anything that computes; a binary-weight conv reading a 32-bit input
costs 32-bit MACs (Larq's rule), is drawn as 32-bit, and `mnas cost` warns once, by name."""

from __future__ import annotations

import warnings

import pytest

from mnas import api
from mnas.cli import main
from mnas.errors import MnasWarning
from mnas.ir.precision import infer_bits

CHAIN = """name: chain
input: [8, 8, 8]
layers:
  - {name: sign, op: sign}
  - {name: max, op: maxpool, kernel: 2}
  - {name: shuffle, op: channel_shuffle, groups: 2}
  - {name: rsign, op: rsign, inputs: [input]}
  - {name: rmax, op: maxpool, kernel: 2}
  - {name: cat, op: concat, inputs: [shuffle, rmax]}
  - {name: drop, op: dropout}
  - {name: mixed, op: concat, inputs: [drop, input_pool]}
  - {name: input_pool, op: maxpool, kernel: 2, inputs: [input]}
  - {name: avg, op: avgpool, kernel: 2, inputs: [sign]}
  - {name: add, op: add, inputs: [sign, sign]}
  - {name: flat, op: flatten, inputs: [cat]}
"""

# 16 channels at 8x8, 3x3: 16 * 16 * 9 * 64 MACs each
MACS = 16 * 16 * 9 * 64
REAL_INPUT = """name: bwn
input: [3, 8, 8]
layers:
  - {name: conv, op: conv2d, out: 16, kernel: 3}
  - {name: bn, op: batchnorm}
  - {name: bconv, op: conv2d, binary: true, out: 16, kernel: 3}
  - {name: sign, op: sign}
  - {name: bconv2, op: conv2d, binary: true, out: 16, kernel: 3}
  - {name: pool, op: global_avgpool}
  - {name: fc, op: linear, out: 10}
"""


def _spec(tmp_path, text, name="net.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bits_follow_the_ops(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bits = infer_bits(api.graph(_spec(tmp_path, CHAIN)))
    assert bits["input"] == 32
    assert [bits[n] for n in ("sign", "max", "shuffle", "rsign", "rmax", "cat", "drop",
                              "flat")] == [1] * 8
    # a 32-bit input anywhere makes a concat 32-bit; averages and sums are 32-bit
    assert [bits[n] for n in ("input_pool", "mixed", "avg", "add")] == [32] * 4


def test_binary_conv_on_a_real_input_counts_32_bit_macs(tmp_path):
    path = _spec(tmp_path, REAL_INPUT)
    with pytest.warns(MnasWarning) as caught:
        report = api.cost(path)
    rows = {layer.name: layer for layer in report.layers}
    # 'bconv' multiplies BN's 32-bit output by +-1 weights: 32-bit MACs, 1-bit weights
    assert (rows["bconv"].bops, rows["bconv"].flops) == (0, MACS)
    assert rows["bconv"].binary_params == 16 * 16 * 9 and rows["bconv"].precision == "float"
    # behind a sign, the same conv is binary
    assert (rows["bconv2"].bops, rows["bconv2"].flops) == (MACS, 0)
    assert rows["bconv2"].precision == "binary"
    assert report.totals.bops == MACS
    assert report.totals.flops == 3 * 16 * 9 * 64 + MACS
    assert report.real_input_binary == ("bconv",)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "'bconv'" in messages[0] and "'bconv2'" not in messages[0]


def test_mnas_cost_warns_once_naming_the_layer(tmp_path, capsys):
    path = _spec(tmp_path, REAL_INPUT)
    assert main(["cost", str(path), "--summary", "--format", "csv"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["mnas cost: warning: binary-weight layer 'bconv' reads a 32-bit input, so "
                   "its MACs are counted as 32-bit FLOPs, not BOPs; put a sign (or rsign) "
                   "before it to make it binary"]


def test_render_does_not_colour_it_binary(tmp_path):
    path = _spec(tmp_path, REAL_INPUT)
    with pytest.warns(MnasWarning):
        layout = api.diagram(path, level="layer")
    assert layout.box_of("bconv").precision == "float"
    assert layout.box_of("bconv2").precision == "binary"


def test_zoo_networks_binarise_every_binary_conv():
    """No bundled network has a binary conv without a sign in front (no warning)."""
    from conftest import NETWORK_SPECS
    with warnings.catch_warnings():
        warnings.simplefilter("error", MnasWarning)
        for path in NETWORK_SPECS:
            assert api.cost(path).real_input_binary == ()
