"""`to_module`: the graph IR as a `torch.fx.GraphModule` that trains.

One `call_module` per IR node, in the IR's order; the input node is the placeholder and the
last node the output. Submodules are registered under the IR's dotted node names, so
`model.stage1.unit1.dense.binconv.conv` is that layer and the state dict reads
`stage1.unit1.dense.binconv.conv.weight`. Each module comes from its op's `lower` hook."""

from __future__ import annotations

import keyword
import re
from functools import lru_cache

import torch
from torch import fx, nn

from mnas.errors import MnasError
from mnas.ir.graph import Graph
from mnas.ir.shapes import infer_shapes
from mnas.ops.registry import Shape, get_op


class LowerError(MnasError):
    """A graph cannot become a module (a layer name that torch would misread)."""


@lru_cache(maxsize=None)
def _reserved(root: bool) -> frozenset[str]:
    """Attribute names a submodule may not take: those of nn.Module (and, at the top level,
    of GraphModule), which attribute lookup would find before the submodule."""
    names = set(dir(nn.Module()))
    if root:
        names |= set(dir(fx.GraphModule(nn.Module(), fx.Graph())))
    return frozenset(names)


def check_names(graph: Graph) -> None:
    """Every layer name must work as a module path: no part may shadow a torch attribute, and
    a layer may not also be the scope of other layers."""
    layers = {n.name for n in graph.nodes[1:]}
    for node in graph.nodes[1:]:
        parts = node.name.split(".")
        for depth, part in enumerate(parts):
            if part in _reserved(depth == 0):
                raise LowerError(f"layer '{node.name}': the name part '{part}' is an attribute "
                                 "of torch modules; rename the layer or its scope")
            prefix = ".".join(parts[:depth + 1])
            if depth < len(parts) - 1 and prefix in layers:
                raise LowerError(f"layer '{prefix}' is also the scope of layer '{node.name}'; "
                                 "a module cannot be both")


def class_name(graph: Graph) -> str:
    """The graph's name as a Python class name (MobileNet-v1 -> MobileNet_v1)."""
    name = re.sub(r"\W", "_", graph.name) or "Network"
    return f"_{name}" if name[0].isdigit() or keyword.iskeyword(name) else name


def lower_node_modules(graph: Graph, shapes: dict[str, Shape] | None = None) -> dict[str, nn.Module]:
    """{node name: module} for every node but the input, from each op's `lower` hook."""
    shapes = infer_shapes(graph) if shapes is None else shapes
    check_names(graph)
    return {node.name: get_op(node.op).lower(node.params, tuple(shapes[i] for i in node.inputs),
                                             shapes[node.name])
            for node in graph.nodes[1:]}


def to_module(graph: Graph, shapes: dict[str, Shape] | None = None) -> fx.GraphModule:
    """The graph as a trainable `GraphModule`; build it under `torch.device('meta')` to get a
    weightless module for counting."""
    return assemble(graph, lower_node_modules(graph, shapes))


def assemble(graph: Graph, modules: dict[str, nn.Module],
             channels_last: bool = False) -> fx.GraphModule:
    """The `GraphModule` calling `modules` (one per node but the input) in the graph's order;
    with `channels_last`, an image input is laid out channels-last first and the output
    contiguous last."""
    fx_graph = fx.Graph()
    x = fx_graph.placeholder(graph.input.name)
    if channels_last and len(graph.input.params.shape) == 3:
        x = fx_graph.call_method("contiguous", (x,), {"memory_format": torch.channels_last})
    values = {graph.input.name: x}
    for node in graph.nodes[1:]:
        values[node.name] = fx_graph.call_module(node.name,
                                                 tuple(values[i] for i in node.inputs))
    out = values[graph.output.name]
    fx_graph.output(fx_graph.call_method("contiguous", (out,)) if channels_last else out)
    return fx.GraphModule(_tree(modules), fx_graph, class_name=class_name(graph))


def _tree(modules: dict[str, nn.Module]) -> nn.Module:
    """The modules under their dotted names, scopes as plain `nn.Module`s, in network order
    (GraphModule would order a flat dict by nesting depth, scrambling the state dict)."""
    root = nn.Module()
    for name, module in modules.items():
        parent = root
        *scopes, last = name.split(".")
        for part in scopes:
            if part not in parent._modules:
                parent.add_module(part, nn.Module())
            parent = parent._modules[part]
        parent.add_module(last, module)
    return root


def example_input(graph: Graph, batch: int = 1, seed: int = 0,
                  device: str | torch.device = "cpu") -> torch.Tensor:
    """A fixed standard-normal input of the graph's shape with a batch dimension."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((batch, *graph.input.params.shape), generator=gen).to(device)
