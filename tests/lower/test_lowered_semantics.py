"""The lowered module does what its spec says, seen from outside: a sign's straight-through
window is the spec's `clip` (a sign built with the default clip would pass every test that
only looks at types or counts), and each layer of the all-ops fixture has the output shape and
parameter count counted by hand."""

from __future__ import annotations

import pytest
import torch

from conftest import ROOT, SPECS
from mnas import api
from mnas.lower.torch import to_module
from mnas.cost.conventions import Convention

ALL_OPS = ROOT / "tests" / "lower" / "data" / "all_ops.yaml"
#: the all-ops fixture before the modern ops were added, which the hand count below covers
CLASSIC_OPS = ROOT / "tests" / "lower" / "data" / "classic_ops.yaml"

CLIPS = """
name: clips
input: [4, 2, 2]
layers:
  - {name: tight, op: sign, clip: 0.5, inputs: [input]}
  - {name: wide, op: sign, clip: 2.0, inputs: [input]}
  - {name: default, op: sign, inputs: [input]}
  - {name: cat, op: concat, inputs: [tight, wide, default]}
"""

# Inputs on both sides of each clip; the gradient passes where |x| <= clip.
X = [-2.5, -2.0, -1.31, -1.3, -0.6, -0.5, 0.0, 0.5, 0.6, 1.0, 1.3, 1.31, 2.0, 2.5]


def _window(module, x=X) -> list[float]:
    t = torch.tensor(x, requires_grad=True)
    module(t).sum().backward()
    return t.grad.tolist()


@pytest.mark.parametrize("layer,clip", [("tight", 0.5), ("wide", 2.0),
                                        ("default", 1.3)])     # 1.3: FACTS.md's default
def test_lowered_sign_passes_gradient_only_inside_the_specs_clip(tmp_path, layer, clip):
    spec = tmp_path / "clips.yaml"
    spec.write_text(CLIPS)
    module = to_module(api.graph(spec))
    expected = [1.0 if abs(v) <= clip else 0.0 for v in X]
    assert _window(module.get_submodule(layer)) == expected


def test_whole_network_gradient_follows_each_clip(tmp_path):
    """Through the fx graph, not just the submodule: each of the three signs' windows shows in
    its slice of the input gradient."""
    spec = tmp_path / "clips.yaml"
    spec.write_text(CLIPS)
    module = to_module(api.graph(spec))
    x = torch.tensor([0.4, 0.7, 1.5, 2.2]).repeat_interleave(4).reshape(1, 4, 2, 2)
    x.requires_grad_()
    out = module(x)
    assert out.shape == (1, 12, 2, 2)
    for i, clip in enumerate((0.5, 2.0, 1.3)):
        x.grad = None
        out = module(x)
        out[:, 4 * i:4 * (i + 1)].sum().backward()
        per_channel = x.grad[0, :, 0, 0].tolist()
        assert per_channel == [1.0 if v <= clip else 0.0 for v in (0.4, 0.7, 1.5, 2.2)]


def test_all_ops_fixture_signs_keep_their_clips():
    """all_ops.yaml: `sign` sets clip 1.0, `sign2` keeps the default 1.3."""
    module = to_module(api.graph(ALL_OPS))
    x = [-1.2, -1.0, 0.99, 1.01, 1.29, 1.31]
    assert _window(module.sign, x) == [0, 1, 1, 0, 0, 0]
    assert _window(module.sign2, x) == [1, 1, 1, 1, 1, 0]


def test_zoo_signs_use_the_papers_clip():
    """MeliusNet22's signs: the paper's 1.3 (FACTS.md), through the lowered module."""
    graph = api.graph(SPECS / "meliusnet22.yaml")
    module = to_module(graph)
    signs = [n.name for n in graph.nodes if n.op == "sign"]
    assert len(signs) == 34                     # one per binary conv (4+5+4+4 units x 2)
    for name in signs[:: 11]:
        assert _window(module.get_submodule(name), [1.29, 1.31, -1.3]) == [1, 0, 1]


# classic_ops.yaml layer by layer, counted by hand from the input 3x16x16 (batch left out):
# (layer, output shape, parameters of the module)
ALL_OPS_BY_HAND = [
    ("conv", (8, 16, 16), 8 * 3 * 9 + 8),                 # 3x3, bias
    ("bn", (8, 16, 16), 8),                               # no scale: beta only
    ("relu", (8, 16, 16), 0),
    ("sign", (8, 16, 16), 0),
    ("bconv", (8, 16, 16), 8 * 4 * 9),                    # groups 2, dilation 2, padding 2
    ("asign", (8, 16, 16), 0),
    ("sconv", (8, 16, 16), 8 * 8 * 9),                    # the scale adds no parameter
    ("add", (8, 16, 16), 0),
    ("shuffle", (8, 16, 16), 0),
    ("small", (4, 16, 16), 4 * 8),
    ("addl", (8, 16, 16), 0),
    ("cat", (24, 16, 16), 0),                             # 8 + 8 + 8
    ("avg", (24, 8, 8), 0),                               # (16 + 2 - 3) // 2 + 1
    ("max", (24, 4, 4), 0),                               # ceil((8 - 3) / 2) + 1
    ("flat", (384,), 0),
    ("bn1d", (384,), 384),                                # no center: gamma only
    ("sign2", (384,), 0),
    ("blin", (24,), 384 * 24),                            # no bias
    ("gap", (24,), 0),
    ("sum", (24,), 0),
    ("fc", (10,), 24 * 10 + 10),
]


def test_all_ops_fixture_layers_by_hand():
    graph = api.graph(CLASSIC_OPS)
    module = to_module(graph).eval()
    shapes = {}
    hooks = [module.get_submodule(name).register_forward_hook(
        lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:])))
        for name, _, _ in ALL_OPS_BY_HAND]
    with torch.no_grad():
        module(torch.randn(2, 3, 16, 16))
    for h in hooks:
        h.remove()
    for name, shape, params in ALL_OPS_BY_HAND:
        sub = module.get_submodule(name)
        assert (shapes[name], sum(p.numel() for p in sub.parameters())) == (shape, params), name
    learned = Convention(name="learned", description="parameters as the layers hold them",
                         bn_params_per_channel=None)   # both published ones count BN as 2/ch
    report = {layer.name: layer for layer in api.cost(CLASSIC_OPS, convention=learned).layers}
    for name, shape, params in ALL_OPS_BY_HAND:
        assert (report[name].shape, report[name].params) == (shape, params), name


def test_module_class_is_named_after_the_network():
    from mnas.ir.graph import Graph
    from mnas.lower.torch import class_name
    graph = api.graph(SPECS / "mobilenet_v1.yaml")
    assert type(to_module(graph)).__name__ == "MobileNet_v1"
    for name, expected in (("MeliusNet22", "MeliusNet22"), ("3-net", "_3_net"),
                           ("class", "_class"), ("", "Network"), ("ok.net", "ok_net")):
        assert class_name(Graph(name, graph.nodes)) == expected


def test_example_input_is_a_fixed_normal_sample_with_batch():
    from mnas.lower.torch import example_input
    graph = api.graph(SPECS / "meliusnet-cifar.yaml")
    x = example_input(graph)
    assert x.shape == (1, *graph.input.params.shape)
    expected = torch.randn((1, *graph.input.params.shape),
                           generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, expected)
    assert not torch.equal(example_input(graph, seed=1), expected)
    assert example_input(graph, batch=3).shape[0] == 3
    assert example_input(graph, device="meta").device.type == "meta"


@pytest.mark.parametrize("layers,message", [
    (["a", "a.b.c"], "layer 'a' is also the scope of layer 'a.b.c'"),
    (["a.b", "a.b.c.d"], "layer 'a.b' is also the scope of layer 'a.b.c.d'"),
    (["a.b.c", "a.b.c.d"], "layer 'a.b.c' is also the scope of layer 'a.b.c.d'"),
])
def test_a_layer_that_scopes_deeper_layers_is_rejected(tmp_path, layers, message):
    from mnas.lower.torch import LowerError
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\ninput: [3, 8, 8]\nlayers:\n" +
                    "".join(f"  - {{name: {n}, op: relu}}\n" for n in layers))
    with pytest.raises(LowerError, match=message):
        to_module(api.graph(spec))


def test_sibling_and_cousin_layers_lower(tmp_path):
    spec = tmp_path / "ok.yaml"
    spec.write_text("name: ok\ninput: [3, 8, 8]\nlayers:\n" + "".join(
        f"  - {{name: {n}, op: relu}}\n" for n in ("a.b", "a.c", "ab.c", "b.a.b")))
    module = to_module(api.graph(spec))
    assert [n for n, _ in module.named_modules() if n.count(".") >= 1] == \
        ["a.b", "a.c", "ab.c", "b.a", "b.a.b"]


def test_channels_last_assembly_lays_the_input_out_and_returns_a_contiguous_output():
    """`--channels-last`: the first layer sees an NHWC-strided input and the network returns a
    contiguous output; the values are the plain module's."""
    from mnas.lower.torch import assemble, lower_node_modules
    graph = api.graph(SPECS / "meliusnet-cifar.yaml")
    modules = lower_node_modules(graph)
    plain = assemble(graph, modules)
    fast = assemble(graph, modules, channels_last=True)
    seen = []
    first = graph.nodes[1].name
    hook = fast.get_submodule(first).register_forward_pre_hook(
        lambda m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    x = torch.randn(2, *graph.input.params.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = fast.eval()(x)
        hook.remove()                       # the two modules share their layers
        assert torch.allclose(out, plain.eval()(x), atol=1e-5)
    assert seen == [True] and out.is_contiguous()
    calls = [(n.target, n.kwargs) for n in fast.graph.nodes if n.op == "call_method"]
    assert calls == [("contiguous", {"memory_format": torch.channels_last}), ("contiguous", {})]
