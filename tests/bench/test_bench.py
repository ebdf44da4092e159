"""`mnas bench` and latency tables: the measured network runs binary layers on the kernels
with the float simulation's outputs; its table costs the network back to the sum of its
measured layers, and estimates unmeasured layers from the measured rates."""

from __future__ import annotations

import json
import math
import statistics

import pytest

from mnas import api
from mnas.cost.conventions import get_convention
from mnas.cost.latency import LatencyError, layer_key
from mnas.cost.model import cost_graph
from mnas.errors import MnasError
from mnas.ir.shapes import infer_shapes

from conftest import ROOT, run_cli

CIFAR = ROOT / "specs" / "meliusnet-cifar.yaml"
ALL_OPS = ROOT / "tests" / "lower" / "data" / "all_ops.yaml"


@pytest.fixture(scope="module")
def cifar_table(tmp_path_factory):
    """`mnas bench` on the small MeliusNet, as a user runs it (one round: fast, noisy)."""
    out = tmp_path_factory.mktemp("bench") / "cifar.json"
    done = run_cli("bench", CIFAR, "--rounds", "1", "--format", "csv", "-o", out,
                   "--no-progress")
    assert done.returncode == 0, done.stderr
    return out, done


def test_bench_runs_binary_layers_on_the_kernels_with_identical_outputs(cifar_table):
    path, done = cifar_table
    table = json.loads(path.read_text())
    graph = api.graph(CIFAR)
    assert table["identical_outputs"] is True
    assert "Outputs identical" in done.stderr
    assert [row["name"] for row in table["layers"]] == [n.name for n in graph.nodes[1:]]
    for row, node in zip(table["layers"], graph.nodes[1:]):
        binary = bool(getattr(node.params, "binary", False))
        packs = node.op == "sign"          # every sign here feeds one binary conv
        assert row["runs_on"] == ("kernels" if binary or packs else "torch"), row["name"]
        assert row["ms"] > 0 and row["float_ms"] > 0
        if row["runs_on"] == "torch":      # the same module in both forms: timed once
            assert row["ms"] == row["float_ms"]
    header = done.stdout.splitlines()[0].split(",")
    assert header[:3] == ["stage", "name", "op"] and "speedup" in header
    assert table["threads"] == 1 and table["batch"] == 1


def test_measured_convention_costs_the_benched_network_to_its_measured_layers(cifar_table):
    """Each layer costs the median of the measured layers doing the same work (same key)."""
    path, _ = cifar_table
    rows = json.loads(path.read_text())["layers"]
    same: dict[str, list[float]] = {}
    for row in rows:
        same.setdefault(row["key"], []).append(row["ms"])
    assert any(len(v) > 1 for v in same.values())        # e.g. equal BatchNorms
    expected = {row["name"]: statistics.median(same[row["key"]]) for row in rows}
    report = cost_graph(api.graph(CIFAR), f"measured:{path}")
    by_name = {layer.name: layer.ops for layer in report.layers}
    for row in rows:
        assert by_name[row["name"]] == expected[row["name"]], row["name"]
    assert report.totals.ops == pytest.approx(sum(expected.values()), rel=1e-12)
    assert report.totals.bops == cost_graph(api.graph(CIFAR)).totals.bops  # counts unchanged


def test_unmeasured_layers_are_estimated_from_the_measured_rate(cifar_table):
    path, _ = cifar_table
    rows = json.loads(path.read_text())["layers"]
    deeper = api.graph(CIFAR, {"stages": [3, 2, 2]})   # 64 channels at 32x32: new
    shapes = infer_shapes(deeper)
    node = deeper["stage1.unit3.improvement.binconv.conv"]
    key = layer_key(node.op, node.params, tuple(shapes[i] for i in node.inputs),
                    shapes[node.name])
    assert key not in {row["key"] for row in rows}
    same = [r for r in rows if r["op"] == "conv2d" and r["precision"] == "binary"]
    rate = sum(r["ms"] for r in same) / sum(r["work"] for r in same)
    macs = math.prod(shapes[node.name]) * shapes[node.inputs[0]][0] * 9   # hand count
    layers = {l.name: l for l in cost_graph(deeper, f"measured:{path}").layers}
    assert layers[node.name].macs == macs
    assert layers[node.name].ops == pytest.approx(rate * macs, rel=1e-12)
    # a layer without MACs: per output element, from the same op (not all float layers)
    bn = deeper["stage1.unit3.improvement.binconv.bn"]
    norms = [r for r in rows if r["op"] == "batchnorm"]
    assert {r["precision"] for r in rows if r["op"] == "conv2d"} >= {"float"}
    per_element = sum(r["ms"] for r in norms) / sum(r["work"] for r in norms)
    assert layers[bn.name].ops == pytest.approx(per_element * 64 * 32 * 32, rel=1e-12)


def test_bad_tables_and_options_are_one_line_errors(tmp_path, cifar_table):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else"}))
    for name, text in (("missing.json", "no such file"), ("bad.json", "not JSON"),
                       ("other.json", "not a mnas-latency/1 file")):
        with pytest.raises(LatencyError, match=text):
            get_convention(f"measured:{tmp_path / name}")
    done = run_cli("cost", CIFAR, "--convention", f"measured:{tmp_path / 'bad.json'}")
    assert done.returncode == 1 and done.stderr.startswith("mnas cost: error: latency table")
    assert len(done.stderr.strip().splitlines()) == 1
    table = json.loads(cifar_table[0].read_text())
    table["layers"] = [r for r in table["layers"] if r["precision"] != "binary"]
    (tmp_path / "nobinary.json").write_text(json.dumps(table))
    with pytest.raises(MnasError, match="has no binary layer to estimate a 'conv2d' layer"):
        cost_graph(api.graph(CIFAR), f"measured:{tmp_path / 'nobinary.json'}")
    done = run_cli("bench", CIFAR, "--threads", "0", "-o", tmp_path / "t.json")
    assert done.returncode == 1 and "--threads must be >= 1, got 0" in done.stderr
    assert not (tmp_path / "t.json").exists()


def test_cost_cli_prints_latency_under_the_measured_convention(cifar_table):
    path, _ = cifar_table
    done = run_cli("cost", CIFAR, "--convention", f"measured:{path}")
    assert done.returncode == 0, done.stderr
    total = sum(r["ms"] for r in json.loads(path.read_text())["layers"])
    assert f"latency {total:.3f} ms" in done.stdout
    assert "milliseconds measured by mnas bench (MeliusNet-CIFAR" in done.stdout
