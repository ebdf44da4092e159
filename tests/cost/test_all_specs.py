"""Every top-level spec is a complete network that validates and costs (parametrised over
specs/*.yaml, so a new spec is checked automatically)."""

from __future__ import annotations

import pytest

from conftest import NETWORK_SPECS
from mnas import api


@pytest.mark.parametrize("path", NETWORK_SPECS, ids=lambda p: p.stem)
def test_spec_costs(path):
    report = api.cost(path)
    t = report.totals
    assert report.name and len(report.layers) > 3
    assert t.ops > 0 and t.params > 0 and t.size_mib > 0
    assert report.layers[-1].op == "linear"
    assert t.params == sum(l.params for l in report.layers)


@pytest.mark.parametrize("path", NETWORK_SPECS, ids=lambda p: p.stem)
def test_both_stems_where_the_spec_has_one(path):
    spec = api.load(path)
    if "stem" not in spec.settable():
        pytest.skip("no stem knob")
    grouped = api.cost(path, {"stem": "grouped"}).totals
    big = api.cost(path, {"stem": "imagenet"}).totals
    c, h, w = spec.input
    s = spec.values.get("stem_channels", 64)
    # Both stems halve the input; the 7x7 conv has 64*c*49 weights, the grouped stem
    # 32*c*9 + 32*8*9 + 64*4*9 (section 3.2: 1.18e8 against 0.69e8 MACs at 224x224);
    # s stem channels in general (16 in the CIFAR spec).
    per_pixel = s * c * 49 - (s // 2 * c * 9 + s // 2 * (s // 8) * 9 + s * (s // 16) * 9)
    assert big.flops - grouped.flops == ((h + 1) // 2) * ((w + 1) // 2) * per_pixel
