"""Load a network spec: read the YAML (positions kept), follow `include`s to the shared block
library, check the top-level fields, apply `--set` overrides. The result is a `Spec`; turning
it into a graph is `mnas.spec.expand.build_graph`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mnas.errors import SpecError, suggest
from mnas.zoo import resolve_spec
from mnas.spec.limits import MAX_DIMENSION, MAX_INCLUDE_DEPTH
from mnas.spec.source import Loc, YamlMap, YamlSeq, parse_yaml, read_yaml
from mnas.spec.values import plain

NETWORK_KEYS = ("name", "description", "include", "input", "values", "layers", "block", "blocks")
LIBRARY_KEYS = ("description", "include", "blocks")
BLOCK_KEYS = ("description", "args", "required", "checks", "layers", "output")


@dataclass(frozen=True)
class BlockDef:
    """A reusable, parameterised sub-graph: `args` (name -> default), `required` args,
    `checks` on the arguments (`{test: EXPR, message: TEXT}`, an error when false), and its
    `layers`; `output` names the layer whose value the block returns (default: last)."""

    name: str
    args: Mapping[str, Any]
    required: tuple[str, ...]
    layers: YamlSeq
    output: str | None
    loc: Loc
    field: str
    checks: YamlSeq | tuple = ()


@dataclass(frozen=True)
class Spec:
    """A loaded network spec. `values` are its knobs (what `--set` changes); with `block`
    the network is that block called with `values` as its arguments, otherwise `layers` is
    the body and `values` are visible to its expressions."""

    name: str
    file: str
    input: tuple[int, ...]
    values: Mapping[str, Any]
    blocks: Mapping[str, BlockDef]
    layers: YamlSeq | None = None
    block: str | None = None
    description: str = ""
    locs: Mapping[str, Loc] = field(default_factory=dict, compare=False)

    def settable(self) -> list[str]:
        """Names that `--set` accepts."""
        names = set(self.values) | {"input", "name"}
        if self.block is not None and self.block in self.blocks:
            names |= set(self.blocks[self.block].args)
        return sorted(names)

    def with_values(self, overrides: Mapping[str, Any], origin: str = "--set") -> Spec:
        """A copy with values replaced; unknown names are errors with a suggestion."""
        values, updates = dict(self.values), {}
        allowed = self.settable()
        for key, value in overrides.items():
            if key not in allowed:
                raise SpecError(f"unknown value '{key}'{suggest(key, allowed)}; this spec sets: "
                                f"{', '.join(allowed)}", field=f"{origin} {key}")
            if key == "input":
                try:
                    updates["input"] = _shape(value, Loc(origin, 0, 0), "input")
                except SpecError as err:
                    raise SpecError(err.message, field=f"{origin} input") from None
            elif key == "name":
                updates["name"] = str(value)
            else:
                values[key] = value
        return replace(self, values=MappingProxyType(values), **updates)


_FILE_CACHE: dict[str, tuple[int, Any]] = {}


def _read_cached(path: Path):
    """Parsed YAML per file, re-read when the file changes (search loads specs many times)."""
    key = str(path)
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return read_yaml(path)
    hit = _FILE_CACHE.get(key)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    data = read_yaml(path)
    _FILE_CACHE[key] = (mtime, data)
    return data


def _expect_map(data, loc: Loc, what: str) -> YamlMap:
    if not isinstance(data, YamlMap):
        raise loc.error(f"expected a mapping for {what}, got {type(data).__name__}")
    return data


def _check_keys(data: YamlMap, allowed: Iterable[str], where: str, prefix: str = "") -> None:
    allowed = tuple(allowed)
    for key in data:
        if key not in allowed:
            raise data.loc_of(key).error(f"unknown field in {where}{suggest(key, allowed)}; "
                                         f"allowed: {', '.join(allowed)}", f"{prefix}{key}")


def _shape(value, loc: Loc, fieldname: str) -> tuple[int, ...]:
    """The input shape: exactly [C, H, W] (no batch), each at most MAX_DIMENSION."""
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise loc.error(f"expected [C, H, W], three positive integers like [3, 224, 224], "
                        f"got {shown}", fieldname)
    if max(value) > MAX_DIMENSION:
        raise loc.error(f"dimension {max(value):,} is too large "
                        f"(limit: dimension {MAX_DIMENSION:,})", fieldname)
    return tuple(value)


def _load_blocks(path: Path, data: YamlMap, blocks: dict[str, BlockDef], seen: set[str],
                 stack: tuple[str, ...]) -> None:
    """Collect block definitions from `data`'s includes (depth first), then its own."""
    includes = data.get("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list):
        raise data.loc_of("include").error("expected a file name or a list of them", "include")
    for i, inc in enumerate(includes):
        loc = includes.loc_of(i) if isinstance(includes, YamlSeq) else data.loc_of("include")
        if not isinstance(inc, str):
            raise loc.error(f"expected a file name, got {inc!r}", f"include[{i}]")
        target = Path(os.path.normpath(path.parent / inc))
        key = str(target.resolve())
        if key in stack:
            raise loc.error(f"include cycle: {' -> '.join(stack + (key,))}", f"include[{i}]")
        if len(stack) > MAX_INCLUDE_DEPTH:
            raise loc.error(f"includes nested more than {MAX_INCLUDE_DEPTH} deep "
                            f"(limit: include depth {MAX_INCLUDE_DEPTH})", f"include[{i}]")
        if key in seen:
            continue
        seen.add(key)
        if not target.exists():
            raise loc.error(f"included file not found: {target}", f"include[{i}]")
        try:
            lib = _read_cached(target)
        except SpecError as err:
            if err.line is not None:
                raise
            raise loc.error(f"{target}: {err.message}", f"include[{i}]") from None
        lib = _expect_map(lib, Loc(str(target), 1, 1), "a block library")
        _check_keys(lib, LIBRARY_KEYS, "a block library")
        _load_blocks(target, lib, blocks, seen, stack + (key,))
        for name, block in _parse_blocks(lib).items():
            if name in blocks:
                raise block.loc.error(f"block '{name}' is also defined at {blocks[name].loc.file}:"
                                      f"{blocks[name].loc.line}", f"blocks.{name}")
            blocks[name] = block


def _parse_blocks(data: YamlMap) -> dict[str, BlockDef]:
    raw = data.get("blocks", {})
    raw = _expect_map(raw, data.loc_of("blocks"), "blocks") if raw else {}
    out = {}
    for name, body in raw.items():
        fieldname = f"blocks.{name}"
        body = _expect_map(body, raw.loc_of(name), f"block '{name}'")
        _check_keys(body, BLOCK_KEYS, f"block '{name}'", fieldname + ".")
        args = body.get("args", {}) or {}
        if not isinstance(args, dict):
            raise body.loc_of("args").error("expected a mapping of argument defaults",
                                            fieldname + ".args")
        required = body.get("required", []) or []
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise body.loc_of("required").error("expected a list of argument names",
                                                fieldname + ".required")
        layers = body.get("layers")
        if not isinstance(layers, YamlSeq) or not layers:
            raise body.loc_of("layers").error("a block needs a non-empty list of layers",
                                              fieldname + ".layers")
        output = body.get("output")
        if output is not None and not isinstance(output, str):
            raise body.loc_of("output").error("expected a layer name", fieldname + ".output")
        checks = body.get("checks", ())
        if checks and (not isinstance(checks, YamlSeq) or not all(
                isinstance(c, YamlMap) and set(c) == {"test", "message"} for c in checks)):
            raise body.loc_of("checks").error("expected a list of {test: EXPR, message: TEXT}",
                                              fieldname + ".checks")
        out[name] = BlockDef(name, MappingProxyType({**{r: None for r in required}, **args}),
                             tuple(required), layers, output, body.loc, fieldname, checks)
    return out


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Spec:
    """Load a network spec file (or a bundled one by name), with `overrides` applied as
    `--set` would."""
    path = resolve_spec(path)
    data = _expect_map(_read_cached(path), Loc(str(path), 1, 1), "a network spec")
    _check_keys(data, NETWORK_KEYS, "a network spec")
    for key in ("name", "input"):
        if key not in data:
            raise data.loc.error(f"missing required field '{key}'", key)
    if ("layers" in data) == ("block" in data):
        raise data.loc.error("give exactly one of 'layers' (the network's body) and 'block' "
                             "(a block called with 'values' as arguments)", "layers")
    name = data["name"]
    if not isinstance(name, str) or not name:
        raise data.loc_of("name").error(f"expected a non-empty string, got {name!r}", "name")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise data.loc_of("description").error("expected a string", "description")
    values = data.get("values", {}) or {}
    if not isinstance(values, dict):
        raise data.loc_of("values").error("expected a mapping of names to values", "values")
    blocks: dict[str, BlockDef] = {}
    _load_blocks(path, data, blocks, {str(path.resolve())}, (str(path.resolve()),))
    blocks.update(_parse_blocks(data))
    layers = data.get("layers")
    if "layers" in data and (not isinstance(layers, YamlSeq) or not layers):
        raise data.loc_of("layers").error("expected a non-empty list of layers", "layers")
    block = data.get("block")
    if block is not None:
        if not isinstance(block, str):
            raise data.loc_of("block").error("expected a block name", "block")
        if block not in blocks:
            raise data.loc_of("block").error(f"unknown block '{block}'{suggest(block, blocks)}",
                                             "block")
        unknown = [k for k in values if k not in blocks[block].args]
        if unknown:
            raise values.loc_of(unknown[0]).error(
                f"block '{block}' has no argument '{unknown[0]}'"
                f"{suggest(unknown[0], blocks[block].args)}", f"values.{unknown[0]}")
    spec = Spec(name=name, file=str(path), input=_shape(data["input"], data.loc_of("input"), "input"),
                values=MappingProxyType(dict(values)), blocks=MappingProxyType(blocks),
                layers=layers, block=block, description=description,
                locs=MappingProxyType({k: data.loc_of(k) for k in data}))
    return spec.with_values(overrides) if overrides else spec


def parse_sets(items: Iterable[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings (VALUE read as YAML: `4`, `[4,5,4,4]`, `imagenet`) to a dict."""
    out: dict[str, Any] = {}
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise SpecError(f"expected KEY=VALUE, got '{item}'", field="--set")
        try:
            value = parse_yaml(text, f"--set {key}")
        except SpecError as err:
            raise SpecError(f"cannot read value '{text}': {err.message}", field=f"--set {key}") from None
        out[key] = plain(value)
    return out
