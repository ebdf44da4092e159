"""The binarising layers do what the paper says: sign(0) = +1, the activation gradient passes
only where |x| <= clip, binary layers see +-1 weights and pass their gradient to the latent
32-bit weights unchanged."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mnas.ops.layers import (ApproxSign, BatchNorm, BinaryConv2d, BinaryLinear,
                               ChannelShuffle, Merge, ScaledBinaryConv2d, Sign)


def test_sign_forward_is_plus_minus_one_with_zero_positive():
    x = torch.tensor([-2.0, -1e-8, -0.0, 0.0, 1e-8, 3.0])
    assert Sign()(x).tolist() == [-1.0, -1.0, 1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("clip", [1.3, 1.0, 0.5])
def test_sign_gradient_is_zero_outside_the_clip(clip):
    x = torch.tensor([-3.0, -clip - 0.01, -clip, -0.2, 0.0, 0.2, clip, clip + 0.01, 5.0],
                     requires_grad=True)
    upstream = torch.arange(1.0, 10.0)
    Sign(clip)(x).backward(upstream)
    inside = (x.detach().abs() <= clip).float()
    assert torch.equal(x.grad, upstream * inside)
    assert x.grad.tolist() == [0, 0, 3, 4, 5, 6, 7, 0, 0]


def test_sign_default_clip_is_the_papers():
    x = torch.tensor([1.29, 1.31], requires_grad=True)
    Sign()(x).sum().backward()
    assert x.grad.tolist() == [1.0, 0.0]


def test_binary_conv_uses_the_sign_of_latent_weights_and_passes_their_gradient():
    torch.manual_seed(0)
    conv = BinaryConv2d(4, 6, 3, padding=1, groups=2, bias=False)
    x = torch.randn(2, 4, 5, 5).sign()
    out = conv(x)
    w_bin = torch.where(conv.weight >= 0, 1.0, -1.0).detach().requires_grad_()
    ref = F.conv2d(x, w_bin, padding=1, groups=2)
    assert torch.equal(out, ref)
    upstream = torch.randn_like(out)
    out.backward(upstream)
    ref.backward(upstream)
    assert torch.allclose(conv.weight.grad, w_bin.grad)
    assert conv.bias is None


def test_binary_linear_uses_the_sign_of_latent_weights():
    torch.manual_seed(0)
    lin = BinaryLinear(8, 3, bias=True)
    x = torch.randn(4, 8)
    expected = x @ torch.where(lin.weight >= 0, 1.0, -1.0).T + lin.bias
    assert torch.allclose(lin(x), expected)


def test_he_initialisation():
    torch.manual_seed(0)
    conv = BinaryConv2d(256, 256, 3)
    fan_in = 256 * 9
    assert abs(conv.weight.std().item() / (2 / fan_in) ** 0.5 - 1) < 0.02


def test_batchnorm_without_scale_or_center_has_only_the_other_parameter():
    assert [n for n, _ in BatchNorm(5, scale=False).named_parameters()] == ["bias"]
    assert [n for n, _ in BatchNorm(5, 1, center=False).named_parameters()] == ["weight"]
    bn = BatchNorm(5, scale=False, center=False)
    assert list(bn.parameters()) == []
    x = torch.randn(8, 5, 3, 3)
    assert torch.allclose(bn(x), F.batch_norm(x, None, None, training=True), atol=1e-6)


def test_batchnorm_state_dict_matches_torch():
    assert set(BatchNorm(4).state_dict()) == set(torch.nn.BatchNorm2d(4).state_dict())


def test_add_last_adds_onto_the_last_channels():
    x, y = torch.zeros(1, 5, 2, 2), torch.ones(1, 2, 2, 2)
    out = Merge("add_last")(x, y)
    assert out[0, :, 0, 0].tolist() == [0, 0, 0, 1, 1]


def test_channel_shuffle_interleaves_groups():
    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert ChannelShuffle(2)(x).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_approx_sign_has_bi_reals_gradient():
    x = torch.tensor([-1.5, -1.0, -0.5, -0.0, 0.25, 0.75, 1.0, 2.0], requires_grad=True)
    out = ApproxSign()(x)
    assert out.tolist() == [-1, -1, -1, 1, 1, 1, 1, 1]
    out.sum().backward()
    assert x.grad.tolist() == [0, 0, 1, 2, 1.5, 0.5, 0, 0]


def test_scaled_binary_conv_scales_signed_weights_by_mean_magnitude():
    torch.manual_seed(0)
    conv = ScaledBinaryConv2d(4, 3, 3, padding=1, bias=False)
    x = torch.randn(2, 4, 5, 5).sign()
    w = conv.weight.detach()
    expected = F.conv2d(x, torch.where(w >= 0, 1.0, -1.0) * w.abs().mean((1, 2, 3), keepdim=True),
                        padding=1)
    assert torch.allclose(conv(x), expected, atol=1e-6)
    assert sum(p.numel() for p in conv.parameters()) == 3 * 4 * 9  # the scale adds none
