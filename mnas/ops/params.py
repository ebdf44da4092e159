"""Turn a YAML mapping into an op's frozen params dataclass, checking names and types from
the dataclass's own annotations, so a new op declares its fields once."""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, fields
from functools import lru_cache
from typing import Any

from mnas.errors import suggest


class ParamError(Exception):
    """A field of an op's params is wrong; the caller adds file and line."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


@lru_cache(maxsize=None)
def _schema(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name],
                  f.default is MISSING and f.default_factory is MISSING) for f in fields(cls))


def type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"list of {type_name(typing.get_args(tp)[0])}"
    return getattr(tp, "__name__", str(tp))


def coerce(name: str, tp: Any, value: Any) -> Any:
    """Check `value` against annotation `tp`; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return coerce(name, arg, value)
            except ParamError:
                continue
        raise ParamError(name, f"expected {type_name(tp)}, got {value!r}")
    if tp is type(None):
        if value is None:
            return None
    elif origin is tuple:
        item_tp = typing.get_args(tp)[0]
        if isinstance(value, (list, tuple)):
            return tuple(coerce(f"{name}[{i}]", item_tp, v) for i, v in enumerate(value))
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"unsupported param annotation {tp!r}")
    raise ParamError(name, f"expected {type_name(tp)}, got {value!r}")


def parse_params(op_name: str, cls: type, raw: dict[str, Any]):
    """Build `cls` from `raw`, naming the first unknown, missing or ill-typed field."""
    schema = _schema(cls)
    known = {name for name, _, _ in schema}
    for key in raw:
        if key not in known:
            raise ParamError(str(key), f"unknown field for op '{op_name}'{suggest(key, known)}; "
                                       f"fields: {', '.join(sorted(known)) or 'none'}")
    kwargs = {}
    for name, tp, required in schema:
        if name in raw:
            kwargs[name] = coerce(name, tp, raw[name])
        elif required:
            raise ParamError(name, f"missing required field for op '{op_name}'")
    params = cls(**kwargs)
    check = getattr(params, "check", None)
    if check is not None:
        check()
    return params


def positive(params: Any, *names: str) -> None:
    """Shared check: each named field, when set, is > 0."""
    for name in names:
        value = getattr(params, name)
        if value is not None and value <= 0:
            raise ParamError(name, f"must be positive, got {value}")
