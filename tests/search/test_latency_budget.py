"""A latency budget: `mnas search --max-latency-ms MS --latency-table FILE` rejects the
candidates whose milliseconds under the table exceed MS. The table here is written by hand:
1e-6 ms per binary MAC and nothing for any other layer, so a candidate's latency is its
BOPs / 1e6, known without the code under test."""

from __future__ import annotations

import csv
import json

import pytest

from mnas.cost.budgets import resolve_budget
from mnas.errors import BudgetError

from conftest import ROOT, run_cli

MS_PER_BINARY_MAC = 1e-6


def write_table(path):
    rows = [("binary-conv", "conv2d", "binary", 10 ** 6, 10 ** 6 * MS_PER_BINARY_MAC),
            ("float-conv", "conv2d", "float", 1, 0.0), ("relu", "relu", "-", 1, 0.0)]
    path.write_text(json.dumps({
        "format": "mnas-latency/1", "network": "hand-written", "threads": 1, "batch": 1,
        "machine": {"cpu": "none", "kernels": "none"},
        "layers": [{"key": k, "op": op, "precision": p, "work": w, "ms": ms}
                   for k, op, p, w, ms in rows]}))
    return path


@pytest.mark.slow  # a search of 24 trials in a fresh interpreter
def test_latency_budget_search_on_a_small_space(tmp_path):
    table = write_table(tmp_path / "latency.json")
    space = tmp_path / "space.yaml"
    space.write_text(f"description: stages of a small MeliusNet\n"
                     f"base: {ROOT / 'specs' / 'meliusnet-cifar.yaml'}\n"
                     "dimensions:\n  stages:\n" + "    - {low: 1, high: 4}\n" * 3)
    limit = 20.0      # ms: 2e7 binary MACs; the base network (stages 2,2,2) has 2.83e7
    out = tmp_path / "run"
    done = run_cli("search", "--space", space, "--max-latency-ms", limit, "--latency-table",
                   table, "--trials", "24", "--out", out, "--study", "lat", "--no-progress",
                   "--no-plot", "--format", "json", "--top", "3")
    assert done.returncode == 0, done.stderr
    assert f"latency <= 20 ms by {table}" in done.stderr
    with open(out / "trials.csv") as f:
        trials = [r for r in csv.DictReader(f) if r["state"] == "COMPLETE"]
    fits = [r for r in trials if int(r["bops"]) * MS_PER_BINARY_MAC <= limit]
    assert fits and len(fits) < len(trials)
    for r in trials:
        assert float(r["latency_ms"]) == pytest.approx(int(r["bops"]) * MS_PER_BINARY_MAC,
                                                       rel=1e-9)
        assert (r["feasible"] == "True") == (r in fits), r["number"]
    result = json.loads(done.stdout)
    assert result["budget"]["latency_ms"] == limit and result["budget"]["ops"] is None
    best = result["best"]
    assert best and all(b["latency_ms"] <= limit for b in best)
    best_proxy = max(float(r["proxy_top1"]) for r in fits)
    assert best[0]["proxy_top1"] == pytest.approx(best_proxy, abs=1e-4)
    assert max(float(r["proxy_top1"]) for r in trials) > best_proxy   # the limit bound


def test_latency_limits_need_their_table(tmp_path):
    with pytest.raises(BudgetError, match="--max-latency-ms and --latency-table go together"):
        resolve_budget(max_latency_ms=5.0)
    with pytest.raises(BudgetError, match="max latency must be positive, got -1"):
        resolve_budget(max_latency_ms=-1, latency_table=str(write_table(tmp_path / "t.json")))
    done = run_cli("search", "--max-latency-ms", "5", "--latency-table", tmp_path / "no.json",
                   "--out", tmp_path / "r")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(
        f"mnas search: error: latency table {tmp_path / 'no.json'}: no such file")
    budget = resolve_budget("mobilenet-0.75", max_latency_ms=5.0,
                            latency_table=str(tmp_path / "t.json"))
    assert budget.ops == resolve_budget("mobilenet-0.75").ops and budget.latency_ms == 5.0
    assert budget.fits(budget.ops, budget.size_mib, 5.0)
    assert not budget.fits(budget.ops, budget.size_mib, 5.01)
    assert not budget.fits(budget.ops, budget.size_mib, None)
