"""Read YAML with the position of every mapping, sequence and value kept, so that any later
error can name the file, line and column it came from. Only PyYAML's safe constructors run, on
text that is within the limits of mnas.spec.limits: a regular file of bounded size, valid UTF-8,
bounded nesting and a bounded number of values even through aliases."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.reader import ReaderError

from mnas.errors import SpecError
from mnas.spec.limits import (MAX_FILE_BYTES, MAX_INT_BITS, MAX_YAML_DEPTH, MAX_YAML_VALUES,
                              int_problem)


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


def _too_deep() -> str:
    return f"YAML nested more than {MAX_YAML_DEPTH} deep (limit: YAML depth {MAX_YAML_DEPTH})"


class _Loader(yaml.SafeLoader):
    file = "<string>"
    depth = 0

    def compose_node(self, parent, index):
        """PyYAML composes recursively: refuse nesting past the limit before the stack ends."""
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise SpecError(_too_deep(), file=self.file, line=mark.line + 1,
                                col=mark.column + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _loc(loader: _Loader, node: yaml.Node) -> Loc:
    return Loc(loader.file, node.start_mark.line + 1, node.start_mark.column + 1)


def _mark_loc(file: str, node: yaml.Node) -> Loc:
    return Loc(file, node.start_mark.line + 1, node.start_mark.column + 1)


_ACTIVE = (0, 0)


def _check_expanded(node: yaml.Node, file: str, level: int, seen: dict) -> tuple[int, int]:
    """(values, depth) of `node` with every alias counted as a copy, refused past
    MAX_YAML_VALUES or MAX_YAML_DEPTH: a few lines of aliases can stand for billions of values
    or nest without end. Memoised per node, so checking costs one visit per node."""
    if level > MAX_YAML_DEPTH:
        raise _mark_loc(file, node).error(_too_deep())
    hit = seen.get(id(node))
    if hit is _ACTIVE:
        raise _mark_loc(file, node).error("an alias refers to a collection that contains it")
    if hit is not None:
        if level - 1 + hit[1] > MAX_YAML_DEPTH:
            raise _mark_loc(file, node).error(_too_deep() + " through an alias")
        return hit
    if isinstance(node, yaml.ScalarNode):
        return 1, 1
    seen[id(node)] = _ACTIVE
    children = node.value if isinstance(node, yaml.SequenceNode) else \
        [child for pair in node.value for child in pair]
    values, depth = 1, 0
    for child in children:
        n, d = _check_expanded(child, file, level + 1, seen)
        values, depth = values + n, max(depth, d)
        if values > MAX_YAML_VALUES:
            raise _mark_loc(file, node).error(
                f"YAML of more than {MAX_YAML_VALUES:,} values counting each use of an alias "
                f"(limit: YAML values {MAX_YAML_VALUES:,})")
    seen[id(node)] = result = (values, depth + 1)
    return result


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    try:
        value = loader.construct_yaml_int(node)
    except ValueError:
        value = None
    if value is None or value.bit_length() > MAX_INT_BITS:
        bits = value.bit_length() if value is not None else int(len(node.value) * 3.33)
        raise _loc(loader, node).error(int_problem(bits))
    return value


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
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _position(text: str | bytes, index: int) -> tuple[int, int]:
    """1-based line and column of character (or byte) `index`."""
    newline = "\n" if isinstance(text, str) else b"\n"
    return text.count(newline, 0, index) + 1, index - (text.rfind(newline, 0, index) + 1) + 1


def parse_yaml(text: str, file: str = "<string>"):
    """Parse YAML text; a syntax error becomes a SpecError at its line and column."""
    try:
        loader = _Loader(text)
    except ReaderError as err:
        line, col = _position(text, err.position)
        name = "a NUL byte" if err.character == 0 else f"character U+{err.character:04X}"
        raise SpecError(f"invalid YAML: {name} is not allowed in YAML text", file=file,
                        line=line, col=col) from None
    loader.file = file
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded(node, file, 1, {})
        return loader.construct_document(node)
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


def read_text(path: str | Path) -> str:
    """A spec file's text: a regular file of at most MAX_FILE_BYTES, valid UTF-8. Opened
    without blocking and checked on the open file, so a FIFO, a device (/dev/zero) or a
    directory is refused instead of read."""
    file = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SpecError("no such file", file=file) from None
    except OSError as err:
        raise SpecError(f"cannot read: {err.strerror}", file=file) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise SpecError(f"cannot read: {kind} (a spec is a YAML file)", file=file)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise SpecError(f"cannot read: {err.strerror}", file=file) from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise SpecError(f"file of more than {MAX_FILE_BYTES:,} bytes "
                        f"(limit: file size {MAX_FILE_BYTES:,} bytes)", file=file)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line, col = _position(data, err.start)
        raise SpecError(f"not UTF-8 text: byte 0x{data[err.start]:02x} cannot be decoded",
                        file=file, line=line, col=col) from None


def read_yaml(path: str | Path):
    """Read and parse a YAML file; a missing, unreadable or odd file is a SpecError."""
    return parse_yaml(read_text(path), str(path))
