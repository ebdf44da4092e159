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

This module imports only torch (no mnas), so `mnas export --format python` copies its source
into a standalone file.
"""

from __future__ import annotations

import functools

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
    """32-bit convolution, He-initialised."""

    def reset_parameters(self) -> None:
        he_normal_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


@remember_args
class BinaryConv2d(BinaryWeights, Conv2d):
    """Convolution with sign(weights) in the forward pass; the input is expected binarised by
    a preceding `Sign`. `weight` holds the 32-bit latent values."""

    def forward(self, x):
        return self._conv_forward(x, self.forward_weight(), self.bias)


@remember_args
class ScaledBinaryConv2d(BinaryConv2d):
    """Binary convolution whose signed weights are scaled, per output channel, by the mean
    |w| of the latent weights (Bi-Real Net's magnitude-aware weights; the scale is detached,
    as in the Bi-Real authors' release, so the weights' gradient is the plain
    straight-through one times the scale)."""

    def forward(self, x):
        if not self.binary_weights:
            return self._conv_forward(x, self.weight, self.bias)
        scale = self.weight.detach().abs().mean(dim=(1, 2, 3), keepdim=True)
        signed = signed_weight(self.weight)
        return self._conv_forward(x, signed * scale, self.bias)


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
        return F.linear(x, self.forward_weight(), self.bias)


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
