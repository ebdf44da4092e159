"""Budgets are MobileNet-v1 costed by the cost model; the MobileNet paper's own figures must
come out of it (Howard et al. 2017, Table 6: width multiplier 1.0/0.75/0.5/0.25 at 224x224)."""

from __future__ import annotations

import pytest

from mnas import api
from mnas.cost.budgets import SPECS_DIR, all_budgets, preset_budget, resolve_budget
from mnas.errors import BudgetError
from mnas.spec.expr import round_half_up

from hand_counts import mobilenet_mib, mobilenet_ops

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


@pytest.mark.parametrize("width", [0.25, 0.5, 0.75, 1.0])
@pytest.mark.parametrize("convention", ["paper", "larq"])
def test_budget_is_mobilenet_counted_by_hand(width, convention):
    """tests/hand_counts.py: MACs and parameters counted from the MobileNet paper's structure;
    'larq' adds the classifier's MACs (int(1024 * width) inputs -> 1000 classes), 'paper' not."""
    budget = preset_budget(f"mobilenet-{width}", convention)
    assert budget.ops == mobilenet_ops(width, convention)
    assert budget.size_mib == mobilenet_mib(width)
    assert budget.convention == convention
    assert budget.source == f"specs/mobilenet_v1.yaml --set width={width}"


def test_budget_table_lists_every_preset_in_order():
    df = api.budget_table("paper")
    assert list(df["budget"]) == ["mobilenet-0.25", "mobilenet-0.5", "mobilenet-0.75",
                                  "mobilenet-1.0"]
    assert list(df["ops"]) == [mobilenet_ops(w) for w in (0.25, 0.5, 0.75, 1.0)]
    assert list(df["size_mib"]) == [mobilenet_mib(w) for w in (0.25, 0.5, 0.75, 1.0)]
    assert [b.name for b in all_budgets("larq")] == list(df["budget"])
    assert df["ops"].is_monotonic_increasing and df["size_mib"].is_monotonic_increasing
    assert all(src.startswith("specs/mobilenet_v1.yaml --set width=") for src in df["source"])


def test_budget_usage_and_fit():
    """MobileNet-0.5 by hand: 148,985,088 OPs, 1,331,592 parameters (5.0796 MiB); a network
    exactly at both limits fits, one op or one 32-bit parameter more does not."""
    b = preset_budget("mobilenet-0.5")
    ops, mib = 148_985_088, 1_331_592 * 4 / 2 ** 20
    assert b.fits(ops, mib)
    assert not b.fits(ops + 1, mib)
    assert not b.fits(ops, (1_331_592 + 1) * 4 / 2 ** 20)
    assert b.fits(0, 0)
    assert b.usage(ops / 2, mib) == (0.5, 1.0)
    assert b.usage(ops * 1.25, mib / 4) == (1.25, 0.25)
    unbounded = resolve_budget(max_ops=1e8)
    assert (unbounded.ops, unbounded.size_mib) == (1e8, None)
    assert unbounded.fits(1e8, 1e9) and not unbounded.fits(1e8 + 1, 0)
    assert unbounded.usage(5e7, 3.0) == (0.5, None)
    custom = resolve_budget("mobilenet-0.5", max_ops=1e8)
    assert (custom.ops, custom.size_mib) == (1e8, b.size_mib)
    with pytest.raises(BudgetError, match="did you mean 'mobilenet-0.5'"):
        preset_budget("mobilenet-0.6")


def test_resolve_budget_from_a_preset_limits_or_both():
    """The convention reaches the preset; explicit limits replace one of its figures."""
    larq = resolve_budget("mobilenet-0.5", convention="larq")
    assert (larq.ops, larq.convention) == (mobilenet_ops(0.5, "larq"), "larq")
    assert [b.ops for b in all_budgets("larq")] == \
        [mobilenet_ops(w, "larq") for w in (0.25, 0.5, 0.75, 1.0)]
    smaller = resolve_budget("mobilenet-0.5", max_size_mib=4)
    assert (smaller.name, smaller.ops, smaller.size_mib) == \
        ("mobilenet-0.5 (custom)", mobilenet_ops(0.5), 4)
    assert resolve_budget("mobilenet-0.5", max_ops=1e8).name == "mobilenet-0.5 (custom)"
    tiny = resolve_budget(max_size_mib=0.5)                      # below 1 is still positive
    assert (tiny.name, tiny.ops, tiny.size_mib, tiny.source) == \
        ("custom", None, 0.5, "explicit limits")


@pytest.mark.parametrize("kwargs,message", [
    ({}, "give a budget name (e.g. mobilenet-0.75), --max-ops/--max-size-mib or "
         "--max-latency-ms"),
    ({"max_ops": 0}, "max ops must be positive, got 0"),
    ({"max_size_mib": -1.0}, "max size must be positive, got -1.0"),
    ({"name": "mobilenet-0.5", "max_ops": 0}, "max ops must be positive, got 0"),
])
def test_resolve_budget_errors(kwargs, message):
    with pytest.raises(BudgetError) as err:
        resolve_budget(**kwargs)
    assert str(err.value) == message


@pytest.mark.parametrize("convention", ["paper", "larq"])
def test_a_network_spec_is_a_budget_under_the_convention(tmp_path, convention):
    """A bundled spec named without a path (MobileNet-v1 at its default width 1.0) or a spec
    file elsewhere: its own OPs and size, counted by hand, and where it came from."""
    bundled = preset_budget("mobilenet_v1", convention)
    assert (bundled.name, bundled.ops, bundled.size_mib, bundled.convention, bundled.source) == \
        ("mobilenet_v1", mobilenet_ops(1.0, convention), mobilenet_mib(1.0), convention,
         "specs/mobilenet_v1.yaml")
    copy = tmp_path / "mine.yaml"
    copy.write_text((SPECS_DIR / "mobilenet_v1.yaml").read_text().replace(
        "include: [blocks/", f"include: [{SPECS_DIR}/blocks/"))
    mine = resolve_budget(str(copy), convention=convention)
    assert (mine.name, mine.ops, mine.size_mib, mine.convention, mine.source) == \
        ("mine", mobilenet_ops(1.0, convention), mobilenet_mib(1.0), convention, str(copy))


def test_a_preset_without_limits_keeps_its_name():
    assert resolve_budget("mobilenet-0.5").name == "mobilenet-0.5"
