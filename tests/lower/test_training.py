"""Every spec trains: a forward and backward pass on CPU at a small input reaches every
learnable parameter (fixed ones, like the blur-pool filter, get none), in the IR's layer
order and with the IR's names."""

from __future__ import annotations

import pytest
import torch

from mnas import api
from mnas.ir.shapes import infer_shapes
from mnas.lower.torch import LowerError, example_input, to_module

from conftest import NETWORK_SPECS, ROOT

ALL_OPS = ROOT / "tests" / "lower" / "data" / "all_ops.yaml"  # every registered op type
# real forward/backward passes take seconds per network on 2 shared cores
TRAIN_SPECS = [pytest.param(p, id=p.stem, marks=pytest.mark.slow) for p in NETWORK_SPECS] + \
    [pytest.param(ALL_OPS, id="all_ops")]
SMALL = {"input": [3, 32, 32]}  # every spec downsamples 32x to 1x1 at most
BATCH = 4  # BatchNorm of 2 samples at 1x1 outputs +-1 whatever its input: no gradient


def _small_graph(spec_path):
    graph = api.graph(spec_path)
    if len(graph.input.params.shape) == 3 and graph.input.params.shape[0] == 3:
        graph = api.graph(spec_path, SMALL)
    return graph


@pytest.mark.parametrize("spec_path", TRAIN_SPECS)
def test_forward_backward_reaches_every_parameter(spec_path):
    torch.manual_seed(0)
    graph = _small_graph(spec_path)
    module = to_module(graph)
    out = module(example_input(graph, batch=BATCH))
    assert out.shape == (BATCH, *infer_shapes(graph)[graph.output.name])
    out.square().mean().backward()
    missing = [name for name, p in module.named_parameters() if p.requires_grad and
               (p.grad is None or not torch.isfinite(p.grad).all() or not p.grad.any())]
    assert not missing, f"no gradient reaches {missing[:5]}"
    fixed = [name for name, p in module.named_parameters() if not p.requires_grad]
    assert all(module.get_parameter(name).grad is None for name in fixed)


def test_state_dict_uses_the_ir_layer_names():
    graph = api.graph(_spec("meliusnet22"), SMALL)
    keys = set(to_module(graph).state_dict())
    assert "stage1.unit1.dense.binconv.conv.weight" in keys
    assert "stage2.unit3.improvement.binconv.bn.running_var" in keys
    assert "stage3.transition.conv.weight" in keys and "head.fc.bias" in keys
    layers_with_params = {n.name for n in graph.nodes if n.op in ("conv2d", "linear", "batchnorm")}
    assert {k.rsplit(".", 1)[0] for k in keys} == layers_with_params


def test_module_runs_nodes_in_ir_order():
    graph = api.graph(_spec("meliusnet22"), SMALL)
    module = to_module(graph)
    called = [n.target for n in module.graph.nodes if n.op == "call_module"]
    assert called == [n.name for n in graph.nodes[1:]]


def test_optimizer_step_changes_latent_binary_weights():
    """A training step moves the 32-bit latent weights of binary layers."""
    torch.manual_seed(0)
    graph = api.graph(ALL_OPS)
    module = to_module(graph)
    before = {n: module.get_submodule(n).weight.detach().clone() for n in ("bconv", "blin")}
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    torch.nn.functional.cross_entropy(module(example_input(graph, 4)),
                                      torch.tensor([1, 2, 3, 4])).backward()
    opt.step()
    for name, weight in before.items():
        assert not torch.equal(weight, module.get_submodule(name).weight), name


@pytest.mark.parametrize("name, message", [
    ("stem.eval", "the name part 'eval' is an attribute of torch modules"),
    ("graph", "the name part 'graph' is an attribute of torch modules"),
])
def test_names_torch_would_misread_are_rejected(tmp_path, name, message):
    spec = tmp_path / "bad.yaml"
    spec.write_text(f"name: bad\ninput: [3, 8, 8]\nlayers:\n  - {{name: {name}, op: relu}}\n")
    with pytest.raises(LowerError, match=message):
        to_module(api.graph(spec))


def test_a_layer_that_is_also_a_scope_is_rejected(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\ninput: [3, 8, 8]\nlayers:\n  - {name: a, op: relu}\n"
                    "  - {name: a.b, op: relu}\n")
    with pytest.raises(LowerError, match="layer 'a' is also the scope of layer 'a.b'"):
        to_module(api.graph(spec))


def _spec(stem):
    return ROOT / "specs" / f"{stem}.yaml"
