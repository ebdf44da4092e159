"""Op types. Each family module registers its ops with `mnas.ops.registry.register`;
importing this package loads them all. To add an op: one module (or one entry in a family
module) with its params dataclass, shape rule, counts and lowering."""

from mnas.ops import activation, conv, io, linear, merge, norm, pool, reshape  # noqa: F401
from mnas.ops import (blurpool, dense, dropout, gating, learned_activation,  # noqa: F401
                      saturating)
from mnas.ops.registry import REGISTRY, Counts, OpDef, get_op  # noqa: F401
