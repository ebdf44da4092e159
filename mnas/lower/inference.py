"""Inference forms of a lowered network: the same graph, BatchNorm on running statistics,
and binary layers rebuilt from the signs of their latent weights, computed once.

Forms (`inference_module(graph, module, form)`):
- `signed`: binary weights as +-1 float constants; the float simulation as a deployed float
  runtime runs it (the baseline `mnas bench` compares against). The state dict holds the
  signs 1 bit each (`weight_bits`), as in every form.
- `bits`: binary weights stored 1 bit each (uint8) and expanded to +-1 inside the forward by
  plain arithmetic, so TorchScript and ONNX files hold signs, not latent floats, at 1/32 of
  the size; runtimes fold the expansion into constants when they load the graph.
- `kernels`: binary layers whose input is 1-bit (`mnas.ir.precision`) run on the bit-packed
  kernels (mnas.kernels), and a `sign` that feeds only them packs its output; a binary layer
  with a 32-bit input keeps the `signed` form, as its input is not +-1.

All three compute exactly what the lowered module computes in eval mode: the +-1 products
sum to integers that float represents exactly, and scale and bias are applied after the sum
in both (see `mnas.ops.layers.BinaryConv2d`)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import fx, nn

from mnas.ir.graph import Graph, Node
from mnas.ir.precision import infer_bits, input_bits
from mnas.kernels.bits import pack_bits, unpack_bits
from mnas.lower.torch import assemble
from mnas.ops import layers
from mnas.ops.bits import ONE

FORMS = ("signed", "bits", "kernels")
SIGN_OPS = ("sign", "approx_sign")


class SignedWeights(nn.Module):
    """Binary weights kept as signs: 1 bit each in the state dict (`weight_bits`), +-1 floats
    for the forward (`weight`, rebuilt when a state dict is loaded)."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight_shape = tuple(weight.shape)
        self.store(layers.binarize(weight.detach()))

    def store(self, signed: torch.Tensor) -> None:
        self.register_buffer("weight_bits", pack_bits(signed < 0))
        self.register_buffer("weight", signed, persistent=False)

    def expand(self) -> torch.Tensor:
        return 1.0 - 2.0 * unpack_bits(self.weight_bits, self.weight_shape)

    def signed(self) -> torch.Tensor:
        return self.weight

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if "weight" in self._buffers:
            self.weight = self.expand()


class BitsOnly:
    """Mixin for the `bits` form: no float copy; the forward expands the bits each time."""

    def store(self, signed: torch.Tensor) -> None:
        self.register_buffer("weight_bits", pack_bits(signed < 0))

    def signed(self) -> torch.Tensor:
        return self.expand()


class SignedBinaryConv2d(SignedWeights):
    """A binary convolution with its signs as constants; the border padded as the lowered
    conv pads it (zeros, or `pad_value`)."""

    def __init__(self, conv: layers.BinaryConv2d):
        super().__init__(conv.weight)
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.groups, self.pad_value, self.border = conv.groups, conv.pad_value, conv.border
        self.register_buffer("scale", conv.weight_scale())
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().clone())

    def forward(self, x):
        if self.pad_value:
            ph, pw = self.border
            x = F.pad(x, (pw, pw, ph, ph), value=self.pad_value)
        y = F.conv2d(x, self.signed(), None, self.stride, self.padding, self.dilation,
                     self.groups)
        if self.scale is not None:
            y = y * self.scale.reshape(1, -1, 1, 1)
        return layers.add_bias(y, self.bias)


class SignedBinaryLinear(SignedWeights):
    def __init__(self, linear: layers.BinaryLinear):
        super().__init__(linear.weight)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())

    def forward(self, x):
        return layers.add_bias(F.linear(x, self.signed()), self.bias)


class BitsBinaryConv2d(BitsOnly, SignedBinaryConv2d):
    pass


class BitsBinaryLinear(BitsOnly, SignedBinaryLinear):
    pass


def is_binary(node: Node) -> bool:
    """A layer with binary weights (conv2d, linear, dense with `binary: true`)."""
    return bool(getattr(node.params, "binary", False))


def on_kernels(graph: Graph, node: Node, bits: dict[str, int]) -> bool:
    """Whether the `kernels` form runs this binary layer on the kernels: its input is +-1
    (1-bit by `infer_bits`: a sign-like op, maybe through max pooling or concatenation) and
    its border, if padded, is padded with 0 or +-1."""
    return (is_binary(node) and input_bits(node, bits) == ONE
            and getattr(node.params, "pad_value", 0) in (0, 1, -1))


def packs(graph: Graph, node: Node, bits: dict[str, int]) -> bool:
    """Whether the `kernels` form turns this sign into a `PackSigns`: every user runs on the
    kernels, and all split the channels into the same groups (other sign-like ops, RSign's
    threshold say, keep their module; the binary layer then packs the +-1 values)."""
    users = [graph[u] for u in graph.users[node.name]]
    return (node.op in SIGN_OPS and node.name != graph.output.name and bool(users)
            and all(on_kernels(graph, u, bits) for u in users)
            and len({getattr(u.params, "groups", 1) for u in users}) == 1)


def _rebuild(graph: Graph, node: Node, module: nn.Module, form: str, channels_last: bool,
             bits: dict[str, int]) -> nn.Module:
    if form == "kernels":
        from mnas.kernels.modules import PackedBinaryConv2d, PackedBinaryLinear, PackSigns
        if packs(graph, node, bits):
            return PackSigns(getattr(graph[graph.users[node.name][0]].params, "groups", 1))
        if on_kernels(graph, node, bits):
            if isinstance(module, layers.BinaryLinear):
                return PackedBinaryLinear(module.weight, module.bias)
            return PackedBinaryConv2d(module.weight, module.stride, module.border,
                                      module.dilation, module.groups, module.weight_scale(),
                                      module.bias, module.pad_value, channels_last)
    if is_binary(node):
        one_bit = form == "bits"
        if isinstance(module, layers.BinaryLinear):
            return (BitsBinaryLinear if one_bit else SignedBinaryLinear)(module)
        return (BitsBinaryConv2d if one_bit else SignedBinaryConv2d)(module)
    return copy.deepcopy(module)


def inference_module(graph: Graph, module: nn.Module, form: str = "signed",
                     channels_last: bool = False) -> fx.GraphModule:
    """`module` (lowered from `graph`, trained or not) in an inference form, in eval mode;
    `module` itself is left as it is. With `channels_last` every image tensor is laid out
    channels-last, which PyTorch's CPU pooling and grouped convolutions run several times
    faster; the 32-bit layers' results may then differ from the contiguous layout's in the
    last bits (the binary layers' never do), so only forms with the same layout agree to
    the bit."""
    if form not in FORMS:
        raise ValueError(f"inference form must be one of {', '.join(FORMS)}, not {form!r}")
    bits = infer_bits(graph)
    with torch.no_grad():
        modules = {node.name: _rebuild(graph, node, module.get_submodule(node.name), form,
                                       channels_last, bits)
                   for node in graph.nodes[1:]}
    return assemble(graph, modules, channels_last).eval()
