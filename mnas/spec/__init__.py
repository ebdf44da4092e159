"""YAML specs: reading them with positions, safe expressions, expansion into the graph IR."""
