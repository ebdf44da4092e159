"""The graph IR: frozen nodes in topological order, and the passes that check and shape it."""
