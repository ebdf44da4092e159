"""The binary ops, on the compiled kernels when they load and on the pure-PyTorch reference
otherwise; both give the same results.

Paths: 'avx512' (AVX-512 with VPOPCNTDQ), 'avx2', 'portable' (plain C++), 'torch' (the
reference, no compiler), or 'auto' (default: the best this CPU runs). `MNAS_KERNELS` in the
environment or `use_path()` picks one; a compiled path this CPU cannot run is an error."""

from __future__ import annotations

import os
import warnings

import torch

from mnas.errors import MnasError, MnasWarning
from mnas.kernels import reference
from mnas.kernels.build import load

PATHS = {"auto": 0, "portable": 1, "avx2": 2, "avx512": 3, "torch": -1}
_chosen: list[str] = []


class KernelError(MnasError):
    """A kernel path that cannot run here."""


def use_path(name: str | None) -> None:
    """Run the ops on path `name` from now on (None: back to MNAS_KERNELS or 'auto')."""
    if name is not None and name not in PATHS:
        raise KernelError(f"unknown kernel path '{name}'; choose from {', '.join(PATHS)}")
    _chosen[:] = [] if name is None else [name]
    if name not in (None, "auto", "torch"):
        _check(name)


def requested() -> str:
    name = _chosen[0] if _chosen else (os.environ.get("MNAS_KERNELS") or "auto").lower()
    if name not in PATHS:
        raise KernelError(f"MNAS_KERNELS={name}: choose from {', '.join(PATHS)}")
    return name


def compiled() -> bool:
    return load().loaded


def supported(name: str) -> bool:
    """Whether path `name` runs here (compiled, and this CPU has its instructions)."""
    if name == "torch":
        return True
    return compiled() and bool(torch.ops.mnas_kernels.cpu_supports(PATHS[name]))


def _check(name: str) -> None:
    build = load()
    if not build.loaded:
        raise KernelError(f"kernel path '{name}': the kernels are not compiled: {build.detail}")
    if not supported(name):
        raise KernelError(f"kernel path '{name}': this CPU lacks its instructions")


_warned: list[bool] = []
_resolved: dict[str, str] = {}


def active() -> str:
    """The path the ops run on now: avx512, avx2, portable or torch."""
    name = requested()
    hit = _resolved.get(name)
    if hit is None:
        hit = _resolved[name] = _active(name)
    return hit


def _active(name: str) -> str:
    if name == "torch":
        return "torch"
    if name == "auto":
        build = load()
        if not build.loaded:
            if not _warned:
                _warned.append(True)
                warnings.warn(f"bit-packed kernels unavailable, using the slow pure-PyTorch "
                              f"path: {build.detail}", MnasWarning, stacklevel=3)
            return "torch"
        return {v: k for k, v in PATHS.items()}[int(torch.ops.mnas_kernels.best_path())]
    _check(name)
    return name


def _resolve(path: str | None) -> str:
    if path is None:
        return active()
    if path not in _resolved.values() and path not in ("torch", "auto"):
        _check(path)
    return active() if path == "auto" else path


def pack_signs(x: torch.Tensor, groups: int = 1, path: str | None = None) -> torch.Tensor:
    """Signs of an N x C x H x W (contiguous or channels-last) or N x C float tensor, packed:
    [N, H, W, G, ceil(C/G/64)] int64 words, bit set where the value is -1 (x < 0)."""
    path = _resolve(path)
    if path == "torch":
        return reference.pack_signs(x.float(), groups)
    return torch.ops.mnas_kernels.pack_signs(x.float(), groups, PATHS[path])


def binary_conv2d(x: torch.Tensor, weight: torch.Tensor, in_channels: int, out_channels: int,
                  kernel=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                  scale: torch.Tensor | None = None, bias: torch.Tensor | None = None,
                  pad_value: float = 0.0, channels_last: bool = False,
                  path: str | None = None) -> torch.Tensor:
    """Packed signs (from `pack_signs`) convolved with packed weights (`pack_weight`); the
    float result equals conv2d of the +-1 tensors with the border padded with `pad_value`
    (0, 1 or -1), times `scale`, plus `bias` (per output channel); in channels-last memory
    if asked."""
    path = _resolve(path)
    args = (x, weight, in_channels, out_channels, list(kernel), list(stride), list(padding),
            list(dilation), scale, bias, float(pad_value), channels_last)
    if path == "torch":
        return reference.binary_conv2d(*args)
    return torch.ops.mnas_kernels.binary_conv2d(*args, PATHS[path])


pack_weight = reference.pack_weight
