"""`infer_shapes`: each node's output shape, from the op registry's shape rules. A failure
names the layer, the layer(s) that produced the offending input(s), and the spec line."""

from __future__ import annotations

from mnas.errors import ShapeError
from mnas.ir.graph import Graph
from mnas.ops.registry import Shape, ShapeRuleError, get_op
from mnas.ops.shapes import fmt


def infer_shapes(graph: Graph) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {}
    for node in graph.nodes:
        ins = tuple(shapes[i] for i in node.inputs)
        try:
            shapes[node.name] = get_op(node.op).infer_shape(node.params, ins)
        except ShapeRuleError as err:
            named = [node.inputs[i] for i in err.inputs if i < len(node.inputs)]
            message = err.message
            if len(named) >= 2:
                message += f" (from layers '{named[0]}' and '{named[1]}')"
            elif named:
                message += f" (input from layer '{named[0]}', shape {fmt(shapes[named[0]])})"
            raise ShapeError(message, node=node.name, other=named[-1] if named else None,
                             where=str(node.origin) if node.origin else None) from None
    return shapes
