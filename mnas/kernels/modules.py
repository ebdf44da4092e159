"""Inference modules that run binary layers on the bit-packed kernels.

`PackSigns` replaces a `sign` layer whose outputs only binary layers read: it outputs packed
words instead of +-1 floats. `PackedBinaryConv2d` / `PackedBinaryLinear` hold their weights'
signs packed, in the kernels' layout (`packed_weight`, rebuilt on load) and, in the state
dict, as the compact 1 bit per weight of `mnas.kernels.bits` (`weight_bits`);
they accept packed words or +-1 floats."""

from __future__ import annotations

import math

import torch
from torch import nn

from mnas.kernels import ops
from mnas.kernels.bits import pack_bits, unpack_bits


class PackSigns(nn.Module):
    def __init__(self, groups: int = 1):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        return ops.pack_signs(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class PackedBinaryConv2d(nn.Module):
    """A binary convolution on the kernels: sign(weight) packed, `scale` (Bi-Real Net's mean
    |w| per output channel) and `bias` kept in 32 bits, the border padded with `pad_value`
    (0, 1 or -1); the output in channels-last memory if `channels_last`."""

    def __init__(self, weight: torch.Tensor, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                 groups: int = 1, scale: torch.Tensor | None = None,
                 bias: torch.Tensor | None = None, pad_value: float = 0.0,
                 channels_last: bool = False):
        super().__init__()
        self.pad_value, self.channels_last = float(pad_value), channels_last
        self.weight_shape = tuple(weight.shape)
        self.stride, self.padding, self.dilation = tuple(stride), tuple(padding), tuple(dilation)
        self.groups = groups
        self.register_buffer("weight_bits", pack_bits(~(weight.detach() >= 0)))
        self.register_buffer("packed_weight", ops.pack_weight(weight.detach(), groups),
                             persistent=False)
        self.register_buffer("scale", None if scale is None else scale.detach().clone())
        self.register_buffer("bias", None if bias is None else bias.detach().clone())

    @property
    def in_channels(self) -> int:
        return self.weight_shape[1] * self.groups

    @property
    def out_channels(self) -> int:
        return self.weight_shape[0]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        signs = 1.0 - 2.0 * unpack_bits(self.weight_bits, self.weight_shape).float()
        self.packed_weight = ops.pack_weight(signs, self.groups)

    def forward(self, x):
        if x.dtype != torch.int64:
            x = ops.pack_signs(x, self.groups)
        return ops.binary_conv2d(x, self.packed_weight, self.in_channels, self.out_channels,
                                 self.weight_shape[2:], self.stride, self.padding,
                                 self.dilation, self.scale, self.bias, self.pad_value,
                                 self.channels_last)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel={self.weight_shape[2:]}, "
                f"stride={self.stride}, padding={self.padding}, groups={self.groups}, "
                f"scale={self.scale is not None}, bias={self.bias is not None}, "
                f"{math.prod(self.weight_shape)} weights in {self.weight_bits.numel()} bytes")


class PackedBinaryLinear(PackedBinaryConv2d):
    """A binary fully connected layer on the kernels (a 1x1 convolution of a 1x1 image)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        super().__init__(weight[:, :, None, None], bias=bias)

    def forward(self, x):
        return super().forward(x).flatten(1)
