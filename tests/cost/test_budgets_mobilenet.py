"""Budgets are MobileNet-v1 costed by the cost model; the MobileNet paper's own figures must
come out of it (Howard et al. 2017, Table 6: width multiplier 1.0/0.75/0.5/0.25 at 224x224)."""

from __future__ import annotations

import pytest

from mnas import api
from mnas.cost.budgets import PRESETS, SPECS_DIR, all_budgets, preset_budget, resolve_budget
from mnas.errors import BudgetError
from mnas.spec.expr import round_half_up

# MobileNet paper, Table 6: (million mult-adds incl. the FC layer, million parameters), as printed
PRINTED = {0.25: ("41", "0.5"), 0.5: ("149", "1.3"), 0.75: ("325", "2.6"), 1.0: ("569", "4.2")}


def _at(value: float, printed: str) -> str:
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return f"{round_half_up(value, decimals):.{decimals}f}"


@pytest.mark.parametrize("width", sorted(PRINTED))
def test_mobilenet_mult_adds_and_params_match_the_mobilenet_paper(width):
    mult_adds, params = PRINTED[width]
    report = api.cost(SPECS_DIR / "mobilenet_v1.yaml", {"width": width}, "larq")
    assert _at(report.totals.flops / 1e6, mult_adds) == mult_adds
    assert _at(report.totals.macs / 1e6, mult_adds) == mult_adds
    assert _at(report.totals.params / 1e6, params) == params
    assert report.totals.bops == 0 and report.totals.binary_params == 0


@pytest.mark.parametrize("width", sorted(PRINTED))
def test_budget_is_the_cost_of_the_spec_under_each_convention(width):
    name = f"mobilenet-{float(width)}"
    for convention in ("paper", "larq"):
        budget = preset_budget(name, convention)
        t = api.cost(SPECS_DIR / "mobilenet_v1.yaml", {"width": width}, convention).totals
        assert (budget.ops, budget.size_mib, budget.convention) == (t.ops, t.size_mib, convention)
    # 'larq' counts the classifier (int(1024 * width) inputs -> 1000 classes), 'paper' does not
    fc_macs = int(1024 * width) * 1000
    assert preset_budget(name, "larq").ops - preset_budget(name, "paper").ops == fc_macs
    assert preset_budget(name, "larq").size_mib == preset_budget(name, "paper").size_mib


def test_budget_table_lists_every_preset_in_order():
    df = api.budget_table("paper")
    assert list(df["budget"]) == list(PRESETS)
    assert list(df["ops"]) == [b.ops for b in all_budgets("paper")]
    assert df["ops"].is_monotonic_increasing and df["size_mib"].is_monotonic_increasing
    assert all(src.startswith("specs/mobilenet_v1.yaml --set width=") for src in df["source"])


def test_budget_usage_and_fit():
    b = preset_budget("mobilenet-0.5")
    assert b.fits(b.ops, b.size_mib) and not b.fits(b.ops * 1.001, b.size_mib)
    assert b.usage(b.ops / 2, b.size_mib) == (0.5, 1.0)
    custom = resolve_budget("mobilenet-0.5", max_ops=1e8)
    assert (custom.ops, custom.size_mib) == (1e8, b.size_mib)
    with pytest.raises(BudgetError, match="did you mean 'mobilenet-0.5'"):
        preset_budget("mobilenet-0.6")
