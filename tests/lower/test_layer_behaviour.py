"""What each layer computes, on inputs small enough to work out by hand: the border a conv
pads with, a binary conv's bias, the 32-bit step of the two-step schedule, per-channel values
on images (the layers' default `ndim`), and the channels-last assembly the GPU path uses."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mnas.lower.torch import assemble, lower_node_modules, to_module
from mnas.ops.layers import (BinaryConv2d, Conv2d, LearnedScale, RPReLU, RSign,
                             ScaledBinaryConv2d)
from mnas.spec.expand import build_graph
from mnas.spec.load import load_spec


def _ones_conv(cls, **kwargs):
    conv = cls(1, 1, 3, padding=1, **kwargs)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        if conv.bias is not None:
            conv.bias.fill_(0.5)
    return conv


def test_a_conv_padded_with_ones_sees_them_at_the_border():
    """3x3 ones kernel over a zero 3x3 image padded with 1: a corner sees 5 border cells, an
    edge 3, the centre none."""
    conv = _ones_conv(Conv2d, bias=False, pad_value=1.0)
    y = conv(torch.zeros(1, 1, 3, 3))[0, 0]
    assert y.tolist() == [[5.0, 3.0, 5.0], [3.0, 0.0, 3.0], [5.0, 3.0, 5.0]]
    assert "padding=(1, 1), pad_value=1.0" in repr(conv)
    zero = _ones_conv(Conv2d, bias=False)
    assert zero(torch.zeros(1, 1, 3, 3)).abs().sum().item() == 0.0


def test_a_binary_conv_adds_its_bias_per_channel():
    """Two output channels with biases 0.5 and -2 over an all +1 input: each 3x3 window sums
    9 (centre) of sign(1) = +1 weights, minus the zero-padded cells at the border."""
    conv = BinaryConv2d(1, 2, 3, padding=1, bias=True)
    with torch.no_grad():
        conv.weight.fill_(0.3)
        conv.bias.copy_(torch.tensor([0.5, -2.0]))
    y = conv(torch.ones(1, 1, 3, 3))
    window = torch.tensor([[4.0, 6.0, 4.0], [6.0, 9.0, 6.0], [4.0, 6.0, 4.0]])
    assert torch.equal(y[0, 0], window + 0.5) and torch.equal(y[0, 1], window - 2.0)


def test_a_scaled_binary_conv_in_its_32_bit_step_is_a_plain_conv():
    """With `binary_weights` off (step 1 of the two-step schedule) the latent weights and the
    bias are used as they are, with no scale."""
    torch.manual_seed(0)
    conv = ScaledBinaryConv2d(2, 3, 3, padding=1, bias=True)
    with torch.no_grad():
        conv.bias.copy_(torch.tensor([1.0, -1.0, 0.25]))
    conv.binary_weights = False
    x = torch.randn(2, 2, 4, 4)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=1))
    conv.binary_weights = True
    scale = conv.weight.abs().mean(dim=(1, 2, 3)).reshape(1, -1, 1, 1)
    expected = F.conv2d(x, torch.where(conv.weight >= 0, 1.0, -1.0), None, padding=1) * scale
    assert torch.allclose(conv(x), expected + conv.bias.reshape(1, -1, 1, 1))


def test_per_channel_values_apply_to_image_channels_by_default():
    """Thresholds 0, 1, 2 on a 1.5-valued 3-channel image: +1, +1, -1; shifts and scales of
    channel c are c + 1."""
    x = torch.full((1, 3, 2, 2), 1.5)
    sign = RSign(3, backward="ste", clip=1.3)
    rprelu = RPReLU(3, init=0.25)
    scale = LearnedScale(3)
    with torch.no_grad():
        sign.threshold.copy_(torch.tensor([0.0, 1.0, 2.0]))
        rprelu.shift_out.copy_(torch.tensor([1.0, 2.0, 3.0]))
        scale.scale.copy_(torch.tensor([1.0, 2.0, 3.0]))
    assert sign(x)[0, :, 0, 0].tolist() == [1.0, 1.0, -1.0]
    assert rprelu(x)[0, :, 1, 1].tolist() == [2.5, 3.5, 4.5]
    assert scale(x)[0, :, 1, 0].tolist() == [1.5, 3.0, 4.5]


IMAGE = """
name: tiny
input: [2, 4, 4]
layers:
  - {name: conv, op: conv2d, out: 3, kernel: 3}
  - {name: pool, op: global_avgpool}
"""


def test_channels_last_assembly_changes_the_layout_not_the_result(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(IMAGE)
    graph = build_graph(load_spec(path))
    plain = to_module(graph)
    assert [n.op for n in plain.graph.nodes] == ["placeholder", "call_module", "call_module",
                                                 "output"]
    modules = lower_node_modules(graph)
    fast = assemble(graph, modules, channels_last=True)
    seen = []
    modules["conv"].register_forward_pre_hook(lambda m, args: seen.append(
        args[0].is_contiguous(memory_format=torch.channels_last) and
        not args[0].is_contiguous()))
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(2, 2, 4, 4)
    out = fast(x)
    assert seen == [True]
    assert out.is_contiguous() and torch.allclose(out, plain(x))
    assert [(n.op, n.target) for n in fast.graph.nodes if n.op == "call_method"] == \
        [("call_method", "contiguous"), ("call_method", "contiguous")]

