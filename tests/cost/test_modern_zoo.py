"""The post-2020 zoo against its published figures: ReActNet-A at the ReActNet paper's
printed precision, Larq Zoo's QuickNets and RealToBinaryNet at Larq's integers under the
'larq' convention (what `larq.models.summary` reports)."""

from __future__ import annotations

import math

import pytest

from conftest import SPECS
from mnas import api
from mnas.cost.conventions import Convention


def rounded(value: float, decimals: int) -> float:
    return math.floor(value * 10 ** decimals + 0.5) / 10 ** decimals


def test_reactnet_a_at_the_papers_printed_precision():
    """Liu et al. 2020 (ReActNet, ECCV), Table 4, row ReActNet-A: 4.82e9 BOPs, 0.12e8 FLOPs
    and 0.87e8 OPs; its FLOPs include the classifier, as the 'larq' convention counts."""
    t = api.cost(SPECS / "reactnet_a.yaml", convention="larq").totals
    assert rounded(t.bops / 1e9, 2) == 4.82
    assert rounded(t.flops / 1e8, 2) == 0.12
    assert rounded(t.ops / 1e8, 2) == 0.87
    # by hand: 13 blocks of MobileNet-v1's layout at 224x224 (3x3 C->C and 1x1 C->C' binary
    # convs); the 32-bit stem conv 3x3/2 3->32 at 112x112 and the FC 1024->1000
    blocks = [(32, 64, 112), (64, 128, 56), (128, 128, 56), (128, 256, 28), (256, 256, 28),
              (256, 512, 14)] + [(512, 512, 14)] * 5 + [(512, 1024, 7), (1024, 1024, 7)]
    assert t.bops == sum(r * r * (c * c * 9 + c * out) for c, out, r in blocks) == 4816896000
    assert t.flops == 112 * 112 * 32 * 27 + 1024 * 1000
    paper = api.cost(SPECS / "reactnet_a.yaml").totals  # MeliusNet's rule: no classifier
    assert (paper.bops, paper.flops) == (t.bops, t.flops - 1024 * 1000)


# Larq Zoo's summary of RealToBinaryNet (larq/zoo, tests/snapshots/model_summaries/
# RealToBinaryNet_512.txt at commit 8ac2494): Total row 10985472 1-bit and 1001448 32-bit
# parameters, 1676279808 1-bit and 138087936 32-bit MACs; model size 5.13 MiB.
R2B_SUMMARY = (1676279808, 138087936, 10985472, 1001448, 5.13)


def test_realtobinarynet_equals_larqs_summary():
    t = api.cost(SPECS / "realtobinarynet.yaml", convention="larq").totals
    assert (t.bops, t.flops, t.binary_params, t.float_params) == R2B_SUMMARY[:4]
    assert round(t.size_mib, 2) == R2B_SUMMARY[4]


def test_realtobinarynet_parameters_as_keras_counts_them():
    """The docstring of RealToBinaryNet (larq_zoo/literature/real_to_bin_nets.py) gives
    11 995 624 parameters: Keras' count, with 4 values per BatchNorm channel (moving mean
    and variance too)."""
    keras = Convention("keras", "BatchNorm 4 values per channel", fc_in_ops=True,
                       bn_params_per_channel=4)
    assert api.cost(SPECS / "realtobinarynet.yaml", convention=keras).totals.params == 11995624


def _quicknet_macs(blocks, widths):
    """Larq's rule (larq/models.py: a conv's MACs are its weights times its output pixels, at
    the wider of input and weight precision), by hand over Larq Zoo's QuickNet definition:
    stem conv 3x3/2 3->w/4 at 112, depthwise 3x3/2 at 56, conv 1x1 -> w at 56; per later stage
    a blur-pool depthwise 3x3/2 and a 32-bit 1x1 conv at the halved size; binary 3x3 w->w
    convs; FC 512 -> 1000."""
    w0 = widths[0]
    float_macs = 112 * 112 * (w0 // 4) * 27 + 56 * 56 * (w0 // 4) * 9 + 56 * 56 * (w0 // 4) * w0
    binary_macs = 0
    size = 56
    for i, (n, w) in enumerate(zip(blocks, widths)):
        if i:
            size //= 2
            float_macs += size * size * widths[i - 1] * 9 + size * size * widths[i - 1] * w
        binary_macs += n * size * size * w * w * 9
    return binary_macs, float_macs + 512 * 1000


# Larq Zoo's docstrings (larq_zoo/sota/quicknet.py at commit 0ff5984, "ImageNet Metrics"):
# parameters and memory (MB: MiB, binary weights 1 bit).
QUICKNETS = {
    "quicknet_small": ((4, 4, 4, 4), (32, 64, 256, 512), 12655688, 4.00),
    "quicknet": ((4, 4, 4, 4), (64, 128, 256, 512), 13234088, 4.17),
    "quicknet_large": ((6, 8, 12, 6), (64, 128, 256, 512), 23342248, 5.40),
}


@pytest.mark.parametrize("name", sorted(QUICKNETS))
def test_quicknets_equal_larq_zoo(name):
    blocks, widths, params, memory = QUICKNETS[name]
    t = api.cost(SPECS / f"{name}.yaml", convention="larq").totals
    assert t.params == params
    assert round(t.size_mib, 2) == memory
    assert (t.bops, t.flops) == _quicknet_macs(blocks, widths)


def test_quicknet_macs_by_hand():
    """The hand count itself, spelled out for QuickNet (1.85e9 1-bit MACs)."""
    binary, floats = _quicknet_macs((4, 4, 4, 4), (64, 128, 256, 512))
    assert binary == 16 * 115605504 == 1849688064
    assert floats == (5419008 + 451584 + 3211264 + (451584 + 6422528) + (225792 + 6422528)
                      + (112896 + 6422528) + 512000) == 29651712


def test_birealnet18_still_equals_larqs_summary():
    """Larq Zoo's summary of Bi-Real Net (larq/zoo, tests/snapshots/model_summaries/
    BiRealNet_512.txt at commit 426ba6b): Total row 10985472 1-bit and 704040 32-bit
    parameters, 1676279808 1-bit and 137793536 32-bit MACs, 4.00 MiB."""
    t = api.cost(SPECS / "birealnet18.yaml", convention="larq").totals
    assert (t.bops, t.flops, t.binary_params, t.float_params) == \
        (1676279808, 137793536, 10985472, 704040)
    assert round(t.size_mib, 2) == 4.00
