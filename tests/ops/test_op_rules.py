"""Shape rules, counts and lowering arguments of the counting ops, against figures worked out
by hand (PyTorch's documented output-size formula for conv and pooling), including the cases
the bundled networks never reach: default padding of 5x5 / 7x7 kernels, a window that does
not fit, inputs of the wrong rank, and errors that name the layer the bad input came from."""

from __future__ import annotations

import pytest

from mnas import api
from mnas.errors import ShapeError
from mnas.ops.registry import ShapeRuleError
from mnas.ops.shapes import round_half_up, window_out

HEAD = "name: net\ninput: [4, 12, 12]\nlayers:\n"


def _net(tmp_path, body: str, head: str = HEAD):
    path = tmp_path / "net.yaml"
    path.write_text(head + body)
    return path


@pytest.mark.parametrize("kernel,dilation,stride,out", [
    (1, 1, 1, 12), (3, 1, 1, 12), (5, 1, 1, 12), (7, 1, 1, 12),   # default padding: 'same'
    (5, 2, 1, 12), (3, 3, 1, 12),                                  # dilation * (k // 2)
    (7, 1, 2, 6), (5, 1, 3, 4),               # (12 + 2p - k) // s + 1: (12+6-7)//2+1, (12+4-5)//3+1
])
def test_conv_default_padding_keeps_the_size(tmp_path, kernel, dilation, stride, out):
    path = _net(tmp_path, f"  - {{name: c, op: conv2d, out: 8, kernel: {kernel}, "
                          f"dilation: {dilation}, stride: {stride}}}\n")
    layer = api.cost(path).layers[-1]
    assert layer.shape == (8, out, out)
    assert layer.macs == 8 * 4 * kernel * kernel * out * out
    assert type(layer.macs) is int and type(layer.params) is int


def test_grouped_counts_are_integers(tmp_path):
    """4 input channels in 2 groups: 8 x 2 x 9 weights; counts stay integers (JSON output
    prints them as such). The binary conv reads the 32-bit input (no sign before it), so by
    Larq's rule its MACs are 32-bit."""
    path = _net(tmp_path, "  - {name: c, op: conv2d, out: 8, kernel: 3, groups: 2}\n"
                          "  - {name: b, op: conv2d, out: 8, kernel: 3, groups: 4, binary: true}\n")
    with pytest.warns(Warning, match="reads a 32-bit input"):
        c, b = api.cost(path).layers[1:]
    assert (c.params, c.macs, b.binary_params, b.bops, b.flops) == \
        (144, 144 * 144, 8 * 2 * 9, 0, 144 * 144)
    assert all(type(v) is int for v in (c.params, c.macs, c.flops, b.binary_params, b.flops))


@pytest.mark.parametrize("body,message", [
    ("  - {name: c, op: conv2d, out: 8, kernel: 3, groups: 3}\n",
     "layer 'c': groups=3 does not divide the 4 input channels (input from layer 'input', "
     "shape 4x12x12)"),
    ("  - {name: c, op: conv2d, out: 6, kernel: 3, groups: 4}\n",
     "layer 'c': groups=4 does not divide the 6 output channels"),
    ("  - {name: c, op: conv2d, out: 8, kernel: 13, padding: 0}\n",
     "layer 'c': window 13 (dilation 1, padding 0) does not fit input size 12 (input from "
     "layer 'input', shape 4x12x12)"),
    ("  - {name: c, op: conv2d, out: 8, kernel: 5, dilation: 3, padding: 0}\n",
     "window 5 (dilation 3, padding 0) does not fit input size 12"),
    ("  - {name: fc, op: linear, out: 10}\n",
     "layer 'fc': a fully connected layer expects a vector, got 4x12x12; add global_avgpool or flatten before it "
     "(input from layer 'input', shape 4x12x12)"),
    ("  - {name: p, op: global_avgpool}\n  - {name: bn, op: batchnorm}\n  - {name: f, op: flatten}\n"
     "  - {name: c, op: conv2d, out: 8, kernel: 1}\n",
     "layer 'c': conv2d expects a CxHxW input, got 4 (input from layer 'f', shape 4)"),
])
def test_shape_errors_name_the_layer_and_its_input(tmp_path, body, message):
    with pytest.raises(ShapeError) as err:
        api.cost(_net(tmp_path, body))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_batchnorm_takes_images_or_vectors_only():
    """The shape rule itself (a spec's input is always CxHxW, so only other ops could feed
    it a 2-D or 4-D tensor)."""
    from mnas.ops.registry import get_op
    bn = get_op("batchnorm")
    params = bn.params()
    assert bn.infer_shape(params, ((4, 12, 12),)) == (4, 12, 12)
    assert bn.infer_shape(params, ((48,),)) == (48,)
    for shape in ((4, 12), (4, 2, 2, 2)):
        with pytest.raises(ShapeRuleError, match="batchnorm expects CxHxW or F") as err:
            bn.infer_shape(params, (shape,))
        assert err.value.inputs == (0,)          # the error names the layer feeding it


@pytest.mark.parametrize("size,kernel,stride,padding,dilation,ceil,out", [
    (12, 3, 2, 1, 1, False, 6),     # (12 + 2 - 3) // 2 + 1
    (12, 3, 2, 0, 1, True, 6),      # ceil((12 - 3) / 2) + 1
    (8, 3, 2, 0, 1, True, 4),       # ceil((8 - 3) / 2) + 1
    (7, 2, 2, 0, 1, True, 4),       # ceil((7 - 2) / 2) + 1; the last window starts at 6 < 7
    (6, 2, 2, 1, 1, True, 4),       # ceil((6 + 2 - 2) / 2) + 1; starts at 6 < 6 + 1: kept
    (5, 2, 2, 1, 1, True, 3),       # ceil((5 + 2 - 2) / 2) + 1 = 4 starts at 6 >= 5 + 1: dropped
    (12, 3, 1, 0, 2, False, 8),     # 12 - 2 * (3 - 1)
    (3, 3, 1, 0, 1, False, 1),      # exactly fits
])
def test_window_out_is_pytorchs_formula(size, kernel, stride, padding, dilation, ceil, out):
    assert window_out(size, kernel, stride, padding, dilation, ceil) == out
    import torch
    x = torch.zeros(1, 1, size, size)
    if dilation == 1:
        pool = torch.nn.functional.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil)
        assert pool.shape[-1] == out


def test_window_that_does_not_fit_names_its_input():
    with pytest.raises(ShapeRuleError) as err:
        window_out(2, 3, 1, 0)
    assert err.value.inputs == (0,)
    assert window_out(1, 3, 1, 1) == 1                  # padding makes it fit


@pytest.mark.parametrize("x,digits,rounded", [
    (2.5, None, 3), (3.5, None, 4), (-2.5, None, -3), (2.4999, None, 2), (7.5, None, 8),
    (0.125, 2, 0.13), (-0.125, 2, -0.13), (1.005, 1, 1.0), (0.0, None, 0), (0.5, None, 1),
    (0.75, 1, 0.8), (-0.5, None, -1),
])
def test_round_half_up_rounds_halves_away_from_zero(x, digits, rounded):
    assert round_half_up(x, digits) == rounded
    assert type(round_half_up(x)) is int


def test_batchnorm_lowering_keeps_eps_and_momentum(tmp_path):
    from mnas.lower.torch import to_module
    path = _net(tmp_path, "  - {name: bn, op: batchnorm, eps: 0.001, momentum: 0.25}\n")
    bn = to_module(api.graph(path)).bn
    assert (bn.eps, bn.momentum, bn.num_features, bn.ndim) == (0.001, 0.25, 4, 3)


def test_binary_conv_bias_is_a_float_parameter(tmp_path):
    """A binary conv's bias stays 32-bit: 8 x 4 x 9 one-bit weights and 8 float biases."""
    path = _net(tmp_path, "  - {name: b, op: conv2d, out: 8, kernel: 3, binary: true, bias: true}\n")
    layer = api.cost(path).layers[-1]
    assert (layer.binary_params, layer.float_params, layer.params) == (288, 8, 296)
    assert layer.size_bits == 288 + 8 * 32


@pytest.mark.parametrize("digits", [309, -309, 400])
def test_round_half_up_refuses_digits_a_float_cannot_scale_by(digits):
    with pytest.raises(ValueError, match=f"within -308..308, got {digits}"):
        round_half_up(1.5, digits)
    assert round_half_up(1.5, 308) == 1.5 and round_half_up(1.5, -308) == 0.0


@pytest.mark.parametrize("scale,center,params", [
    (True, True, 12), (True, False, 6), (False, True, 6), (False, False, 0)])
def test_batchnorm_counts_gamma_and_beta_as_it_has_them(scale, center, params):
    """6 channels: a learned gamma and beta each hold 6 values; the channels count apart."""
    from mnas.ops.registry import Counts, get_op
    bn = get_op("batchnorm")
    counted = bn.count(bn.params(scale=scale, center=center), ((6, 4, 4),), (6, 4, 4))
    assert counted == Counts(norm_params=params, norm_channels=6)
