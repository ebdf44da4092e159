"""Every registered op type lowers, and the all-ops fixture spec keeps covering them."""

from __future__ import annotations

import pytest

from mnas import api
from mnas.ops.activation import NoParams
from mnas.ops.registry import NO_COST, OpDef, all_ops, register

from conftest import ROOT
from mnas.cost.conventions import Convention

#: both published conventions count 2 values per BatchNorm channel; a module holds what it learns
LEARNED = Convention(name="learned", description="parameters as the layers hold them",
                     fc_in_ops=True, bn_params_per_channel=None)


ALL_OPS = ROOT / "tests" / "lower" / "data" / "all_ops.yaml"


def test_all_ops_fixture_uses_every_registered_op():
    used = {node.op for node in api.graph(ALL_OPS).nodes}
    assert used == set(all_ops())


@pytest.mark.parametrize("name", sorted(all_ops()))
def test_every_op_lowers_to_a_module(name):
    """...a module that takes inputs of the IR's shapes, returns the IR's output shape, and has
    the parameters the cost model counts (values from the all-ops fixture's first use of the
    op; tests/lower/test_lowered_semantics.py has them by hand)."""
    import torch
    graph = api.graph(ALL_OPS)
    layers = {layer.name: layer for layer in api.cost(ALL_OPS, convention=LEARNED).layers}
    node = next(n for n in graph.nodes if n.op == name)
    ins = tuple(layers[i].shape for i in node.inputs)
    module = all_ops()[name].lower(node.params, ins, layers[node.name].shape)
    assert isinstance(module, torch.nn.Module)
    assert sum(p.numel() for p in module.parameters()) == layers[node.name].params
    gen = torch.Generator().manual_seed(0)
    args = [torch.randn((2, *shape), generator=gen)
            for shape in ins or (layers[node.name].shape,)]     # the input op passes it on
    out = module.eval()(*args)
    assert tuple(out.shape) == (2, *layers[node.name].shape)
    assert torch.isfinite(out).all()


def test_registry_rejects_an_op_without_lowering():
    with pytest.raises(TypeError):
        OpDef(name="nolower", params=NoParams, infer_shape=lambda p, ins: ins[0],
              count=lambda p, ins, out: NO_COST, doc="x")
    with pytest.raises(TypeError, match="lower must be callable"):
        register(OpDef(name="nolower", params=NoParams, infer_shape=lambda p, ins: ins[0],
                       count=lambda p, ins, out: NO_COST, lower=None, doc="x"))
    assert "nolower" not in all_ops()
