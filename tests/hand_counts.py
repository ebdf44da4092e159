"""Figures counted by hand from published structures, so tests compare the cost model (and the
budgets, search and compare built on it) against numbers it did not produce.

MobileNet-v1 at 224x224 (Howard et al. 2017, Table 1; shared/paper/FACTS.md): conv 3x3 s2
3 -> 32a at 112x112, then 13 depthwise-separable layers, depthwise 3x3 (C*9 weights, C*9 MACs
per pixel) + pointwise 1x1 (C*C' weights and MACs per pixel), pointwise widths 64, 128, 128,
256, 256, 512 x 6, 1024, 1024 times the width a (int() of the product), strides 1, 2, 1, 2,
1, 2, 1, 1, 1, 1, 1, 2, 1 (feature maps 112, 56, 56, 28, 28, 14 x 6, 7, 7); BatchNorm after
every conv (2 parameters per channel); global pool; FC 1024a -> 1000 with bias. At a = 1.0:

    MACs = 32*3*9*112^2                                            =  10,838,016
         + sum of depthwise C*9*H^2 and pointwise C*C'*H^2          = 556,878,336
         = 567,716,352 (FC excluded, the paper convention), + 1,024,000 FC = 568,740,352
           (the MobileNet paper's "569M mult-adds", which count the FC layer)
    params = conv and FC weights + FC bias 4,210,088 + BN 21,888       = 4,231,976 ("4.2M")
    size   = 4,231,976 * 32 bit / 8 / 2^20 = 16.143707275390625 MiB

The other widths the same way (the figures below were counted by a short script written
apart from mnas, then typed in)."""

from __future__ import annotations

# width: (MACs without the FC layer, FC MACs, parameters incl. BN gamma/beta and FC bias)
MOBILENET_V1 = {
    0.25: (40_774_272, 256_000, 470_072),
    0.5: (148_985_088, 512_000, 1_331_592),
    0.75: (324_632_448, 768_000, 2_585_560),
    1.0: (567_716_352, 1_024_000, 4_231_976),
}


def mobilenet_ops(width: float, convention: str = "paper") -> int:
    """The budget's OPs: all 32-bit, so OPs = FLOPs = MACs; 'larq' adds the FC's MACs."""
    body, fc, _ = MOBILENET_V1[width]
    return body + fc if convention == "larq" else body


def mobilenet_mib(width: float) -> float:
    """The budget's size: every parameter 32 bits, MiB (FACTS.md)."""
    return MOBILENET_V1[width][2] * 32 / 8 / 2 ** 20


# MeliusNet42 as README.md's `mnas cost` table prints it (paper convention, grouped stem);
# Table 1 prints 9.69e9 BOPs, 1.74e8 FLOPs, 3.25e8 OPs, 10.1 MB, which these round to.
MELIUSNET42 = {"bops": 9_692_798_976, "flops": 174_010_368, "binary_params": 24_956_928,
               "float_params": 1_868_616}
MELIUSNET42_OPS = MELIUSNET42["bops"] / 64 + MELIUSNET42["flops"]          # 325,460,352
MELIUSNET42_MIB = (MELIUSNET42["binary_params"] + 32 * MELIUSNET42["float_params"]) / 8 / 2 ** 20
