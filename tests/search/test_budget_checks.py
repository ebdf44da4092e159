"""Budgets hold whatever the sampler: every candidate reported, and every trial marked
feasible, fits limits computed here independently of mnas (MobileNet-v1 counted by hand from
its paper's layer table, the MeliusNet paper's printed figures); a spec is a budget too."""

from __future__ import annotations

import csv
import json

import pytest

from tests.conftest import ROOT, run_cli


def mobilenet_v1(width: float) -> tuple[int, int, int]:
    """MACs without the FC layer, the FC layer's MACs, and parameters (BatchNorm: 2 per
    channel, no conv biases) of MobileNet-v1 at `width`, 224x224, from Table 1 of its paper."""
    body = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + \
        [(1024, 2), (1024, 1)]
    c, hw = int(32 * width), 112
    macs, params = 3 * 3 * 3 * c * hw * hw, 3 * 3 * 3 * c + 2 * c
    for out, stride in body:
        o = int(out * width)
        hw //= stride
        macs += 9 * c * hw * hw + c * o * hw * hw               # depthwise 3x3 + pointwise 1x1
        params += 9 * c + 2 * c + c * o + 2 * o
        c = o
    return macs, c * 1000, params + c * 1000 + 1000


def test_the_hand_count_gives_mobilenets_published_figures():
    for width, mult_adds, params in ((0.5, 149, 1.3), (0.75, 325, 2.6), (1.0, 569, 4.2)):
        body, fc, p = mobilenet_v1(width)
        assert round((body + fc) / 1e6) == mult_adds and round(p / 1e6, 1) == params


@pytest.mark.slow
def test_tpe_reports_only_candidates_within_the_hand_counted_budget(tmp_path):
    """Optuna's TPE (no screening) spends trials over budget: the constraints each trial
    records are all that keeps them out of the results."""
    body, _, params = mobilenet_v1(0.5)
    ops_limit, size_limit = body, params * 32 / 8 / 2**20          # paper: FC MACs not counted
    out = tmp_path / "run"
    r = run_cli("search", "--budget", "mobilenet-0.5", "--sampler", "tpe", "--trials", "80",
                "--top", "20", "--out", out, "--no-plot", "--no-progress", "--format", "json")
    assert r.returncode == 0, r.stderr
    best = json.loads(r.stdout)["best"]
    assert len(best) >= 5
    for b in best:
        assert b["ops"] <= ops_limit and b["size_mib"] <= size_limit, b
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    fits = [float(r["ops"]) <= ops_limit and float(r["size_mib"]) <= size_limit for r in rows]
    assert [r["feasible"] == "True" for r in rows] == fits
    assert 0 < sum(fits) < len(rows) - 10                  # TPE did go over budget


GROUPS = "dimensions:\n  groups: {choices: [1, 2]}\n"


@pytest.mark.parametrize("limit", [["--max-ops", "3.24e8"], ["--max-size-mib", "10.0"]])
def test_meliusnet42_just_over_a_limit_is_never_feasible(tmp_path, limit):
    """The paper prints MeliusNet42 at 3.25e8 OPs and 10.1 MB (Table 1): at least 3.245e8 and
    10.05, so over 3.24e8 OPs and over 10.0 MiB, by less than 1% and by about 1%. Its variant
    with 2-group transitions costs less and fits; the space holds just these two."""
    space = tmp_path / "space.yaml"
    space.write_text(f"base: {ROOT / 'specs' / 'meliusnet42.yaml'}\n{GROUPS}")
    out = tmp_path / "run"
    r = run_cli("search", *limit, "--space", space, "--sampler", "tpe", "--trials", "5",
                "--out", out, "--no-plot", "--no-progress", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert "stopped after 2 of 5 trials: every network of the space (2) is in the study" in r.stderr
    best = json.loads(r.stdout)["best"]
    assert [b["groups"] for b in best] == ["2"]
    with open(out / "trials.csv") as f:
        rows = {r["groups"]: r["feasible"] for r in csv.DictReader(f)}
    assert rows == {"1": "False", "2": "True"}


def test_a_spec_is_a_budget(tmp_path):
    """`--budget resnete18`: the paper gives ResNetE18 1.63e8 OPs (Table 2)."""
    out = tmp_path / "run"
    r = run_cli("search", "--budget", "resnete18", "--trials", "30", "--out", out, "--no-plot",
                "--no-progress", "--format", "json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    budget = result["budget"]
    assert budget["name"] == "resnete18" and round(budget["ops"] / 1e6) == 163
    assert "from specs/resnete18.yaml" in r.stderr
    assert result["best"] and all(b["ops"] <= 1.635e8 and b["ops"] <= budget["ops"]
                                  for b in result["best"])
    assert result["study"] == "meliusnet-resnete18-proxy"
