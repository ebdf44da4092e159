"""The ops of post-2020 BNNs: what each counts (by hand), what its PyTorch layer computes
(against the papers' formulas), and one-line spec errors for bad fields or shapes."""

from __future__ import annotations

import pytest
import torch

from mnas import api
from mnas.errors import ShapeError, SpecError
from mnas.ops.registry import get_op

C, H, W = 16, 6, 5


def _count(name, shape=(C, H, W), **fields):
    op = get_op(name)
    params = op.params(**fields)
    ins = (shape,)
    return op.count(params, ins, op.infer_shape(params, ins))


def _lower(name, shape=(C, H, W), **fields):
    op = get_op(name)
    params = op.params(**fields)
    return op.lower(params, (shape,), op.infer_shape(params, (shape,)))


@pytest.mark.parametrize("name, params", [("rsign", C), ("prelu", C), ("rprelu", 3 * C),
                                          ("hardtanh", 0), ("sigmoid", 0), ("dropout", 0),
                                          ("learned_scale", C)])
def test_elementwise_ops_hold_per_channel_parameters_and_cost_no_ops(name, params):
    counts = _count(name)
    assert counts.macs == 0 and counts.binary_params == 0 and counts.float_params == params
    module = _lower(name)
    assert sum(p.numel() for p in module.parameters()) == params


def test_spatial_learned_scale_has_a_factor_per_channel_row_and_column():
    assert _count("learned_scale", spatial=True).float_params == C + H + W
    x = torch.randn(2, C, H, W)
    module = _lower("learned_scale", spatial=True)
    with torch.no_grad():
        module.scale.copy_(torch.arange(C) + 1.0)
        module.scale_h.fill_(2.0)
        module.scale_w.copy_(torch.arange(W) + 1.0)
    expected = x * (torch.arange(C) + 1.0).view(1, C, 1, 1) * 2 * (torch.arange(W) + 1.0)
    assert torch.allclose(module(x), expected)


def test_rsign_binarises_around_a_learned_threshold():
    module = _lower("rsign", backward="approx")
    x = torch.randn(3, C, H, W, requires_grad=True)
    with torch.no_grad():
        module.threshold.copy_(torch.linspace(-1, 1, C))
    y = module(x)
    assert torch.equal(y, torch.where(x >= torch.linspace(-1, 1, C).view(1, C, 1, 1), 1.0, -1.0))
    y.sum().backward()
    # Bi-Real Net's gradient: 2 - 2|x - t| inside |x - t| < 1
    d = (x - module.threshold.view(1, C, 1, 1)).detach()
    assert torch.allclose(x.grad, (2 - 2 * d.abs()).clamp(min=0))
    assert torch.allclose(module.threshold.grad, -x.grad.sum((0, 2, 3)))


def test_rsign_on_vectors_and_its_one_bit_output():
    op = get_op("rsign")
    assert op.out_bits(op.params(), (32,)) == 1
    module = _lower("rsign", shape=(C,), clip=0.5)
    x = torch.randn(4, C)
    assert torch.equal(module(x), torch.where(x >= 0, 1.0, -1.0))


def test_prelu_and_rprelu_follow_the_papers():
    x = torch.randn(2, C, H, W)
    prelu = _lower("prelu", init=0.1)
    assert torch.allclose(prelu(x), torch.where(x >= 0, x, 0.1 * x))
    rprelu = _lower("rprelu", init=0.2)
    gamma, zeta = torch.randn(C), torch.randn(C)
    with torch.no_grad():
        rprelu.shift_in.copy_(gamma)
        rprelu.shift_out.copy_(zeta)
    g, z = gamma.view(1, C, 1, 1), zeta.view(1, C, 1, 1)
    # ReActNet eq. 4: x - gamma + zeta above gamma, beta (x - gamma) + zeta below
    assert torch.allclose(rprelu(x), torch.where(x > g, x - g + z, 0.2 * (x - g) + z))


def test_hardtanh_sigmoid_dropout_and_channel_mul():
    x = torch.randn(2, C, H, W) * 3
    assert torch.equal(_lower("hardtanh", min=-0.5, max=2.0)(x), x.clamp(-0.5, 2.0))
    assert torch.allclose(_lower("sigmoid")(x), 1 / (1 + torch.exp(-x)))
    drop = _lower("dropout", p=0.5)
    assert torch.equal(drop.eval()(x), x)
    kept = drop.train()(torch.ones(1000))
    assert set(kept.unique().tolist()) <= {0.0, 2.0} and 300 < int(kept.sum()) < 1700
    gate = torch.rand(2, C)
    mul = get_op("channel_mul")
    assert mul.infer_shape(mul.params(), ((C, H, W), (C,))) == (C, H, W)
    assert torch.equal(mul.lower(mul.params(), ((C, H, W), (C,)), (C, H, W))(x, gate),
                       x * gate[:, :, None, None])


def test_blurpool_is_a_fixed_binomial_depthwise_conv():
    counts = _count("blurpool", shape=(C, 55, 55))
    # 55 -> 28 at stride 2 with padding 1 (QuickNet's first transition)
    assert get_op("blurpool").infer_shape(get_op("blurpool").params(), ((C, 55, 55),)) == \
        (C, 28, 28)
    assert counts.float_params == C * 9 and counts.float_macs == C * 9 * 28 * 28
    module = _lower("blurpool", shape=(C, 55, 55))
    (kernel,) = list(module.parameters())
    assert not kernel.requires_grad
    binomial = torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]]) / 16
    assert torch.allclose(kernel[3, 0], binomial)
    x = torch.randn(1, C, 55, 55)
    assert torch.allclose(module(x)[0, :, 5, 7], (x[0, :, 9:12, 13:16] * kernel[:, 0]).sum((1, 2)))
    five = _lower("blurpool", shape=(C, 8, 8), kernel=5, stride=1)
    row = torch.tensor([1., 4., 6., 4., 1.])
    assert torch.allclose(next(five.parameters())[0, 0], torch.outer(row, row) / 256)


def test_conv_pads_with_its_pad_value():
    conv = get_op("conv2d")
    params = conv.params(out=1, kernel=3, pad_value=1.0)
    module = conv.lower(params, ((1, 4, 4),), (1, 4, 4))
    with torch.no_grad():
        module.weight.fill_(1.0)
    y = module(torch.zeros(1, 1, 4, 4))[0, 0]
    # each output counts the padded (+1) positions its 3x3 window covers
    assert y.tolist() == [[5, 3, 3, 5], [3, 0, 0, 3], [3, 0, 0, 3], [5, 3, 3, 5]]
    zero = conv.lower(conv.params(out=1, kernel=3), ((1, 4, 4),), (1, 4, 4))
    assert "pad_value" not in zero.init_args[1]  # default specs export as before


def test_dense_counts_under_every_convention_the_classifier_does_not(tmp_path):
    path = tmp_path / "se.yaml"
    path.write_text("""name: se
input: [16, 4, 4]
layers:
  - {name: pool, op: global_avgpool}
  - {name: squeeze, op: dense, out: 4, bias: false}
  - {name: excite, op: dense, out: 16}
  - {name: gate, op: sigmoid}
  - {name: scaled, op: channel_mul, inputs: [input, gate]}
  - {name: pool2, op: global_avgpool}
  - {name: fc, op: linear, out: 10}
""")
    paper, larq = api.cost(path).totals, api.cost(path, convention="larq").totals
    assert paper.flops == 16 * 4 + 4 * 16
    assert larq.flops == paper.flops + 16 * 10
    assert paper.params == 16 * 4 + (4 * 16 + 16) + (16 * 10 + 10)


@pytest.mark.parametrize("layer, message", [
    ("{name: s, op: rsign, backward: exact}", "layers[0].backward: must be one of ste, approx, "
                                              "got 'exact'"),
    ("{name: h, op: hardtanh, min: 1, max: 1}", "layers[0].max: must be above min (1.0), got 1.0"),
    ("{name: d, op: dropout, p: 1}", "layers[0].p: must be in [0, 1), got 1.0"),
    ("{name: b, op: blurpool, stride: 0}", "layers[0].stride: must be positive, got 0"),
])
def test_bad_fields_are_one_line_spec_errors(tmp_path, layer, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\ninput: [4, 8, 8]\nlayers:\n  - {layer}\n")
    with pytest.raises(SpecError) as err:
        api.graph(path)
    assert str(err.value).endswith(message) and str(err.value).startswith(f"{path}:4:")


@pytest.mark.parametrize("layers, message", [
    ("  - {name: g, op: global_avgpool}\n  - {name: m, op: channel_mul, inputs: [input, g]}\n"
     "  - {name: gg, op: dense, out: 3, inputs: [g]}\n"
     "  - {name: bad, op: channel_mul, inputs: [input, gg]}\n",
     "layer 'bad': channel_mul needs a gate of one value per channel of the first input: "
     "4x8x8 and 3 (from layers 'input' and 'gg')"),
    ("  - {name: f, op: flatten}\n  - {name: s, op: learned_scale, spatial: true}\n",
     "layer 's': learned_scale with spatial: true expects a CxHxW input, got 256"),
])
def test_bad_shapes_name_the_layers(tmp_path, layers, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\ninput: [4, 8, 8]\nlayers:\n{layers}")
    with pytest.raises(ShapeError) as err:
        api.cost(path)
    assert message in str(err.value)


@pytest.mark.parametrize("name, fields, starts", [
    ("rsign", {}, {"threshold": 0.0}), ("prelu", {"init": 0.1}, {"slope": 0.1}),
    ("rprelu", {"init": 0.2}, {"shift_in": 0.0, "slope": 0.2, "shift_out": 0.0}),
    ("learned_scale", {"spatial": True}, {"scale": 1.0, "scale_h": 1.0, "scale_w": 1.0}),
])
def test_reset_parameters_restores_the_starting_values(name, fields, starts):
    module = _lower(name, **fields)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(3.0)
    module.reset_parameters()
    for param, value in starts.items():
        assert torch.all(getattr(module, param) == value), param
