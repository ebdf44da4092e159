"""`mnas budgets` and `mnas compare` in every output format, and their one-line errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli
from mnas.cli import main

from hand_counts import MELIUSNET42_MIB, MELIUSNET42_OPS, mobilenet_mib, mobilenet_ops

FORMATS = ("table", "csv", "json", "markdown")


@pytest.fixture(autouse=True)
def _at_root(monkeypatch):
    """Spec paths below are relative to the repository root, as a user types them."""
    monkeypatch.chdir(ROOT)


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("fmt", FORMATS)
def test_budgets_every_format_lists_every_preset(capsys, fmt):
    rc, out, _ = _run(capsys, "budgets", "--format", fmt)
    assert rc == 0
    for name in ("mobilenet-0.25", "mobilenet-0.5", "mobilenet-0.75", "mobilenet-1.0"):
        assert name in out
    if fmt == "json":
        rows = json.loads(out)
        assert [r["ops"] for r in rows] == [mobilenet_ops(w) for w in (0.25, 0.5, 0.75, 1.0)]
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert float(rows[1]["size_mib"]) == pytest.approx(mobilenet_mib(0.5))
    if fmt in ("table", "markdown"):
        assert "convention 'paper'" in out


def test_budgets_convention_larq_counts_the_classifier(capsys):
    _, out, _ = _run(capsys, "budgets", "--format", "json", "--convention", "larq")
    rows = {r["budget"]: r for r in json.loads(out)}
    assert rows["mobilenet-1.0"]["ops"] == mobilenet_ops(1.0, "larq") == 568_740_352
    assert rows["mobilenet-0.25"]["ops"] == mobilenet_ops(0.25) + 256_000


def test_compare_against_a_budget(capsys):
    rc, out, _ = _run(capsys, "compare", "specs/meliusnet42.yaml", "specs/mobilenet_v1.yaml",
                      "--set", "width=0.75", "--budget", "mobilenet-0.75", "--format", "json")
    assert rc == 0
    rows = {r["network"]: r for r in json.loads(out)}
    mobilenet, melius = rows["MobileNet-v1"], rows["MeliusNet42"]
    assert mobilenet["overrides"] == "width=0.75" and melius["overrides"] == "-"
    assert mobilenet["ops_pct"] == pytest.approx(100) and mobilenet["size_pct"] == pytest.approx(100)
    assert mobilenet["fits"] is True
    # hand counts: MeliusNet42 needs 325,460,352 OPs and 10.10 MiB against MobileNet-0.75's
    # 324,632,448 and 9.863 MiB: 100.26% and 102.4%, so it does not fit (README.md)
    assert melius["ops"] == MELIUSNET42_OPS and melius["size_mib"] == pytest.approx(MELIUSNET42_MIB)
    assert melius["ops_pct"] == pytest.approx(100 * MELIUSNET42_OPS / mobilenet_ops(0.75))
    assert round(melius["ops_pct"], 2) == 100.26 and round(melius["size_pct"], 1) == 102.4
    assert melius["fits"] is False
    assert set(melius) >= {"bops", "flops", "ops", "params", "size_mib"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_compare_every_format_one_row_per_network(capsys, fmt):
    specs = ["specs/resnete18.yaml", "specs/birealnet18.yaml", "specs/binarydensenet28.yaml"]
    rc, out, _ = _run(capsys, "compare", *specs, "--set", "stem=grouped",
                      "--budget", "mobilenet-0.5", "--format", fmt)
    assert rc == 0
    for name in ("ResNetE18", "Bi-RealNet18", "BinaryDenseNet28"):
        assert out.count(name) == 1
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert len(rows) == 3 and {r["overrides"] for r in rows} == {"stem=grouped"}
        assert "ops_pct" in rows[0] and "size_pct" in rows[0]
    if fmt in ("table", "markdown"):
        assert "budget 'mobilenet-0.5'" in out


def test_compare_without_budget_has_no_percentages(capsys):
    _, out, _ = _run(capsys, "compare", "specs/meliusnet22.yaml", "--format", "json")
    row, = json.loads(out)
    assert "ops_pct" not in row and row["network"] == "MeliusNet22"


def test_compare_with_explicit_limits(capsys):
    _, out, _ = _run(capsys, "compare", "specs/meliusnet22.yaml", "--max-ops", "1e9",
                     "--format", "json")
    row, = json.loads(out)
    # MeliusNet22: 208,130,048 OPs (README.md's table; Table 1 prints 2.08e8)
    assert row["ops"] == 208_130_048
    assert row["ops_pct"] == pytest.approx(20.8130048) and row["size_pct"] is None
    assert row["fits"] is True
    _, out, _ = _run(capsys, "compare", "specs/meliusnet22.yaml", "--max-ops", "208130047",
                     "--format", "json")
    row, = json.loads(out)
    assert row["fits"] is False                 # one op over the limit
    _, out, _ = _run(capsys, "compare", "specs/meliusnet22.yaml", "--max-ops", "208130048",
                     "--format", "json")
    row, = json.loads(out)
    assert row["fits"] is True                  # exactly at the limit


@pytest.mark.parametrize("argv,message", [
    (["compare", "specs/meliusnet22.yaml", "--budget", "mobilenet-0.6"],
     "unknown budget 'mobilenet-0.6' (did you mean 'mobilenet-0.5'?)"),
    (["compare", "specs/meliusnet22.yaml", "specs/mobilenet_v1.yaml", "--set", "stm=grouped"],
     "no spec accepts 'stm' (did you mean 'stem'?)"),
    (["compare", "specs/meliusnet22.yaml", "--set", "stem=fancy"], "unknown block 'stem_fancy'"),
    (["compare", "specs/nonexistent.yaml"], "no such file"),
])
def test_compare_errors_are_one_line(argv, message):
    result = run_cli(*argv)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_compare_does_not_import_torch():
    code = ("import sys; from mnas.cli import main; "
            "main(['compare', 'specs/meliusnet22.yaml', '--budget', 'mobilenet-0.5']); "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
