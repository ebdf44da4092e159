"""Network diagrams (`mnas render`), in two steps: `layout` turns the graph IR into plain data
(boxes, clusters, edges with shapes, precision colours), `dot` turns that into DOT text and
has graphviz draw it. Reads the IR only: no model is built and torch is never imported."""

from mnas.render.dot import FORMATS, Rendered, render, to_dot
from mnas.render.layout import LEVELS, Box, Cluster, Edge, Layout, fold_plan, layout_graph

__all__ = ["FORMATS", "LEVELS", "Box", "Cluster", "Edge", "Layout", "Rendered", "fold_plan",
           "layout_graph", "render", "to_dot"]
