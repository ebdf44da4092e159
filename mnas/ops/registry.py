"""The one registry of op types. Each op is an `OpDef`: its parameters (a frozen dataclass that
also validates the YAML fields), its shape rule, its counts, and its PyTorch lowering, all
defined once in the op family's module (`mnas/ops/<family>.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from mnas.errors import MnasError, suggest
from mnas.ops.bits import full_precision

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Counts:
    """What one layer costs, before a convention turns it into BOPs, FLOPs and bits.

    MACs are multiply-accumulates. Normalisation parameters are kept apart (`norm_params`,
    `norm_channels`) so a convention can count them its own way."""

    binary_macs: int = 0
    float_macs: int = 0
    binary_params: int = 0
    float_params: int = 0
    norm_params: int = 0
    norm_channels: int = 0

    @property
    def macs(self) -> int:
        return self.binary_macs + self.float_macs

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.binary_macs + other.binary_macs, self.float_macs + other.float_macs,
                      self.binary_params + other.binary_params,
                      self.float_params + other.float_params,
                      self.norm_params + other.norm_params,
                      self.norm_channels + other.norm_channels)


NO_COST = Counts()


class ShapeRuleError(Exception):
    """Raised by a shape rule; `inputs` are the positions of the inputs that disagree, so the
    shape pass can name the layers that produced them."""

    def __init__(self, message: str, inputs: tuple[int, ...] = ()):
        super().__init__(message)
        self.message, self.inputs = message, inputs


#: what an op is, for the passes that treat kinds of ops alike (render's folding and box
#: text, the docs): role -> meaning
ROLES = {
    "input": "the network's input",
    "compute": "multiply-accumulates with weights (convolution, fully connected)",
    "binarize": "maps activations to +-1",
    "norm": "normalises activations (gamma and beta are its parameters)",
    "activation": "element-wise non-linearity",
    "pool": "pools over a window",
    "merge": "combines several inputs",
    "reshape": "moves values without arithmetic",
    "other": "none of the above",
}

InferShape = Callable[[Any, tuple[Shape, ...]], Shape]
Count = Callable[[Any, tuple[Shape, ...], Shape], Counts]
Lower = Callable[[Any, tuple[Shape, ...], Shape], Any]
Describe = Callable[[Any, tuple[Shape, ...], Shape], str]
OutBits = Callable[[Any, tuple[int, ...]], int]


@dataclass(frozen=True)
class OpDef:
    """One op type.

    `params` is a frozen dataclass whose fields are the op's YAML fields; it may define
    `check()` raising `ParamError`. `infer_shape(params, in_shapes)` returns the output shape
    (shapes are (C, H, W) or (F,), no batch). `count(params, in_shapes, out_shape)` returns
    `Counts`. `lower(params, in_shapes, out_shape)` returns an `nn.Module` whose forward takes
    the inputs in order; it imports torch inside its body so costing never does.
    `fc` marks a fully connected layer, which conventions may leave out of the op count.

    What the op is, for passes that treat kinds of ops alike: `role` (one of `ROLES`),
    `label` (the short name a diagram shows when the layer is drawn inside another's box;
    default the op's name), `describe(params, in_shapes, out_shape)` (the few words a diagram
    box says about the layer; default the label) and `init` (how its layer's parameters start,
    in words; the layer's `reset_parameters` does it).
    `out_bits(params, in_bits)` is the bit width of the output given the inputs' (rules in
    `mnas.ops.bits`; 32 unless the op binarises or only moves values)."""

    name: str
    params: type
    infer_shape: InferShape
    count: Count
    doc: str
    lower: Lower
    min_inputs: int = 1
    max_inputs: int | None = 1
    fc: bool = False
    role: str = "other"
    label: str | None = None
    describe: Describe | None = None
    init: str = "as its layer's reset_parameters sets it (no parameters: nothing)"
    out_bits: OutBits = full_precision

    @property
    def short(self) -> str:
        return self.label or self.name

    def description(self, params, in_shapes: tuple[Shape, ...], out: Shape) -> str:
        return self.describe(params, in_shapes, out) if self.describe else self.short


REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    """Add an op type; an incomplete or duplicate definition is a programming error."""
    if op.name in REGISTRY:
        raise ValueError(f"op '{op.name}' is registered twice")
    if not is_dataclass(op.params) or not op.params.__dataclass_params__.frozen:
        raise TypeError(f"op '{op.name}': params must be a frozen dataclass")
    for attr in ("infer_shape", "count", "lower", "out_bits"):
        if not callable(getattr(op, attr)):
            raise TypeError(f"op '{op.name}': {attr} must be callable")
    if not op.doc:
        raise TypeError(f"op '{op.name}': doc is required")
    if op.role not in ROLES:
        raise TypeError(f"op '{op.name}': role must be one of {', '.join(ROLES)}, "
                        f"not {op.role!r}")
    REGISTRY[op.name] = op
    return op


class UnknownOpError(MnasError):
    pass


def get_op(name: str) -> OpDef:
    op = REGISTRY.get(name) if isinstance(name, str) else None
    if op is not None:
        return op
    _load_builtin_ops()
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownOpError(f"unknown op '{name}'{suggest(name, REGISTRY)}; "
                             f"known ops: {', '.join(sorted(REGISTRY))}") from None


def all_ops() -> dict[str, OpDef]:
    _load_builtin_ops()
    return dict(REGISTRY)


def param_names(op: OpDef) -> list[str]:
    return [f.name for f in fields(op.params)]


def ops_with_role(*roles: str) -> frozenset[str]:
    """Names of the registered ops whose role is one of `roles`."""
    return frozenset(name for name, op in all_ops().items() if op.role in roles)


def role_of(name: str) -> str:
    return get_op(name).role


def _load_builtin_ops() -> None:
    import mnas.ops  # noqa: F401  (registers the built-in families)
