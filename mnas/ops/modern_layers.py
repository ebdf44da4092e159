"""PyTorch modules for the ops of post-2020 BNNs (ReActNet, Real-to-Binary, QuickNet): learned
thresholds and PReLUs, saturating activations, learned and computed per-channel scales,
dropout and the fixed blur-pool filter. Conventions as in `mnas.ops.layers` (inputs carry
a batch dimension; `forward` takes a node's inputs in order).

Learned parameters are named for what they hold (`threshold`, `slope`, `shift_in`, `scale`),
never `weight`, so weight initialisers meant for conv and linear kernels leave them alone;
each module sets its own starting values: thresholds and shifts 0, PReLU slopes `init`,
scales 1. The blur-pool filter is a parameter that does not train (`requires_grad=False`):
it is part of the network and its state dict, like QuickNet's non-trainable Keras weights.

This module imports only torch and `mnas.ops.layers`, so `mnas export --format python`
copies it after that module (dropping the import below)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mnas.ops.layers import ApproxSignSTE, SignSTE, _exporting, binarize, remember_args


def per_channel(values: torch.Tensor, ndim: int) -> torch.Tensor:
    """A C vector shaped to broadcast over N x C (ndim 1) or N x C x H x W (ndim 3)."""
    return values.view(1, -1, 1, 1) if ndim == 3 else values.view(1, -1)


@remember_args
class RSign(nn.Module):
    """ReActNet's RSign: sign(x - threshold), a learned threshold per channel. `backward`
    'ste' (gradient where |x - t| <= clip) or 'approx' (Bi-Real Net's)."""

    def __init__(self, channels: int, ndim: int = 3, backward: str = "ste", clip: float = 1.3):
        super().__init__()
        if backward not in ("ste", "approx"):
            raise ValueError(f"backward must be 'ste' or 'approx', not {backward!r}")
        self.ndim, self.backward, self.clip = ndim, backward, float(clip)
        self.threshold = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        x = x - per_channel(self.threshold, self.ndim)
        if _exporting():
            return binarize(x)
        if self.backward == "approx":
            return ApproxSignSTE.apply(x)
        return SignSTE.apply(x, self.clip)

    def extra_repr(self) -> str:
        return f"{self.threshold.numel()}, backward={self.backward}, clip={self.clip}"


@remember_args
class PReLU(nn.Module):
    """x where x >= 0, else slope * x, one learned slope per channel (starting at `init`)."""

    def __init__(self, channels: int, init: float = 0.25):
        super().__init__()
        self.slope = nn.Parameter(torch.full((channels,), float(init)))

    def forward(self, x):
        return F.prelu(x, self.slope)


@remember_args
class RPReLU(nn.Module):
    """ReActNet's RPReLU: PReLU(x - shift_in) + shift_out, all three learned per channel."""

    def __init__(self, channels: int, ndim: int = 3, init: float = 0.25):
        super().__init__()
        self.ndim = ndim
        self.shift_in = nn.Parameter(torch.zeros(channels))
        self.slope = nn.Parameter(torch.full((channels,), float(init)))
        self.shift_out = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        y = F.prelu(x - per_channel(self.shift_in, self.ndim), self.slope)
        return y + per_channel(self.shift_out, self.ndim)


@remember_args
class Hardtanh(nn.Module):
    def __init__(self, min_val: float = -1.0, max_val: float = 1.0):
        super().__init__()
        self.min_val, self.max_val = float(min_val), float(max_val)

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min={self.min_val}, max={self.max_val}"


@remember_args
class Sigmoid(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x)


@remember_args
class Dropout(nn.Module):
    """Zero each value with probability `p` while training (scaling the rest by 1/(1-p));
    the identity in eval mode."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = float(p)

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


@remember_args
class LearnedScale(nn.Module):
    """x times a learned factor per channel (and, given `height` and `width`, per row and
    per column: XNOR-Net++'s factorised scale). Factors start at 1."""

    def __init__(self, channels: int, ndim: int = 3, height: int | None = None,
                 width: int | None = None):
        super().__init__()
        self.ndim = ndim
        self.scale = nn.Parameter(torch.ones(channels))
        self.scale_h = nn.Parameter(torch.ones(height)) if height else None
        self.scale_w = nn.Parameter(torch.ones(width)) if width else None

    def forward(self, x):
        y = x * per_channel(self.scale, self.ndim)
        if self.scale_h is not None:
            y = y * self.scale_h.view(1, 1, -1, 1)
        if self.scale_w is not None:
            y = y * self.scale_w.view(1, 1, 1, -1)
        return y


@remember_args
class ChannelMul(nn.Module):
    """x (N x C [x H x W]) times a gate (N x C), channel by channel."""

    def forward(self, x, gate):
        return x * gate.reshape(gate.shape + (1,) * (x.dim() - 2))


def binomial_filter(kernel: int) -> torch.Tensor:
    """The k x k blur filter: row k of Pascal's triangle, outer product, normalised to sum 1."""
    row = torch.tensor([float(math.comb(kernel - 1, i)) for i in range(kernel)])
    square = torch.outer(row, row)
    return square / square.sum()


@remember_args
class BlurPool(nn.Module):
    """Depthwise convolution with a fixed binomial filter (anti-aliased downsampling). The
    filter is a non-trainable parameter, `kernel` (C x 1 x k x k)."""

    def __init__(self, channels: int, kernel: int = 3, stride: int = 2, padding: int = 1):
        super().__init__()
        self.stride, self.padding = stride, padding
        filt = binomial_filter(kernel).expand(channels, 1, kernel, kernel).clone()
        self.kernel = nn.Parameter(filt, requires_grad=False)

    def forward(self, x):
        return F.conv2d(x, self.kernel, stride=self.stride, padding=self.padding,
                        groups=self.kernel.shape[0])

    def extra_repr(self) -> str:
        c, _, k, _ = self.kernel.shape
        return f"{c}, kernel={k}, stride={self.stride}, padding={self.padding}"
