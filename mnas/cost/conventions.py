"""Counting conventions. Cost figures mean nothing without one: every table names the
convention it used. `paper` is MeliusNet's (see shared/paper/FACTS.md): every BatchNorm holds
2 parameters per channel, as MXNet's BatchNorm keeps gamma even without scale and the authors'
summary counts it; `larq` is what Larq's model summary (`larq.models.summary`) reports: the
classifier's MACs count as FLOPs and every BatchNorm holds 2 values per channel too.

Under both, a MAC is counted only in convolutions and fully connected layers, at the wider
of its input's and its weight's precision (`mnas.ir.precision`); element-wise work is free:
BatchNorm, activations (ReLU, sign, RSign's threshold, PReLU/RPReLU, hardtanh, sigmoid),
learned scales, channel gating, pooling, concat, add. The parameters of all of these count
in params and size; `weight_scale`'s per-channel scales are computed from the weights (and
folded into the following BatchNorm at inference), so they count as neither.

`measured:FILE` replaces each layer's OPs by the milliseconds `mnas bench` measured (a
latency table, mnas.cost.latency); its other counts are `paper`'s."""

from __future__ import annotations

from dataclasses import dataclass, replace

from mnas.cost.latency import LatencyTable
from mnas.errors import MnasError, suggest


@dataclass(frozen=True)
class Convention:
    """How layer counts become BOPs, FLOPs, OPs and bytes.

    - `binary_speedup`: OPs = BOPs / binary_speedup + FLOPs.
    - `fc_in_ops`: whether fully connected layers' MACs count as FLOPs (their parameters
      always count in the size).
    - `bn_params_per_channel`: None counts a BatchNorm's learnable parameters as the layer
      has them (gamma and beta: 2 per channel); an integer counts that many per channel
      instead (4 would add the running statistics).
    - `binary_bits` / `float_bits`: bits per binary / other parameter.
    - `mb_bytes`: bytes in the size unit (2**20: the paper's "MB" is MiB).
    - `latency`: a measured latency table; when set, a layer's OPs are its milliseconds
      (BOPs, FLOPs and sizes are counted as under `paper`)."""

    name: str
    description: str
    binary_speedup: float = 64
    fc_in_ops: bool = False
    bn_params_per_channel: int | None = None
    binary_bits: int = 1
    float_bits: int = 32
    mb_bytes: int = 2 ** 20
    latency: LatencyTable | None = None

    @property
    def size_unit(self) -> str:
        return "MiB" if self.mb_bytes == 2 ** 20 else "MB" if self.mb_bytes == 10 ** 6 else \
            f"x{self.mb_bytes}B"


ELEMENTWISE_FREE = ("conv/FC MACs only, at the wider of input and weight precision; "
                    "element-wise ops (BN, activations, PReLU, scales, gates) cost 0 ops but "
                    "their parameters count")
PAPER = Convention(
    name="paper",
    description="MeliusNet paper: 1 MAC = 1 op, OPs = BOPs/64 + FLOPs, classifier MACs not "
                "counted, size in MiB (binary weights 1 bit, all else 32 bits, BN 2 per "
                f"channel); {ELEMENTWISE_FREE}",
    bn_params_per_channel=2)
LARQ = Convention(
    name="larq",
    description="Larq's model summary: as 'paper', but the classifier's MACs count as FLOPs "
                f"and every BatchNorm holds 2 values per channel; {ELEMENTWISE_FREE}",
    fc_in_ops=True, bn_params_per_channel=2)

CONVENTIONS: dict[str, Convention] = {c.name: c for c in (PAPER, LARQ)}


MEASURED = "measured:"


def measured(path: str) -> Convention:
    """The `measured:FILE` convention of the latency table at `path`."""
    table = LatencyTable.read(path)
    return replace(PAPER, name=f"{MEASURED}{path}", description=f"OPs are {table.describe()}",
                   latency=table)


def get_convention(name: str | Convention) -> Convention:
    if isinstance(name, Convention):
        return name
    if isinstance(name, str) and name.startswith(MEASURED):
        return measured(name[len(MEASURED):])
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise MnasError(f"unknown convention '{name}'{suggest(name, CONVENTIONS)}; "
                        f"known: {', '.join(CONVENTIONS)}, {MEASURED}FILE") from None
