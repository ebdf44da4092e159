"""`mnas search` as a user runs it: budget errors, the best specs and what they cost."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from tests.conftest import run_cli


def one_line_error(r, text: str) -> None:
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert "Traceback" not in r.stderr
    assert lines[-1].startswith("mnas search: error: ") and text in lines[-1], r.stderr


def test_bad_budget_name_is_a_one_line_error(tmp_path):
    r = run_cli("search", "--budget", "mobilenet-0.7", "--out", tmp_path / "run")
    one_line_error(r, "unknown budget 'mobilenet-0.7' (did you mean 'mobilenet-0.75'?): neither "
                      "a preset (mobilenet-0.25, mobilenet-0.5, mobilenet-0.75, mobilenet-1.0) "
                      "nor a spec file or bundled spec (")
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_missing_budget_and_bad_limits(tmp_path):
    one_line_error(run_cli("search", "--out", tmp_path / "r"), "give a budget name")
    one_line_error(run_cli("search", "--max-ops", "-1", "--out", tmp_path / "r"),
                   "max ops must be positive")


@pytest.mark.slow
def test_search_prints_feasible_candidates_and_writes_specs_that_cost_back(tmp_path):
    out = tmp_path / "run"
    r = run_cli("search", "--budget", "mobilenet-0.75", "--trials", "60", "--out", out,
                "--study", "s", "--no-progress", "--format", "json", "--top", "3")
    assert r.returncode == 0, r.stderr
    assert "budget mobilenet-0.75: OPs <= 3.2463e+08" in r.stderr
    assert "size <= 9.8631 MiB" in r.stderr
    result = json.loads(r.stdout)
    assert result["budget"]["ops"] == 324632448.0
    best = result["best"]
    assert [b["rank"] for b in best] == [1, 2, 3]
    assert best[0]["proxy_top1"] >= best[1]["proxy_top1"] >= best[2]["proxy_top1"]
    manifest = json.loads((out / "best.json").read_text())
    assert [(c["rank"], c["spec"]) for c in manifest["candidates"]] == \
        [(b["rank"], b["spec"]) for b in best]
    moved = tmp_path / "elsewhere"          # the specs need nothing from the checkout
    shutil.copytree(out, moved)
    names = set()
    for b, entry in zip(best, manifest["candidates"]):
        assert b["ops"] <= 324632448.0 and b["size_mib"] <= 9.863128662109375
        assert b["%ops"] <= 100 and b["%size"] <= 100
        assert b["spec"] == f"best-{b['rank']}-t{b['trial']}.yaml"
        text = (moved / b["spec"]).read_text()
        assert "block: meliusnet" in text and "include:" not in text
        names.add([line for line in text.splitlines() if line.startswith("name:")][0])
        c = run_cli("cost", moved / b["spec"], "--summary", "--format", "json")
        assert c.returncode == 0, c.stderr
        (cost,) = json.loads(c.stdout)
        totals = cost["totals"]
        assert totals["ops"] == b["ops"] == entry["cost"]["ops"]
        assert round(totals["size_mib"], 4) == b["size_mib"]
        assert totals["bops"] == entry["cost"]["bops"]
    assert len(names) == 3                  # named by candidate, not all after the base spec
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 60 and {r["state"] for r in rows} == {"COMPLETE"}
    feasible = [r for r in rows if r["feasible"] == "True"]
    assert max(float(r["proxy_top1"]) for r in feasible) == pytest.approx(best[0]["proxy_top1"],
                                                                           abs=1e-4)
    assert all(float(r["ops"]) <= 324632448.0 and float(r["size_mib"]) <= 9.863128662109375
               for r in feasible)
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_space_without_feasible_candidate_is_an_error(tmp_path):
    r = run_cli("search", "--budget", "mobilenet-0.25", "--trials", "5", "--out", tmp_path / "r",
                "--no-plot", "--no-progress")
    one_line_error(r, "no candidate fits budget 'mobilenet-0.25'")
    assert "the smallest seen: OPs" in r.stderr
    assert (tmp_path / "r" / "trials.csv").exists()


def test_proxy_search_does_not_import_torch(tmp_path):
    code = ("import sys; from mnas.cli import main; "
            f"rc = main(['search', '--budget', 'mobilenet-1.0', '--trials', '25', '--out', "
            f"{str(tmp_path / 'r')!r}, '--no-progress', '--format', 'csv']); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    import subprocess
    import sys
    from tests.conftest import ROOT
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
