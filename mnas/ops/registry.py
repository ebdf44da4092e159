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


NO_COST = Counts()


class ShapeRuleError(Exception):
    """Raised by a shape rule; `inputs` are the positions of the inputs that disagree, so the
    shape pass can name the layers that produced them."""

    def __init__(self, message: str, inputs: tuple[int, ...] = ()):
        super().__init__(message)
        self.message, self.inputs = message, inputs


InferShape = Callable[[Any, tuple[Shape, ...]], Shape]
Count = Callable[[Any, tuple[Shape, ...], Shape], Counts]
Lower = Callable[[Any, tuple[Shape, ...], Shape], Any]
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
    out_bits: OutBits = full_precision


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


def _load_builtin_ops() -> None:
    import mnas.ops  # noqa: F401  (registers the built-in families)
