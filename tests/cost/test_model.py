"""Cost model rules: what each op counts and how conventions change the totals."""

from __future__ import annotations

import pytest

from conftest import SPECS
from mnas import api
from mnas.cost.conventions import Convention, get_convention
from mnas.cost.model import cost_graph
from mnas.errors import MnasError
from mnas.spec.expand import build_graph
from mnas.spec.load import load_spec


def tiny(tmp_path, body: str):
    path = tmp_path / "net.yaml"
    path.write_text(body)
    return build_graph(load_spec(path))


NET = """
name: tiny
input: [16, 8, 8]
layers:
  - {name: bn, op: batchnorm}
  - {name: sign, op: sign}
  - {name: bconv, op: conv2d, binary: true, out: 32, kernel: 3}
  - {name: conv, op: conv2d, out: 32, kernel: 1, groups: 4, inputs: [input]}
  - {name: cat, op: concat, inputs: [bconv, conv]}
  - {name: pool, op: global_avgpool}
  - {name: fc, op: linear, out: 10}
"""


def test_layer_counts(tmp_path):
    report = cost_graph(tiny(tmp_path, NET))
    rows = {l.name: l for l in report.layers}
    assert rows["bconv"].bops == 8 * 8 * 32 * 16 * 9
    assert rows["bconv"].binary_params == 32 * 16 * 9 and rows["bconv"].precision == "binary"
    assert rows["conv"].flops == 8 * 8 * 32 * (16 // 4)
    assert rows["bn"].float_params == 2 * 16 and rows["bn"].macs == 0
    assert rows["cat"].shape == (64, 8, 8)
    assert rows["fc"].macs == 640 and rows["fc"].flops == 0 and rows["fc"].params == 650
    t = report.totals
    assert t.bops == rows["bconv"].bops
    assert t.flops == rows["conv"].flops
    assert t.ops == t.bops / 64 + t.flops
    assert t.size_bits == t.binary_params + 32 * t.float_params
    assert t.size_mib == t.size_bits / 8 / 2 ** 20


def test_larq_convention_counts_fc(tmp_path):
    g = tiny(tmp_path, NET)
    paper, larq = cost_graph(g, "paper").totals, cost_graph(g, "larq").totals
    assert larq.flops - paper.flops == 640
    assert larq.size_bits == paper.size_bits


def test_custom_convention_fields(tmp_path):
    g = tiny(tmp_path, NET)
    conv = Convention("x", "test", binary_speedup=32, bn_params_per_channel=4, mb_bytes=10 ** 6)
    t = cost_graph(g, conv).totals
    base = cost_graph(g).totals
    assert t.ops == t.bops / 32 + t.flops
    assert t.float_params == base.float_params + 2 * 16
    assert t.size_mib == t.size_bits / 8 / 1e6
    assert conv.size_unit == "MB"


def test_unknown_convention():
    with pytest.raises(MnasError, match="unknown convention 'papr'.*did you mean 'paper'"):
        get_convention("papr")


def test_rollups_sum_to_totals():
    report = api.cost(SPECS / "meliusnet29.yaml")
    for by in ("block", "stage"):
        df = report.rollup(by)
        assert df["bops"].sum() == report.totals.bops
        assert df["flops"].sum() == report.totals.flops
        assert df["params"].sum() == report.totals.params
    stages = list(report.rollup("stage")["stage"])
    assert stages == ["input", "stem", "stage1", "stage2", "stage3", "stage4", "head"]


def test_shuffle_only_in_grouped_transitions():
    plain = api.graph(SPECS / "meliusnet22.yaml")
    grouped = api.graph(SPECS / "meliusneta.yaml")
    assert not [n for n in plain.nodes if n.op == "channel_shuffle"]
    shuffles = [n for n in grouped.nodes if n.op == "channel_shuffle"]
    assert len(shuffles) == 3 and all(n.params.groups == 16 for n in shuffles)


def test_reduction_gives_multiple_of_32_widths():
    """A reduction r gives width round(C / r / 32) * 32, half rounding up (FACTS.md).
    MeliusNet22 with r = 2 everywhere: 320 -> 160; 160 + 5*64 = 480 -> 7.5*32 -> 256;
    256 + 4*64 = 512 -> 256."""
    report = api.cost(SPECS / "meliusnet22.yaml", {"transitions": None,
                                                    "reductions": [2.0, 2.0, 2.0]})
    widths = [l.shape[0] for l in report.layers if l.name.endswith("transition.conv")]
    assert widths == [160, 256, 256]


def test_cost_is_deterministic_and_torch_free():
    """Two processes with different hash seeds, each costing twice, print the same layers and
    totals (README.md's MeliusNet59 figures), and neither imports torch."""
    import os
    import subprocess
    import sys
    code = ("import sys, json; from dataclasses import asdict; from mnas import api\n"
            "a, b = (api.cost('specs/meliusnet59.yaml') for _ in range(2))\n"
            "assert a == b\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "print(json.dumps([asdict(a.totals), [asdict(l) for l in a.layers]]))")
    runs = []
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=SPECS.parent, env={**os.environ, "PYTHONHASHSEED": seed})
        assert out.returncode == 0, out.stderr
        runs.append(out.stdout)
    assert runs[0] == runs[1]
    import json
    totals, layers = json.loads(runs[0])
    assert (totals["bops"], totals["flops"], totals["params"]) == \
        (18_316_247_040, 245_762_048, 55_555_336)
    assert len(layers) == len(api.graph(SPECS / "meliusnet59.yaml").nodes)
