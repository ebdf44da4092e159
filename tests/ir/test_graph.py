"""IR invariants, checked by `lint` and `infer_shapes` on graphs built directly."""

from __future__ import annotations

import pytest

from conftest import SPECS
from mnas import api
from mnas.errors import GraphError, ShapeError
from mnas.ir.graph import Graph, Node
from mnas.ir.shapes import infer_shapes
from mnas.ir.lint import lint
from mnas.ops.activation import NoParams
from mnas.ops.conv import Conv2dParams
from mnas.ops.io import InputParams
from mnas.ops.registry import REGISTRY, OpDef, UnknownOpError, all_ops, register


def graph(*nodes):
    return Graph("g", (Node("input", "input", (), InputParams((4, 8, 8))),) + nodes)


def test_valid_graph_shapes():
    g = lint(graph(Node("c", "conv2d", ("input",), Conv2dParams(kernel=3, out=8, stride=2)),
                       Node("r", "relu", ("c",), NoParams())))
    assert infer_shapes(g) == {"input": (4, 8, 8), "c": (8, 4, 4), "r": (8, 4, 4)}


def test_duplicate_names():
    with pytest.raises(GraphError, match="duplicate layer name 'r'"):
        lint(graph(Node("r", "relu", ("input",), NoParams()),
                       Node("r", "relu", ("input",), NoParams())))


def test_unknown_op_and_dangling_input():
    with pytest.raises(UnknownOpError, match="unknown op 'rleu'.*did you mean 'relu'"):
        lint(graph(Node("r", "rleu", ("input",), NoParams())))
    with pytest.raises(GraphError, match="unknown input 'nope'"):
        lint(graph(Node("r", "relu", ("nope",), NoParams())))


def test_arity():
    with pytest.raises(GraphError, match="op 'concat' takes at least 2 input"):
        lint(graph(Node("c", "concat", ("input",), NoParams())))
    with pytest.raises(GraphError, match="op 'relu' takes 1 input"):
        lint(graph(Node("r", "relu", ("input", "input"), NoParams())))


def test_cycle_and_reordering():
    with pytest.raises(GraphError, match="cycle between layers: a -> b -> a"):
        lint(graph(Node("a", "relu", ("b",), NoParams()), Node("b", "relu", ("a",), NoParams())))
    g = lint(graph(Node("a", "add", ("input", "b"), NoParams()),
                       Node("b", "relu", ("input",), NoParams())))
    assert [n.name for n in g.nodes] == ["input", "b", "a"]


def test_shape_error_names_both_layers():
    g = lint(graph(Node("a", "conv2d", ("input",), Conv2dParams(kernel=1, out=3)),
                       Node("b", "add", ("input", "a"), NoParams())))
    with pytest.raises(ShapeError) as err:
        infer_shapes(g)
    assert err.value.node == "b" and err.value.other == "a"
    assert "from layers 'input' and 'a'" in str(err.value)


def test_graph_is_hashable_and_networkx_view():
    g = api.graph(SPECS / "meliusnet22.yaml")
    assert hash(g) == hash(api.graph(SPECS / "meliusnet22.yaml"))
    nx_graph = g.to_networkx()
    assert nx_graph.number_of_nodes() == len(g)
    assert nx_graph.number_of_edges() == sum(len(n.inputs) for n in g.nodes)
    assert g.users["stage1.unit1.dense.concat"] == (
        "stage1.unit1.improvement.binconv.bn", "stage1.unit1.improvement.add")


def test_every_op_is_complete():
    for name, op in all_ops().items():
        assert op.name == name and op.doc and callable(op.infer_shape) and callable(op.count)


def test_registry_rejects_incomplete_opdef():
    class P:
        pass
    with pytest.raises(TypeError, match="frozen dataclass"):
        register(OpDef("bad", P, lambda p, i: i[0], lambda p, i, o: None, "doc",
                       lambda p, i, o: None))
    with pytest.raises(ValueError, match="registered twice"):
        register(REGISTRY["relu"])
