"""Lowering the graph IR to PyTorch: `torch` builds a `torch.fx.GraphModule` from a graph
(`to_module`) out of the modules each op's `lower` hook returns (`mnas.ops.layers`).
Importing `mnas.lower.torch` imports torch; the cost model never does."""
