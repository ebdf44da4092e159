"""Details of the lowered layers that the network-level tests do not reach: dtypes other than
float32, initial values after re-initialisation, and the plain forward used while tracing
(autograd Functions do not serialise, so a traced graph must not contain them)."""

from __future__ import annotations

import pytest
import torch

from mnas.ops.layers import (ApproxSign, BatchNorm, BinaryConv2d, BinaryLinear, Conv2d, Linear,
                             RSign, ScaledBinaryConv2d, Sign, binarize)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_binarize_keeps_the_input_dtype(dtype):
    x = torch.tensor([-1.5, -0.0, 0.0, 2.0], dtype=dtype)
    out = binarize(x)
    assert out.dtype == dtype and out.tolist() == [-1, 1, 1, 1]
    assert Sign()(x).dtype == dtype and ApproxSign()(x).dtype == dtype


@pytest.mark.parametrize("module", [Conv2d(2, 3, 3, bias=True), BinaryConv2d(2, 3, 3, bias=True),
                                    Linear(4, 3), BinaryLinear(4, 3)],
                         ids=["conv", "binary-conv", "linear", "binary-linear"])
def test_biases_start_at_zero_and_weights_he_normal(module):
    """layers.py: biases start at zero; torch's own default would be uniform, not zero."""
    with torch.no_grad():
        module.bias.fill_(1.0)
    module.reset_parameters()
    assert torch.count_nonzero(module.bias) == 0
    assert torch.count_nonzero(module.weight) == module.weight.numel()


def test_he_normal_spread_is_fan_in_with_relu_gain():
    """std = sqrt(2 / fan_in) (He et al.); fan-out would give sqrt(2 / (64 * 9)) here."""
    torch.manual_seed(0)
    conv = Conv2d(16, 64, 3)
    assert abs(conv.weight.std().item() / (2 / (16 * 9)) ** 0.5 - 1) < 0.05


def test_batchnorm_reset_clears_running_statistics():
    bn = BatchNorm(3)
    bn.train()(torch.randn(8, 3, 4, 4) * 5 + 2)
    assert bn.num_batches_tracked == 1 and bn.running_mean.abs().sum() > 0
    with torch.no_grad():
        bn.weight.fill_(3.0)
    bn.reset_parameters()
    assert bn.running_mean.tolist() == [0, 0, 0] and bn.running_var.tolist() == [1, 1, 1]
    assert bn.num_batches_tracked == 0 and bn.weight.tolist() == [1, 1, 1]


@pytest.mark.parametrize("module,shape", [
    (Sign(1.0), (2, 3, 4, 4)), (ApproxSign(), (2, 3, 4, 4)),
    (BinaryConv2d(3, 4, 3, padding=1), (2, 3, 4, 4)),
    (ScaledBinaryConv2d(3, 4, 3, padding=1), (2, 3, 4, 4)), (BinaryLinear(6, 2), (2, 6)),
    (RSign(3, backward="ste", clip=1.3), (2, 3, 4, 4)),
], ids=["sign", "approx-sign", "binary-conv", "scaled-binary-conv", "binary-linear", "rsign"])
@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")     # what export uses
def test_traced_layers_save_and_load_back(module, shape):
    """An autograd Function in the trace cannot be saved ("Could not export Python function
    call"), so tracing must take the plain forward."""
    import io
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    expected = module(x).detach()
    traced = torch.jit.trace(module, x)
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    buffer.seek(0)
    assert torch.equal(torch.jit.load(buffer)(x), expected)


def test_pooling_computes_max_or_mean_by_hand():
    from mnas.ops.layers import GlobalAvgPool, Pool2d
    x = torch.arange(16.0).reshape(1, 1, 4, 4)     # rows 0-3, 4-7, 8-11, 12-15
    assert Pool2d("max", 2, 2)(x).flatten().tolist() == [5, 7, 13, 15]
    assert Pool2d("avg", 2, 2)(x).flatten().tolist() == [2.5, 4.5, 10.5, 12.5]
    # 5x5, window 2 stride 2, ceil mode: a third, partial window per row and column
    y = torch.arange(25.0).reshape(1, 1, 5, 5)
    assert Pool2d("max", 2, 2, ceil_mode=True)(y).flatten().tolist() == \
        [6, 8, 9, 16, 18, 19, 21, 23, 24]
    # window 3 stride 1 padding 1 at the corner: max of the 2x2 top-left block
    assert Pool2d("max", 3, 1, padding=1)(x)[0, 0, 0, 0].item() == 5
    assert GlobalAvgPool()(x).tolist() == [[7.5]]
    with pytest.raises(ValueError, match="pool kind must be 'max' or 'avg', not 'min'"):
        Pool2d("min", 2, 2)


def test_merges_by_hand():
    from mnas.ops.layers import Merge
    a, b, c = (torch.full((1, 2, 1, 1), v) for v in (1.0, 10.0, 100.0))
    assert Merge("add")(a, b, c).flatten().tolist() == [111, 111]
    assert Merge("concat")(a, b, c).flatten().tolist() == [1, 1, 10, 10, 100, 100]
    with pytest.raises(ValueError, match="merge kind must be concat, add or add_last, not 'mul'"):
        Merge("mul")


def test_batchnorm_checks_the_input_rank():
    with pytest.raises(ValueError, match="expected a 4-D input \\(with batch\\), got 3-D"):
        BatchNorm(3)(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="expected a 2-D input \\(with batch\\), got 4-D"):
        BatchNorm(3, ndim=1)(torch.zeros(2, 3, 1, 1))


def test_defaults_of_directly_built_layers_are_torchs():
    """`mnas export --format python` rebuilds layers from their constructor arguments, so the
    defaults matter: BatchNorm eps 1e-5, momentum 0.1 (torch's); pooling without padding or
    ceil mode."""
    from mnas.ops.layers import Pool2d
    bn = BatchNorm(4)
    assert (bn.eps, bn.momentum, bn.ndim, bn.weight is not None, bn.bias is not None) == \
        (1e-5, 0.1, 3, True, True)
    y = torch.zeros(1, 1, 5, 5)
    assert Pool2d("max", 2, 2)(y).shape[-2:] == (2, 2)
    assert Pool2d("avg", 2, 2)(y).shape[-2:] == (2, 2)
    assert Pool2d("avg", 2, 2, ceil_mode=True)(y).shape[-2:] == (3, 3)


def test_binary_linear_adds_its_bias():
    torch.manual_seed(0)
    lin = BinaryLinear(8, 3, bias=True)
    with torch.no_grad():
        lin.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
    x = torch.randn(4, 8)
    expected = x @ torch.where(lin.weight >= 0, 1.0, -1.0).T + torch.tensor([0.5, -1.0, 2.0])
    assert torch.allclose(lin(x), expected)


def _settings(module) -> dict:
    return {k: v for k, v in vars(module).items()
            if not k.startswith("_") and k not in ("init_args", "training")
            and not isinstance(v, torch.Tensor)}


def _lowered_ops():
    from mnas.ops.registry import all_ops
    return sorted(name for name in all_ops() if name != "input")


@pytest.mark.parametrize("name", _lowered_ops())
def test_a_layer_built_with_its_defaults_is_the_ops_default(name):
    """`mnas export --format python` and hand-written code build layers directly: a layer
    built with only its required arguments must be the layer the op lowers to when the spec
    sets only the op's required fields (same settings, parameters and outputs)."""
    import inspect
    from dataclasses import MISSING, fields
    from mnas import api
    from mnas.ops.registry import all_ops
    from conftest import ROOT
    spec = ROOT / "tests" / "lower" / "data" / "all_ops.yaml"
    op = all_ops()[name]
    node = next(n for n in api.graph(spec).nodes if n.op == name)
    shapes = {layer.name: layer.shape for layer in api.cost(spec).layers}
    required = {f.name: getattr(node.params, f.name) for f in fields(op.params)
                if f.default is MISSING and f.default_factory is MISSING}
    ins = tuple(shapes[i] for i in node.inputs)
    torch.manual_seed(0)
    lowered = op.lower(op.params(**required), ins, shapes[node.name])
    cls = type(lowered)
    signature = inspect.signature(cls.__init__)
    if any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values()):
        pytest.skip(f"{cls.__name__} takes torch's own arguments")
    args, kwargs = lowered.init_args
    bound = signature.bind(None, *args, **kwargs).arguments
    needed = {k: v for k, v in bound.items()
              if k != "self" and signature.parameters[k].default is inspect.Parameter.empty}
    torch.manual_seed(0)
    direct = cls(**needed)
    assert _settings(direct) == _settings(lowered)
    assert {k: v.tolist() for k, v in direct.state_dict().items()} == \
        {k: v.tolist() for k, v in lowered.state_dict().items()}
    xs = [torch.randn((2, *s), generator=torch.Generator().manual_seed(i))
          for i, s in enumerate(ins)]
    with torch.no_grad():
        assert torch.equal(direct.eval()(*xs), lowered.eval()(*xs))


def test_scaled_binary_conv_in_the_first_step_uses_its_latent_weights():
    """Two-step schedule, step 1 (`binary_weights` off): the plain 32-bit convolution, bias
    included, no scale."""
    import torch.nn.functional as F
    torch.manual_seed(0)
    conv = ScaledBinaryConv2d(3, 4, 3, padding=1, bias=True)
    with torch.no_grad():
        conv.bias.copy_(torch.tensor([0.5, -1.0, 2.0, 0.0]))
    conv.binary_weights = False
    x = torch.randn(2, 3, 5, 5)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=1), atol=1e-6)


def test_rsign_checks_its_backward_and_shows_its_settings():
    with pytest.raises(ValueError, match="backward must be 'ste' or 'approx', not 'tanh'"):
        RSign(4, backward="tanh", clip=1.3)
    assert repr(RSign(4, backward="ste", clip=1.0)) == "RSign(4, backward=ste, clip=1.0)"


def test_padded_conv_shows_its_border_and_value():
    conv = Conv2d(2, 2, 3, padding=1, pad_value=1.0)
    assert "padding=(1, 1), pad_value=1.0" in repr(conv)
    assert "pad_value" not in repr(Conv2d(2, 2, 3, padding=1))
