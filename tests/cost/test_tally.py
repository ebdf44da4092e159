"""The cost model's arithmetic on its own: how a convention turns counts into figures, how
tallies of layers add up, how OPs print, and how the real-input warning reads. Every expected
value is a hand count of the literal counts given."""

from __future__ import annotations

import json
import warnings

import pytest

from mnas.cost.conventions import LARQ, PAPER, Convention, get_convention
from mnas.cost.model import Figures, Tally, apply_convention, cost_graph, op_count, totals
from mnas.errors import MnasWarning
from mnas.ops.registry import Counts
from mnas.spec.expand import build_graph
from mnas.spec.load import load_spec

BODY = Counts(binary_macs=640, float_macs=30, binary_params=64, float_params=7,
              norm_params=6, norm_channels=4)
HEAD = Counts(float_macs=200, float_params=210, norm_params=2, norm_channels=1)


def test_a_classifier_left_out_of_ops_keeps_its_parameters_and_norm():
    """Paper: the classifier's MACs are no ops, but its 210 weights and its norm (1 channel at
    2 values) stay in the size; Larq counts its 200 MACs as FLOPs."""
    assert apply_convention(HEAD, True, PAPER) == Figures(0, 0, 0, 212)
    assert apply_convention(HEAD, True, LARQ) == Figures(0, 200, 0, 212)
    assert apply_convention(BODY, False, PAPER) == Figures(640, 30, 64, 7 + 4 * 2)
    learned = Convention(name="learned", description="norm as counted",
                         bn_params_per_channel=None)
    assert apply_convention(BODY, False, learned) == Figures(640, 30, 64, 7 + 6)


def test_tallies_keep_body_and_classifier_apart_whatever_the_order():
    t = Tally().add(HEAD, True).add(BODY, False).add(BODY, False)
    assert t == Tally(BODY + BODY, HEAD)
    both = t + Tally(BODY, HEAD)
    assert both.layers == Counts(1920, 90, 192, 21, 18, 12)
    assert both.fc == Counts(0, 400, 0, 420, 4, 2)


def test_totals_of_a_tally_by_hand():
    """Paper: body 640 BOPs + 30 FLOPs (classifier not counted): 640/64 + 30 = 40 OPs;
    64 binary and 7 + 8 + 210 + 2 = 227 float parameters: 64 + 227 * 32 bits."""
    t = totals(Tally(BODY, HEAD), "paper")
    assert (t.bops, t.flops, t.ops, t.macs) == (640, 30, 40, 640 + 30 + 200)
    assert (t.params, t.binary_params, t.float_params) == (291, 64, 227)
    assert t.size_bits == 64 + 227 * 32
    assert t.size_mib == (64 + 227 * 32) / 8 / 2 ** 20
    larq = totals(Tally(BODY, HEAD), "larq")
    assert (larq.bops, larq.flops, larq.ops) == (640, 230, 240)


@pytest.mark.parametrize("bops,flops,expected", [
    (640, 30, 40), (100, 3, 4.5625), (1, 0, 0.015625), (0, 0, 0)])
def test_ops_are_an_integer_only_when_whole(bops, flops, expected):
    ops = op_count(bops, flops, PAPER)
    assert ops == expected and type(ops) is type(expected)


def _graph(tmp_path, n: int):
    body = "".join(f"  - {{name: c{i}, op: conv2d, binary: true, out: 4, kernel: 1, "
                   f"inputs: [input]}}\n" for i in range(n))
    tail = (f"  - {{name: cat, op: concat, inputs: [{', '.join(f'c{i}' for i in range(n))}]}}\n"
            if n > 1 else "")
    path = tmp_path / f"n{n}.yaml"
    path.write_text(f"name: n{n}\ninput: [4, 2, 2]\nlayers:\n" + body + tail)
    return build_graph(load_spec(path))


@pytest.mark.parametrize("n,named", [
    (1, "'c0'"),
    (2, "'c0' (and 1 more: c1)"),
    (4, "'c0' (and 3 more: c1, c2, c3)"),
    (5, "'c0' (and 4 more: c1, c2, c3, ...)"),
])
def test_real_input_warning_names_the_layers_and_points_at_the_caller(tmp_path, n, named):
    graph = _graph(tmp_path, n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = cost_graph(graph)
    assert [type(c.message) for c in caught] == [MnasWarning]
    assert str(caught[0].message) == (
        f"binary-weight layer {named} reads a 32-bit input, so its MACs are counted as "
        "32-bit FLOPs, not BOPs; put a sign (or rsign) before it to make it binary")
    assert caught[0].filename == __file__
    assert report.real_input_binary == tuple(f"c{i}" for i in range(n))
    assert (report.totals.bops, report.totals.flops) == (0, n * 4 * 4 * 4)


def test_a_measured_convention_is_named_by_its_table(tmp_path):
    """`measured:FILE` keeps the paper's counting and records the file in its name."""
    path = tmp_path / "t.json"
    path.write_text(json.dumps({
        "format": "mnas-latency/1", "network": "hand-written", "threads": 1, "batch": 1,
        "machine": {"cpu": "none", "kernels": "none"},
        "layers": [{"key": "binary-conv", "op": "conv2d", "precision": "binary",
                    "work": 10 ** 6, "ms": 1.0}]}))
    conv = get_convention(f"measured:{path}")
    assert conv.name == f"measured:{path}"
    assert conv.latency.path == str(path) and conv.latency.network == "hand-written"
    assert (conv.fc_in_ops, conv.bn_params_per_channel, conv.binary_speedup) == (False, 2, 64)
