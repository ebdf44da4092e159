"""The PyTorch modules that op types lower to (each op's `lower` hook builds one).

Inputs carry a batch dimension; IR shapes do not. `forward` takes a node's inputs in order.
Binarisation follows the MeliusNet paper (eq. 1) and its authors' implementation: sign gives
+1 where x >= 0 and -1 elsewhere (never 0, unlike `torch.sign`); the gradient of activations
passes straight through where |x| <= clip and is zero elsewhere; binary layers use the sign of
their 32-bit latent weights with a plain straight-through gradient, no scaling factor (unless
a conv asks for Bi-Real Net's `weight_scale`), no bias (unless the spec asks).

Weights start with He et al.'s normal initialisation (fan-in, ReLU gain: std = sqrt(2 / fan_in)),
the method the paper cites ([12]), for every conv and linear weight; biases start at zero,
BatchNorm at gamma 1, beta 0.

The layers of post-2020 BNNs (ReActNet, Real-to-Binary, QuickNet: last section) name their
learned values for what they hold (`threshold`, `slope`, `shift_in`, `scale`), never
`weight`, and set them themselves: thresholds and shifts 0, PReLU slopes `init`, scales 1.
The blur-pool filter is a parameter that does not train (`requires_grad=False`): part of the
network and its state dict, like QuickNet's non-trainable Keras weights.

Each layer takes the values its op declares (the op's params hold the defaults, so the layers
repeat none of them) and only its own layout default, `ndim` 3 (C x H x W images).

This module imports only torch (no mnas), so `mnas export --format python` copies its source
into a standalone file.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn


def remember_args(cls):
    """Keep each instance's constructor arguments in `init_args`, so a network can be written
    back as Python source (`mnas export --format python`)."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.init_args = (args, kwargs)

    cls.__init__ = __init__
    return cls


def _exporting() -> bool:
    """True while torch.jit.trace or ONNX export records the graph: autograd Functions do not
    serialise, so the forward then uses the equivalent plain `torch.where`."""
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def binarize(x: torch.Tensor) -> torch.Tensor:
    """+1 where x >= 0, else -1, in x's dtype."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


class SignSTE(torch.autograd.Function):
    """sign(x) with the clipped straight-through gradient: grad * (|x| <= clip)."""

    @staticmethod
    def forward(ctx, x, clip: float):
        ctx.save_for_backward(x.abs() <= clip)
        return binarize(x)

    @staticmethod
    def backward(ctx, grad):
        (passes,) = ctx.saved_tensors
        return grad * passes, None


class ApproxSignSTE(torch.autograd.Function):
    """sign(x) with Bi-Real Net's gradient: the derivative of its piecewise quadratic
    approximation, grad * (2 - 2|x|) where |x| < 1, else 0."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return binarize(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (2 - 2 * x.abs()).clamp_(min=0)


class WeightSTE(torch.autograd.Function):
    """sign(w) with an identity gradient, so the 32-bit latent weights keep learning."""

    @staticmethod
    def forward(ctx, w):
        return binarize(w)

    @staticmethod
    def backward(ctx, grad):
        return grad


def he_normal_(weight: torch.Tensor) -> torch.Tensor:
    return nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu")


@remember_args
class Identity(nn.Module):
    def forward(self, x):
        return x


@remember_args
class Sign(nn.Module):
    def __init__(self, clip: float = 1.3):
        super().__init__()
        self.clip = float(clip)

    def forward(self, x):
        if _exporting():
            return binarize(x)
        return SignSTE.apply(x, self.clip)

    def extra_repr(self) -> str:
        return f"clip={self.clip}"


@remember_args
class ApproxSign(nn.Module):
    """Bi-Real Net's sign: +-1 forward, piecewise quadratic gradient."""

    def forward(self, x):
        if _exporting():
            return binarize(x)
        return ApproxSignSTE.apply(x)


def signed_weight(weight: torch.Tensor) -> torch.Tensor:
    """sign(weight) for the forward pass of binary layers: with the straight-through
    gradient when training, a plain `where` when tracing or exporting."""
    return binarize(weight) if _exporting() else WeightSTE.apply(weight)


class BinaryWeights:
    """Mixin of the layers with binary weights. `binary_weights` (True by default) is the
    switch of the two-step schedule (Real-to-Binary, ReActNet): step 1 trains with binary
    activations but the 32-bit weights as they are, step 2 binarises the weights too."""

    binary_weights: bool = True

    def forward_weight(self) -> torch.Tensor:
        return signed_weight(self.weight) if self.binary_weights else self.weight


@remember_args
class ReLU(nn.ReLU):
    pass


@remember_args
class Conv2d(nn.Conv2d):
    """32-bit convolution, He-initialised. A non-zero `pad_value` pads the border with that
    value (QuickNet pads binary convs with 1) instead of torch's zeros."""

    def __init__(self, *args, pad_value: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.pad_value = float(pad_value)
        self.border = tuple(self.padding)
        if self.pad_value:
            self.padding = (0, 0)

    def reset_parameters(self) -> None:
        he_normal_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def _conv_forward(self, x, weight, bias):
        if self.pad_value:
            ph, pw = self.border
            x = F.pad(x, (pw, pw, ph, ph), value=self.pad_value)
        return super()._conv_forward(x, weight, bias)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.pad_value:
            text += f", padding={self.border}, pad_value={self.pad_value}"
        return text


def add_bias(y: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return y if bias is None else y + bias.reshape(1, -1, *([1] * (y.dim() - 2)))


@remember_args
class BinaryConv2d(BinaryWeights, Conv2d):
    """Convolution with sign(weights) in the forward pass; the input is expected binarised by
    a preceding `Sign`. `weight` holds the 32-bit latent values. A bias is added after the
    convolution, whose +-1 sums are exact integers in float, so the result is the one
    integer kernels compute, to the bit (mnas.kernels)."""

    def forward(self, x):
        return add_bias(self._conv_forward(x, self.forward_weight(), None), self.bias)

    def weight_scale(self) -> torch.Tensor | None:
        """The per-output-channel factor on the signed weights (None: no scaling)."""
        return None


@remember_args
class ScaledBinaryConv2d(BinaryConv2d):
    """Binary convolution whose signed weights are scaled, per output channel, by the mean
    |w| of the latent weights (Bi-Real Net's magnitude-aware weights; the scale is detached,
    as in the Bi-Real authors' release, so the weights' gradient is the plain
    straight-through one times the scale). The scale multiplies the integer-valued output of
    the +-1 convolution, as integer kernels apply it."""

    def forward(self, x):
        if not self.binary_weights:
            return self._conv_forward(x, self.weight, self.bias)
        y = self._conv_forward(x, signed_weight(self.weight), None)
        return add_bias(y * self.weight_scale().reshape(1, -1, 1, 1), self.bias)

    def weight_scale(self) -> torch.Tensor:
        return self.weight.detach().abs().mean(dim=(1, 2, 3))


@remember_args
class Linear(nn.Linear):
    """32-bit fully connected layer, He-initialised."""

    def reset_parameters(self) -> None:
        he_normal_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


@remember_args
class BinaryLinear(BinaryWeights, Linear):
    """Fully connected layer with sign(weights); the input is expected binarised."""

    def forward(self, x):
        return add_bias(F.linear(x, self.forward_weight()), self.bias)


@remember_args
class BatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch normalisation of `num_features` channels over an input of `ndim` dimensions
    (1: vectors, 3: CxHxW), without batch. `scale` (gamma) and `center` (beta) are optional
    separately, which torch's BatchNorm (one `affine` flag) cannot express; state-dict keys
    are torch's (weight, bias, running_mean, running_var, num_batches_tracked)."""

    def __init__(self, num_features: int, ndim: int = 3, scale: bool = True, center: bool = True,
                 eps: float = 1e-5, momentum: float = 0.1):
        super().__init__(num_features, eps=eps, momentum=momentum, affine=True)
        self.ndim = ndim
        if not scale:
            self.weight = None
        if not center:
            self.bias = None

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            nn.init.ones_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def _check_input_dim(self, x):
        if x.dim() != self.ndim + 1:
            raise ValueError(f"expected a {self.ndim + 1}-D input (with batch), got {x.dim()}-D")

    def extra_repr(self) -> str:
        return (f"{self.num_features}, ndim={self.ndim}, scale={self.weight is not None}, "
                f"center={self.bias is not None}, eps={self.eps}, momentum={self.momentum}")


@remember_args
class Pool2d(nn.Module):
    """Max or average pooling (`kind` 'max' | 'avg')."""

    def __init__(self, kind: str, kernel: int, stride: int, padding: int = 0,
                 ceil_mode: bool = False):
        super().__init__()
        if kind not in ("max", "avg"):
            raise ValueError(f"pool kind must be 'max' or 'avg', not {kind!r}")
        self.kind, self.kernel, self.stride = kind, kernel, stride
        self.padding, self.ceil_mode = padding, ceil_mode

    def forward(self, x):
        if self.kind == "max":
            return F.max_pool2d(x, self.kernel, self.stride, self.padding, ceil_mode=self.ceil_mode)
        return F.avg_pool2d(x, self.kernel, self.stride, self.padding, ceil_mode=self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"{self.kind}, kernel={self.kernel}, stride={self.stride}, "
                f"padding={self.padding}, ceil_mode={self.ceil_mode}")


@remember_args
class GlobalAvgPool(nn.Module):
    """Mean over height and width: N x C x H x W -> N x C."""

    def forward(self, x):
        return x.mean((2, 3))


@remember_args
class Merge(nn.Module):
    """Merge several inputs: 'concat' (channels), 'add' (element-wise), 'add_last' (add the
    second input onto the last channels of the first: MeliusNet's improvement block)."""

    def __init__(self, kind: str):
        super().__init__()
        if kind not in ("concat", "add", "add_last"):
            raise ValueError(f"merge kind must be concat, add or add_last, not {kind!r}")
        self.kind = kind

    def forward(self, *xs):
        if self.kind == "concat":
            return torch.cat(xs, 1)
        if self.kind == "add":
            out = xs[0]
            for x in xs[1:]:
                out = out + x
            return out
        x, y = xs
        keep = x.shape[1] - y.shape[1]
        return torch.cat((x[:, :keep], x[:, keep:] + y), 1)

    def extra_repr(self) -> str:
        return self.kind


@remember_args
class ChannelShuffle(nn.Module):
    """Interleave the channels of `groups` groups (ShuffleNet): (g, C/g) -> (C/g, g)."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        return x.unflatten(1, (self.groups, -1)).transpose(1, 2).flatten(1, 2)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


@remember_args
class Flatten(nn.Module):
    def forward(self, x):
        return x.flatten(1)


# -- post-2020 BNNs: learned thresholds and PReLUs, saturating activations, learned and
# -- computed per-channel scales, dropout, the fixed blur-pool filter

def per_channel(values: torch.Tensor, ndim: int) -> torch.Tensor:
    """A C vector shaped to broadcast over N x C (ndim 1) or N x C x H x W (ndim 3)."""
    return values.view(1, -1, 1, 1) if ndim == 3 else values.view(1, -1)


@remember_args
class RSign(nn.Module):
    """ReActNet's RSign: sign(x - threshold), a learned threshold per channel. `backward`
    'ste' (gradient where |x - t| <= clip) or 'approx' (Bi-Real Net's)."""

    def __init__(self, channels: int, ndim: int = 3, *, backward: str, clip: float):
        super().__init__()
        if backward not in ("ste", "approx"):
            raise ValueError(f"backward must be 'ste' or 'approx', not {backward!r}")
        self.ndim, self.backward, self.clip = ndim, backward, float(clip)
        self.threshold = nn.Parameter(torch.zeros(channels))

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.threshold)

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

    def __init__(self, channels: int, *, init: float):
        super().__init__()
        self.init = float(init)
        self.slope = nn.Parameter(torch.full((channels,), self.init))

    def reset_parameters(self) -> None:
        nn.init.constant_(self.slope, self.init)

    def forward(self, x):
        return F.prelu(x, self.slope)


@remember_args
class RPReLU(nn.Module):
    """ReActNet's RPReLU: PReLU(x - shift_in) + shift_out, all three learned per channel."""

    def __init__(self, channels: int, ndim: int = 3, *, init: float):
        super().__init__()
        self.ndim, self.init = ndim, float(init)
        self.shift_in = nn.Parameter(torch.zeros(channels))
        self.slope = nn.Parameter(torch.full((channels,), self.init))
        self.shift_out = nn.Parameter(torch.zeros(channels))

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.shift_in)
        nn.init.constant_(self.slope, self.init)
        nn.init.zeros_(self.shift_out)

    def forward(self, x):
        y = F.prelu(x - per_channel(self.shift_in, self.ndim), self.slope)
        return y + per_channel(self.shift_out, self.ndim)


@remember_args
class Hardtanh(nn.Module):
    def __init__(self, min_val: float, max_val: float):
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

    def __init__(self, p: float):
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

    def reset_parameters(self) -> None:
        for factors in (self.scale, self.scale_h, self.scale_w):
            if factors is not None:
                nn.init.ones_(factors)

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

    def __init__(self, channels: int, kernel: int, stride: int, padding: int):
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
