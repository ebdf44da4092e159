"""analysis/paper_tables.py reproduces the paper's Tables 1, 2 and 4: every printed figure
agrees with the cost model at printed precision, or is a truncation / erratum that
shared/paper/FACTS.md lists; its committed output (README.md) is current."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from conftest import NETWORK_SPECS, ROOT

SCRIPT = ROOT / "analysis" / "paper_tables.py"
# the paper's networks are ImageNet ones (specs/meliusnet-cifar.yaml is not)
IMAGENET_SPECS = [p for p in NETWORK_SPECS if "input: [3, 224, 224]" in p.read_text()]


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("paper_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["paper_tables"] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("paper_tables", None)


@pytest.fixture(scope="module")
def checks(tables):
    return tables.check_all()


def test_every_printed_figure_agrees_or_is_a_listed_exception(checks):
    bad = [(c.figure.table, c.figure.row, c.figure.quantity, c.figure.text, c.verdict)
           for c in checks if c.status not in ("rounded", "truncated", "erratum")]
    assert not bad


def test_listed_exceptions_are_needed_and_honoured(checks):
    """A figure FACTS.md lists as truncated must not round to its printed text (else the
    listing is stale), and it must agree truncated; an erratum must match the correction."""
    for c in checks:
        listed = c.figure.listed
        if listed is None:
            assert c.status == "rounded", c
        else:
            assert c.status == listed.kind, c


def test_tables_cover_the_networks_the_paper_prints(tables, checks):
    table1 = {c.figure.spec for c in checks if c.figure.table == "Table 1"}
    assert table1 == {p.name for p in IMAGENET_SPECS if p.name.startswith("meliusnet")}
    quantities = [c.figure.quantity for c in checks if c.figure.table == "Table 1"]
    assert all(quantities.count(q) == len(table1) for q in ("bops", "flops", "ops", "size"))
    table2 = {}
    for c in checks:
        if c.figure.table == "Table 2":
            table2.setdefault(c.figure.row, set()).add(c.figure.stem)
    assert set(table2) == {"ResNetE18", "BinaryDenseNet28", "MeliusNet22", "Bi-RealNet34",
                           "BinaryDenseNet37", "MeliusNet29"}
    assert all(stems == {"imagenet", "grouped"} for stems in table2.values())
    table4 = [c for c in checks if c.figure.table == "Table 4"]
    assert {c.figure.row for c in table4 if c.figure.spec == "mobilenet_v1.yaml"} == \
        {"MobileNet-v1 0.5", "MobileNet-v1 0.75", "MobileNet-v1 1.0"}


def test_agreement_rule(tables):
    assert tables.at_precision(1.35876, "1.35") == "1.36"
    assert tables.at_precision(1.35876, "1.35", tables.ROUND_DOWN) == "1.35"
    assert tables.at_precision(18.316, "18.3") == "18.3"
    assert tables.at_precision(9.863, "10") == "10"


def test_plot_covers_every_spec_with_both_stems_for_binary_networks(tables):
    points = tables.plot_points()
    names = {p["spec"] for p in points}
    assert names == {p.name for p in IMAGENET_SPECS}
    for spec in names:
        pts = [p for p in points if p["spec"] == spec]
        assert sum(p["default"] for p in pts) == 1
        if spec.startswith(tables.LATER):  # ReActNet, QuickNet, Real-to-Binary: their own stem
            assert [p["stem"] for p in pts] == [None]
        elif pts[0]["binary"]:
            assert {p["stem"] for p in pts} == {"imagenet", "grouped"}


def test_rerun_reproduces_the_committed_readme_and_plot(tables, tmp_path, capsys):
    assert tables.main(["--out", str(tmp_path)]) == 0
    fresh = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert fresh == (ROOT / "analysis" / "README.md").read_text(encoding="utf-8"), \
        "analysis/README.md is stale: rerun python analysis/paper_tables.py"
    png = (tmp_path / "ops_vs_size.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert (ROOT / "analysis" / "ops_vs_size.png").exists()
    assert "0 disagree" in capsys.readouterr().out
