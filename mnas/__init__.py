"""mnas: design binary neural networks from YAML specs, cost them exactly, lower them to PyTorch.

Importing the package is cheap: torch is imported only by the modules that need it
(`mnas.lower`, `mnas.train`, `mnas.export`).
"""

__version__ = "0.1.0"
