"""Op types. Each module of this package registers its ops with
`mnas.ops.registry.register`; importing the package loads them all (every module found here,
so a new op is one new module plus its layer in `layers.py`). `layers` holds the PyTorch
modules ops lower to and is imported only when lowering."""

import importlib
import pkgutil

from mnas.ops.registry import REGISTRY, Counts, OpDef, get_op  # noqa: F401

_NOT_OPS = {"layers"}   # imports torch; the other modules are light

for _info in pkgutil.iter_modules(__path__):
    if _info.name not in _NOT_OPS:
        importlib.import_module(f"{__name__}.{_info.name}")
