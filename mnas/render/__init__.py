"""Network diagrams (`mnas render`), in two steps: `layout` turns the graph IR into plain data
(`diagram`: boxes, clusters, edges with shapes, precision colours), `dot` turns that into DOT
text and has graphviz draw it. Reads the IR only: no model is built and torch is never
imported; the graphviz Python package is imported only to draw."""
