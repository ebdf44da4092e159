"""Every bundled network that has published cost figures, with those figures, written out.

The list is data, not derived from the code under test (a list filtered by the cost model
goes empty when the cost model breaks). A figure agrees when the computed value, rounded to
the printed decimals, gives the printed text; `trunc` marks the figures shared/paper/FACTS.md
lists as printed truncated, and errata are entered as FACTS.md corrects them.

Sources: MeliusNet paper Table 1 (MeliusNets, grouped stem: BOPs e9, FLOPs e8, OPs e8,
size MiB), Table 2 (OPs e8 with the 7x7 and the grouped stem), Table 3 (the original
Bi-RealNet's OPs), Table 4 (MeliusNet59's OPs); torchvision's resnet18 / resnet34 parameter
counts (Bi-Real Net keeps ResNet's weights); the MobileNet paper (tests/hand_counts.py).
BinaryDenseNet45 and the CIFAR MeliusNet have no published cost figure in these sources."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

import pytest

from conftest import SPECS
from mnas import api

SCALE = {"bops": 1e9, "flops": 1e8, "ops": 1e8, "size_mib": 1, "params": 1}

# (spec, stem, quantity, printed text, how it was printed, source)
PUBLISHED = [
    # Table 1, grouped stem
    ("meliusnet22", "grouped", "bops", "4.62", "round", "Table 1"),
    ("meliusnet22", "grouped", "flops", "1.35", "trunc", "Table 1"),
    ("meliusnet22", "grouped", "ops", "2.08", "round", "Table 1"),
    ("meliusnet22", "grouped", "size_mib", "3.9", "round", "Table 1"),
    ("meliusnet29", "grouped", "bops", "5.47", "round", "Table 1"),
    ("meliusnet29", "grouped", "flops", "1.29", "round", "Table 1"),
    ("meliusnet29", "grouped", "ops", "2.14", "round", "Table 1"),
    ("meliusnet29", "grouped", "size_mib", "5.1", "round", "Table 1"),
    ("meliusnet42", "grouped", "bops", "9.69", "round", "Table 1"),
    ("meliusnet42", "grouped", "flops", "1.74", "round", "Table 1"),
    ("meliusnet42", "grouped", "ops", "3.25", "round", "Table 1"),
    ("meliusnet42", "grouped", "size_mib", "10.1", "round", "Table 1"),
    ("meliusnet59", "grouped", "bops", "18.3", "round", "Table 1"),
    ("meliusnet59", "grouped", "flops", "2.45", "trunc", "Table 1"),
    ("meliusnet59", "grouped", "ops", "5.32", "round", "Table 4 (Table 1's 5.25: erratum)"),
    ("meliusnet59", "grouped", "size_mib", "17.4", "round", "Table 1"),
    ("meliusneta", "grouped", "bops", "4.85", "round", "Table 1"),
    ("meliusneta", "grouped", "flops", "0.86", "trunc", "Table 1"),
    ("meliusneta", "grouped", "ops", "1.62", "trunc", "Table 1"),
    ("meliusneta", "grouped", "size_mib", "4.0", "round", "Table 1"),
    ("meliusnetb", "grouped", "bops", "5.72", "round", "Table 1"),
    ("meliusnetb", "grouped", "flops", "1.06", "round", "Table 1"),
    ("meliusnetb", "grouped", "ops", "1.96", "round", "Table 1"),
    ("meliusnetb", "grouped", "size_mib", "5.0", "round", "Table 1"),
    ("meliusnetc", "grouped", "bops", "4.35", "round", "Table 1"),
    ("meliusnetc", "grouped", "flops", "0.82", "round", "Table 1"),
    ("meliusnetc", "grouped", "ops", "1.50", "round", "Table 1"),
    ("meliusnetc", "grouped", "size_mib", "4.5", "round", "Table 1"),
    # Table 2, both stems
    ("meliusnet22", "imagenet", "ops", "2.57", "trunc", "Table 2"),
    ("meliusnet29", "imagenet", "ops", "2.63", "trunc", "Table 2"),
    ("resnete18", "imagenet", "ops", "1.63", "round", "Table 2"),
    ("resnete18", "grouped", "ops", "1.14", "round", "Table 2"),
    ("resnete34", "imagenet", "ops", "1.92", "round", "Table 2 (prints 1.93: FACTS.md erratum)"),
    ("resnete34", "grouped", "ops", "1.43", "round", "Table 2"),
    ("binarydensenet28", "imagenet", "ops", "2.58", "round", "Table 2"),
    ("binarydensenet28", "grouped", "ops", "2.09", "round", "Table 2"),
    ("binarydensenet37", "imagenet", "ops", "2.70", "round", "Table 2 (prints 2.71: erratum)"),
    ("binarydensenet37", "grouped", "ops", "2.20", "round", "Table 2"),
    # the original Bi-RealNet: Table 3 (7x7 stem); ResNet's weights (torchvision)
    ("birealnet18", "imagenet", "ops", "1.63", "round", "Table 3"),
    ("birealnet34", "imagenet", "ops", "1.92", "round", "Table 3 (prints 1.93: erratum)"),
    ("birealnet18", "imagenet", "params", "11689512", "round", "torchvision resnet18"),
    ("birealnet34", "imagenet", "params", "21797672", "round", "torchvision resnet34"),
]


def at_precision(value: float, text: str, how: str) -> str:
    decimals = len(text.split(".")[1]) if "." in text else 0
    mode = ROUND_DOWN if how == "trunc" else ROUND_HALF_UP
    return str(Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals), rounding=mode))


@pytest.mark.parametrize("spec,stem,quantity,text,how,source", PUBLISHED,
                         ids=[f"{r[0]}-{r[1]}-{r[2]}" for r in PUBLISHED])
def test_published_figure(spec, stem, quantity, text, how, source):
    totals = api.cost(SPECS / f"{spec}.yaml", {"stem": stem}).totals
    value = getattr(totals, quantity) / SCALE[quantity]
    assert at_precision(value, text, how) == text, (source, value)
    if how == "trunc":                    # the listing is needed: rounding would disagree
        assert at_precision(value, text, "round") != text


def test_the_list_names_only_bundled_networks():
    assert {row[0] for row in PUBLISHED} <= {p.stem for p in SPECS.glob("*.yaml")}


def test_agreement_rule():
    assert at_precision(1.35876, "1.35", "round") == "1.36"
    assert at_precision(1.35876, "1.35", "trunc") == "1.35"
    assert at_precision(11689512, "11689512", "round") == "11689512"
