"""Lowering the graph IR to PyTorch: `layers` holds the modules op types lower to, `torch`
builds a `torch.fx.GraphModule` from a graph (`to_module`). Importing this package imports
torch; the cost model never does."""
