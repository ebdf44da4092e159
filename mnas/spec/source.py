"""Read YAML with the position of every mapping, sequence and value kept, so that any later
error can name the file, line and column it came from. Only PyYAML's safe constructors run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from mnas.errors import SpecError


@dataclass(frozen=True)
class Loc:
    """Where a value stands in a YAML file (1-based line and column)."""

    file: str
    line: int
    col: int

    def error(self, message: str, field: str | None = None) -> SpecError:
        return SpecError(message, file=self.file, line=self.line, col=self.col, field=field)


class YamlMap(dict):
    """A mapping that remembers where it and each of its values stand."""

    loc: Loc
    value_locs: dict

    def loc_of(self, key) -> Loc:
        return self.value_locs.get(key, self.loc)


class YamlSeq(list):
    """A sequence that remembers where it and each of its items stand."""

    loc: Loc
    item_locs: list

    def loc_of(self, index: int) -> Loc:
        return self.item_locs[index] if 0 <= index < len(self.item_locs) else self.loc


class _Loader(yaml.SafeLoader):
    file = "<string>"


def _loc(loader: _Loader, node: yaml.Node) -> Loc:
    return Loc(loader.file, node.start_mark.line + 1, node.start_mark.column + 1)


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> YamlMap:
    loader.flatten_mapping(node)
    out = YamlMap()
    out.loc, out.value_locs = _loc(loader, node), {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise _loc(loader, key_node).error("a mapping key must be a plain value") from None
        if key in out:
            raise _loc(loader, key_node).error(f"duplicate key '{key}'")
        out[key] = loader.construct_object(value_node, deep=True)
        out.value_locs[key] = _loc(loader, value_node)
    return out


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> YamlSeq:
    out = YamlSeq(loader.construct_object(child, deep=True) for child in node.value)
    out.loc = _loc(loader, node)
    out.item_locs = [_loc(loader, child) for child in node.value]
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def parse_yaml(text: str, file: str = "<string>"):
    """Parse YAML text; a syntax error becomes a SpecError at its line and column."""
    loader = _Loader(text)
    loader.file = file
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = " ".join(p for p in (err.context, err.problem) if p) or "invalid YAML"
        raise SpecError(f"invalid YAML: {problem}", file=file,
                        line=mark.line + 1 if mark else None,
                        col=mark.column + 1 if mark else None) from None
    except yaml.YAMLError as err:
        raise SpecError(f"invalid YAML: {err}", file=file) from None
    finally:
        loader.dispose()


def read_yaml(path: str | Path):
    """Read and parse a YAML file; a missing or unreadable file is a SpecError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("no such file", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"cannot read: {err}", file=str(path)) from None
    return parse_yaml(text, str(path))
