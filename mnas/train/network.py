"""The network a training run trains: a spec's graph fitted to the data's class count, lowered
to a module (`mnas.lower`), and the digest that says whether a checkpoint belongs to it."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from mnas.train.datasets import DataError, count_classes, open_data

log = logging.getLogger(__name__)


def graph_digest(graph) -> str:
    """What the network is (names, ops, wiring, params), not where its spec lines are."""
    text = repr([(n.name, n.op, n.inputs, n.params) for n in graph.nodes])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def lower(graph):
    """The graph as a trainable module (the lowering lives in mnas.lower)."""
    from mnas.lower.torch import to_module
    return to_module(graph)


def output_classes(graph) -> int | None:
    from mnas.ir.shapes import infer_shapes
    shape = infer_shapes(graph)[graph.output.name]
    return shape[0] if len(shape) == 1 else None


def graph_for_data(spec, data_name: str, download: bool, user_sets: Mapping[str, Any]):
    """Build the spec's graph and open the data shaped for it. When the network's class count
    differs from the data's and the spec has a `classes` value the user did not set, the
    network is rebuilt with the data's class count."""
    from mnas.spec.expand import build_graph
    graph = build_graph(spec)
    data = open_data(data_name, spec.input, download)
    classes = output_classes(graph)
    if classes != data.classes:
        if "classes" in spec.settable() and "classes" not in user_sets:
            log.info("%s: classes %s -> %d to fit %s", spec.name, classes, data.classes, data.name)
            spec = spec.with_values({"classes": data.classes}, origin="data")
            graph = build_graph(spec)
        else:
            raise DataError(f"{spec.file}: the network ends in {classes} outputs but {data.name} "
                            f"has {data.classes} classes (set classes={data.classes})")
    return spec, graph, data


def count_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def check_classes(spec, data_name: str, user_sets: Mapping[str, Any]) -> None:
    """The class-count check of `graph_for_data` without loading the data (before DDP
    processes start)."""
    from mnas.spec.expand import build_graph
    classes, wanted = output_classes(build_graph(spec)), count_classes(data_name)
    if classes != wanted and ("classes" not in spec.settable() or "classes" in user_sets):
        raise DataError(f"{spec.file}: the network ends in {classes} outputs but {data_name} "
                        f"has {wanted} classes (set classes={wanted})")


def binary_weight_layers(module) -> list:
    """The layers whose weights are binarised (`mnas.ops.layers.BinaryWeights`)."""
    from mnas.ops.layers import BinaryWeights
    return [m for m in module.modules() if isinstance(m, BinaryWeights)]


def binary_weight_params(module) -> list:
    return [m.weight for m in binary_weight_layers(module)]


def set_binary_weights(module, binary: bool) -> None:
    """Switch weight binarisation of every binary layer (step 1 of the two-step schedule
    trains with the 32-bit weights)."""
    for layer in binary_weight_layers(module):
        layer.binary_weights = binary
