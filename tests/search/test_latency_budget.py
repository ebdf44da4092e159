"""A latency budget: `mnas search --max-latency-ms MS --latency-table FILE` rejects the
candidates whose milliseconds under the table exceed MS. The table here is written by hand:
1e-6 ms per binary MAC and nothing for any other layer, so a candidate's latency is its
BOPs / 1e6, known without the code under test."""

from __future__ import annotations

import csv
import json

import pytest

from mnas.cost.budgets import resolve_budget
from mnas.cost.latency import LatencyError
from mnas.errors import BudgetError
from mnas.search.run import prepare, run_search
from mnas.search.worker import Worker

from conftest import ROOT, run_cli
from hand_counts import MELIUSNET42, mobilenet_ops
from study_helpers import load_trials

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


def test_latency_budget_carries_its_limit_table_and_convention(tmp_path):
    table = str(write_table(tmp_path / "t.json"))
    alone = resolve_budget(max_latency_ms=0.5, latency_table=table)          # below 1 ms
    assert (alone.name, alone.ops, alone.size_mib, alone.latency_ms, alone.latency_table) == \
        ("latency0.5ms", None, None, 0.5, table)
    assert alone.source == f"latency table {table}"
    with pytest.raises(BudgetError, match="max latency must be positive, got 0"):
        resolve_budget(max_latency_ms=0, latency_table=table)
    added = resolve_budget("mobilenet-0.5", max_latency_ms=5.0, latency_table=table,
                           convention="larq")
    assert (added.name, added.ops, added.convention, added.latency_table) == \
        ("mobilenet-0.5+latency5ms", mobilenet_ops(0.5, "larq"), "larq", table)


def test_a_bad_latency_table_fails_when_the_budget_is_made(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(LatencyError, match=f"latency table {bad}: not a mnas-latency/1 file"):
        resolve_budget(max_latency_ms=5.0, latency_table=str(bad))


def test_the_sampler_screens_by_latency(config, tmp_path):
    """MeliusNet42 has 9,692,798,976 BOPs (Table 1), so 9,692.798976 ms under the table with
    either stem: within a 10 s limit its excess is 0, over a 5 s limit it is 9692.8/5000 - 1."""
    space = tmp_path / "stem.yaml"
    space.write_text(f"base: {ROOT / 'specs' / 'meliusnet42.yaml'}\n"
                     "dimensions:\n  stem: {choices: [grouped, imagenet]}\n")
    table = str(write_table(tmp_path / "t.json"))
    ms = MELIUSNET42["bops"] * MS_PER_BINARY_MAC
    for limit, excess, study in ((10_000.0, 0.0, "within"), (5_000.0, ms / 5_000 - 1, "over")):
        cfg, _, _ = prepare(config(space=str(space), sampler="random", study=study,
                                   budget=resolve_budget(max_latency_ms=limit,
                                                         latency_table=table)))
        worker = Worker(cfg)
        for stem in ("grouped", "imagenet"):
            new, got = worker.judge({"stem": stem})
            assert new and got == pytest.approx(excess, rel=1e-12, abs=0), (limit, stem)


def test_each_trial_records_its_latency_constraint(config, tmp_path):
    """Against a 5 s limit MeliusNet42 (9,692.798976 ms) records (9692.8 - 5000) / 5000."""
    space = tmp_path / "stem.yaml"
    space.write_text(f"base: {ROOT / 'specs' / 'meliusnet42.yaml'}\n"
                     "dimensions:\n  stem: {choices: [grouped, imagenet]}\n")
    table = str(write_table(tmp_path / "t.json"))
    ms = MELIUSNET42["bops"] * MS_PER_BINARY_MAC
    run, _ = run_search(config(trials=2, space=str(space), sampler="random", seed=0,
                               budget=resolve_budget(max_latency_ms=5_000.0,
                                                     latency_table=table)))
    trials = load_trials(run.config)
    assert len(trials) == 2
    for t in trials:
        assert t.constraints == {"latency": pytest.approx((ms - 5_000) / 5_000, rel=1e-12)}
