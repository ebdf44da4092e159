"""Expand a `Spec` into the graph IR: blocks are inlined, `repeat`/`for`/`when` unrolled,
`${...}` evaluated, layer fields parsed into each op's params, and input names resolved.

Scoping: names resolve in the current scope, then (for plain groups) the enclosing ones; a
block body sees only its own layers, its arguments and `in` (its input). Inputs may name a
later sibling; cycles are caught by `lint`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mnas.errors import MnasError, SpecError, suggest
from mnas.ir.graph import Graph, Node, Origin, Scope
from mnas.ir.lint import lint
from mnas.ops.io import InputParams
from mnas.ops.params import ParamError, parse_params
from mnas.ops.registry import get_op
from mnas.spec.expr import ExprError, is_template, render, spend, work_budget
from mnas.spec.limits import (MAX_DIMENSION, MAX_EXPANDED, MAX_NAME_LENGTH, MAX_SCOPE_DEPTH,
                              MAX_VALUE_SIZE, TooDeep, size_problem, value_size)
from mnas.spec.load import BlockDef, Spec, load_spec
from mnas.spec.source import Loc, YamlMap, YamlSeq
from mnas.spec.values import freeze

ITEM_KEYS = ("name", "inputs", "when", "for", "repeat", "index")
INPUT = "input"


@dataclass
class _Frame:
    """One scope being expanded: its name prefix, the local names declared in it, its input,
    and (for groups, not blocks) the enclosing frame."""

    prefix: str
    names: set
    input: str
    parent: _Frame | None

    def resolve(self, ref: str) -> str | None:
        frame: _Frame | None = self
        while frame is not None:
            if ref == "in":
                return frame.input
            if ref in frame.names:
                return frame.prefix + ref
            frame = frame.parent
        return None

    def known(self) -> list[str]:
        out, frame = ["in"], self
        while frame is not None:
            out.extend(frame.names)
            frame = frame.parent
        return out


class _Instance:
    """One planned item: its YAML, environment, local name and field path; its `Scope` is
    built only when the item is expanded (a costing run may skip the instance)."""

    __slots__ = ("item", "env", "local", "field", "_scope")

    def __init__(self, item: YamlMap, env: Mapping[str, Any], local: str, field: str,
                 scope: tuple | None = None):
        self.item, self.env, self.local, self.field, self._scope = item, env, local, field, scope

    @property
    def scope(self) -> Scope | None:
        if isinstance(self._scope, tuple):
            self._scope = Scope(*self._scope)
        return self._scope


_IN, _REL, _ABS = 0, 1, 2


def _code(ref: str, frame: _Frame) -> tuple[int, str]:
    """A reference made independent of where a block was called from."""
    if ref == frame.input:
        return (_IN, "")
    if ref.startswith(frame.prefix):
        return (_REL, ref[len(frame.prefix):])
    return (_ABS, ref)


def _decode(code: tuple[int, str], frame: _Frame) -> str:
    kind, text = code
    return frame.input if kind == _IN else frame.prefix + text if kind == _REL else text


@dataclass(frozen=True)
class _Expansion:
    """A block call's nodes, aliases and output with the call's prefix, input and outer
    scopes taken out: a block called again with the same arguments is copied from this
    instead of being expanded again (a MeliusNet repeats one unit dozens of times). `size` is
    what the first expansion counted towards MAX_EXPANDED; each copy counts it again."""

    nodes: tuple[tuple[str, str, tuple, Any, Origin | None, tuple[Scope, ...]], ...]
    aliases: tuple[tuple[tuple[int, str], tuple[int, str]], ...]
    output: tuple[int, str]
    size: int


class Expander:
    """Expands one spec into `nodes` (and `aliases` from scope names to the node that is a
    scope's output). `mnas.cost.blocks` extends it to cost while expanding: it overrides
    `call_block` and `op_node`, and keeps block results of its own instead of copying
    expansions (`reuse_expansions`)."""

    reuse_expansions = True

    def __init__(self, spec: Spec):
        self.spec = spec
        self.nodes: list[Node] = []
        self.aliases: dict[str, str] = {}
        self.alias_log: list[tuple[str, str]] = []
        self.expansions: dict[Any, _Expansion] = {}
        self.calls: list[str] = []
        self.size = 0

    def grow(self, size: int, loc: Loc, fieldname: str, where: str = "") -> None:
        """Count what the spec expands to (layers, their inputs, block calls, groups, loop
        iterations), refusing more than MAX_EXPANDED before it is built."""
        self.size += size
        if self.size > MAX_EXPANDED:
            raise loc.error(f"the spec expands to more than {MAX_EXPANDED:,} layers, inputs, "
                            f"block calls and loop iterations (limit: expansion size "
                            f"{MAX_EXPANDED:,}){where}", fieldname)

    def alias(self, name: str, target: str) -> None:
        """`name` stands for `target`; logged in order so that a block's expansion can take
        the aliases it added without copying all of them."""
        self.aliases[name] = target
        self.alias_log.append((name, target))

    # -- values ------------------------------------------------------------------------------
    def value(self, raw: Any, env: Mapping[str, Any], loc: Loc, fieldname: str, where: str = ""):
        """Evaluate templates in `raw` (recursively in lists and mappings); a list or mapping
        built is held to the limits on values and charged as evaluation work."""
        if not isinstance(raw, (list, dict)):
            if not is_template(raw):
                return raw
            try:
                return render(raw, env)
            except ExprError as err:
                raise loc.error(f"{err}{where}", fieldname) from None
        out = self._value(raw, env, loc, fieldname, where)
        if isinstance(out, (list, dict)):
            try:
                size = value_size(out)
                if size > MAX_VALUE_SIZE:
                    raise ExprError(f"builds {size_problem(size, exact=False)}")
                spend(size)
            except TooDeep as err:
                raise loc.error(f"builds {err}{where}", fieldname) from None
            except ExprError as err:
                raise loc.error(f"{err}{where}", fieldname) from None
        return out

    def _value(self, raw: Any, env: Mapping[str, Any], loc: Loc, fieldname: str, where: str):
        try:
            if is_template(raw):
                return render(raw, env)
            if isinstance(raw, list):
                return [self._value(v, env, raw.loc_of(i) if isinstance(raw, YamlSeq) else loc,
                                    f"{fieldname}[{i}]", where) for i, v in enumerate(raw)]
            if isinstance(raw, dict):
                return {k: self._value(v, env, raw.loc_of(k) if isinstance(raw, YamlMap) else loc,
                                       f"{fieldname}.{k}", where) for k, v in raw.items()}
            return raw
        except ExprError as err:
            raise loc.error(f"{err}{where}", fieldname) from None

    # -- items -------------------------------------------------------------------------------
    def plan(self, items: YamlSeq, env: Mapping[str, Any], field: str, frame: _Frame,
             where: str) -> list[_Instance]:
        """Unroll `for`, `when` and `repeat` and name every instance in this scope."""
        out: list[_Instance] = []
        counts: dict[str, int] = {}
        for i, item in enumerate(items):
            f = f"{field}[{i}]"
            loc = items.loc_of(i)
            if not isinstance(item, YamlMap):
                raise loc.error(f"expected a layer mapping, got {item!r}", f)
            kinds = [k for k in ("op", "block", "layers") if k in item]
            if len(kinds) != 1:
                raise loc.error("a layer needs exactly one of 'op', 'block' or 'layers'"
                                + (f", got {' and '.join(kinds)}" if kinds else ""), f)
            envs: list[Mapping[str, Any]] = [env]
            if "for" in item:
                spec = item["for"]
                if not isinstance(spec, YamlMap) or len(spec) != 1:
                    raise item.loc_of("for").error("expected one 'name: list' pair", f + ".for")
                (var, seq), = spec.items()
                seq = self.value(seq, env, spec.loc_of(var), f"{f}.for.{var}", where)
                if not isinstance(seq, list):
                    raise spec.loc_of(var).error(f"expected a list, got {seq!r}{where}", f"{f}.for.{var}")
                envs = [{**env, var: v} for v in seq]
            self.grow(len(envs), loc, f, where)
            for k, ienv in enumerate(envs):
                if "when" in item:
                    cond = self.value(item["when"], ienv, item.loc_of("when"), f + ".when", where)
                    if not isinstance(cond, bool):
                        raise item.loc_of("when").error(f"expected true or false, got {cond!r}{where}",
                                                        f + ".when")
                    if not cond:
                        continue
                explicit = "name" in item
                if explicit:
                    name = self.value(item["name"], ienv, item.loc_of("name"), f + ".name", where)
                    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
                        raise item.loc_of("name").error(
                            f"expected a name without spaces, got {name!r}{where}", f + ".name")
                else:
                    name = item.get("op") or (item.get("block") if not is_template(item.get("block"))
                                              else None) or "group"
                    if isinstance(name, str) and is_template(name):
                        name = "group"
                if not explicit or (len(envs) > 1 and not is_template(item["name"])):
                    counts[name] = counts.get(name, 0) + 1
                    if counts[name] > 1 or len(envs) > 1:
                        name = f"{name}{counts[name]}" if len(envs) == 1 else f"{name}{k + 1}"
                repeat = 1
                if "repeat" in item:
                    repeat = self.value(item["repeat"], ienv, item.loc_of("repeat"), f + ".repeat",
                                        where)
                    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 0:
                        raise item.loc_of("repeat").error(
                            f"expected a count >= 0, got {repeat!r}{where}", f + ".repeat")
                    self.grow(repeat, item.loc_of("repeat"), f + ".repeat", where)
                    index_var = item.get("index")
                    for r in range(repeat):
                        renv = {**ienv, index_var: r} if isinstance(index_var, str) else ienv
                        local = f"{name}{r + 1}"
                        out.append(_Instance(item, renv, local, f, (local, None, r + 1, repeat)))
                    if repeat:
                        self.alias(frame.prefix + name, frame.prefix + f"{name}{repeat}")
                        frame.names.add(name)
                else:
                    scope = (name, None, k + 1, len(envs)) if "for" in item else None
                    out.append(_Instance(item, ienv, name, f, scope))
        seen: dict[str, _Instance] = {}
        for inst in out:
            if inst.local in seen:
                raise inst.item.loc.error(f"duplicate layer name '{inst.local}' in this scope{where}",
                                          inst.field + ".name")
            seen[inst.local] = inst
            frame.names.add(inst.local)
        return out

    def expand(self, items: YamlSeq, env: Mapping[str, Any], field: str, frame: _Frame,
               scopes: tuple[Scope, ...], block_name: str | None = None) -> str:
        """Expand a scope's items; return the reference to the scope's output."""
        where = f" (in {frame.prefix[:-1]})" if frame.prefix else ""
        current = frame.input
        last = current
        for inst in self.plan(items, env, field, frame, where):
            last = self.expand_one(inst, frame, scopes, current, where)
            current = last
        return last

    def inputs(self, inst: _Instance, frame: _Frame, default: str, where: str) -> tuple[str, ...]:
        item = inst.item
        if "inputs" not in item:
            return (default,)
        raw = self.value(item["inputs"], inst.env, item.loc_of("inputs"), inst.field + ".inputs",
                         where)
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
            raise item.loc_of("inputs").error(f"expected a list of layer names, got {raw!r}",
                                              inst.field + ".inputs")
        out = []
        for ref in raw:
            resolved = frame.resolve(ref) or (ref if "." in ref or ref == INPUT else None)
            if resolved is None:
                raise item.loc_of("inputs").error(
                    f"unknown input '{ref}'{suggest(ref, frame.known())}{where}",
                    inst.field + ".inputs")
            out.append(resolved)
        return tuple(out)

    def expand_one(self, inst: _Instance, frame: _Frame, scopes: tuple[Scope, ...],
                   default_input: str, where: str) -> str:
        item, env = inst.item, inst.env
        qualified = frame.prefix + inst.local
        if len(qualified) > MAX_NAME_LENGTH:
            raise item.loc_of("name").error(
                f"layer name of {len(qualified):,} characters (limit: name length "
                f"{MAX_NAME_LENGTH:,}){where}", inst.field + ".name")
        ins = self.inputs(inst, frame, default_input, where)
        scope = inst.scope or Scope(inst.local)
        if "op" in item:
            return self.op_node(inst, qualified, ins, scopes, where)
        if len(scopes) >= MAX_SCOPE_DEPTH:
            raise item.loc.error(f"blocks and groups nested more than {MAX_SCOPE_DEPTH} deep "
                                 f"(limit: scope depth {MAX_SCOPE_DEPTH}){where}", inst.field)
        if len(ins) != 1:
            raise item.loc_of("inputs").error("a block or group takes exactly one input",
                                              inst.field + ".inputs")
        unknown = [k for k in item if k not in ITEM_KEYS + ("block", "args", "layers")]
        if unknown:
            raise item.loc_of(unknown[0]).error(
                f"unknown field{suggest(unknown[0], ITEM_KEYS + ('block', 'args', 'layers'))}",
                f"{inst.field}.{unknown[0]}")
        if "layers" in item:
            layers = item["layers"]
            if not isinstance(layers, YamlSeq) or not layers:
                raise item.loc_of("layers").error("expected a non-empty list of layers",
                                                  inst.field + ".layers")
            sub = _Frame(qualified + ".", set(), ins[0], frame)
            out = self.expand(layers, env, inst.field + ".layers", sub, scopes + (scope,))
        else:
            block = self.lookup_block(item, env, inst.field, where)
            if block.name in self.calls:
                cycle = self.calls[self.calls.index(block.name):] + [block.name]
                raise item.loc_of("block").error(
                    f"block '{block.name}' calls itself: {' -> '.join(cycle)}",
                    inst.field + ".block")
            args = self.block_args(block, item, env, inst.field, where)
            sub = _Frame(qualified + ".", set(), ins[0], None)
            scope = Scope(scope.name, block.name, scope.index, scope.count)
            out = self.call_block(block, args, sub, scopes + (scope,), item.loc_of("block"),
                                  inst.field + ".block")
        self.alias(qualified, out)
        return qualified

    def lookup_block(self, item: YamlMap, env, fieldname: str, where: str) -> BlockDef:
        name = self.value(item["block"], env, item.loc_of("block"), fieldname + ".block", where)
        if name not in self.spec.blocks:
            raise item.loc_of("block").error(f"unknown block '{name}'"
                                             f"{suggest(name, self.spec.blocks)}{where}",
                                             fieldname + ".block")
        return self.spec.blocks[name]

    def block_args(self, block: BlockDef, item: YamlMap, env, fieldname: str, where: str) -> dict:
        raw = item.get("args")
        if raw is None:
            return self.complete_args(block, {}, item.loc, fieldname)
        if not isinstance(raw, YamlMap):
            raise item.loc_of("args").error("expected a mapping of arguments", fieldname + ".args")
        for key in raw:
            if key not in block.args:
                raise raw.loc_of(key).error(
                    f"block '{block.name}' has no argument '{key}'{suggest(key, block.args)}",
                    f"{fieldname}.args.{key}")
        given = self.value(raw, env, raw.loc, fieldname + ".args", where)
        return self.complete_args(block, given, item.loc, fieldname)

    @staticmethod
    def complete_args(block: BlockDef, given: Mapping[str, Any], loc: Loc, fieldname: str) -> dict:
        missing = [r for r in block.required if given.get(r) is None]
        if missing:
            raise loc.error(f"block '{block.name}' needs argument '{missing[0]}'",
                            f"{fieldname}.args.{missing[0]}")
        return {**block.args, **given}

    def check_args(self, block: BlockDef, args: Mapping[str, Any], frame: _Frame) -> None:
        """Run the block's `checks` on its arguments."""
        where = f" (in {frame.prefix[:-1]})" if frame.prefix else ""
        for i, check in enumerate(block.checks):
            f = f"{block.field}.checks[{i}]"
            ok = self.value(check["test"], args, check.loc_of("test"), f + ".test", where)
            if ok is not True:
                given = ", ".join(f"{k}={v!r}" for k, v in args.items() if k in check["test"])
                raise check.loc.error(f"{check['message']} ({given}){where}", f)

    def call_block(self, block: BlockDef, args: dict, frame: _Frame, scopes: tuple[Scope, ...],
                   loc: Loc, fieldname: str) -> str:
        """Expand `block` called with `args`; `loc` and `fieldname` are the call's."""
        where = f" (in {frame.prefix[:-1]})" if frame.prefix else ""
        self.check_args(block, args, frame)
        try:
            key = (block.name, freeze(args)) if self.reuse_expansions else None
        except TypeError:
            key = None
        if key in self.expansions:
            done = self.expansions[key]
            self.grow(done.size, loc, fieldname, where)
            return self.copy(done, frame, scopes)
        first_node, first_alias, first_size = len(self.nodes), len(self.alias_log), self.size
        self.calls.append(block.name)
        out = self.expand(block.layers, args, block.field + ".layers", frame, scopes)
        self.calls.pop()
        if block.output is not None:
            if block.output not in frame.names:
                raise block.loc.error(f"output '{block.output}' is not a layer of this block"
                                      f"{suggest(block.output, frame.names)}",
                                      block.field + ".output")
            out = frame.prefix + block.output
        if key is not None:
            depth = len(scopes)
            self.expansions[key] = _Expansion(
                tuple((n.name[len(frame.prefix):], n.op, tuple(_code(i, frame) for i in n.inputs),
                       n.params, n.origin, n.scopes[depth:]) for n in self.nodes[first_node:]),
                tuple((_code(k, frame), _code(v, frame))
                      for k, v in self.alias_log[first_alias:]),
                _code(out, frame), self.size - first_size)
        return out

    def copy(self, done: _Expansion, frame: _Frame, scopes: tuple[Scope, ...]) -> str:
        prefix = frame.prefix
        self.nodes.extend(
            Node(prefix + name, op, tuple(_decode(i, frame) for i in inputs), params, origin,
                 scopes + inner) for name, op, inputs, params, origin, inner in done.nodes)
        for k, v in done.aliases:
            self.alias(_decode(k, frame), _decode(v, frame))
        return _decode(done.output, frame)

    def op_node(self, inst: _Instance, qualified: str, ins: tuple[str, ...],
                scopes: tuple[Scope, ...], where: str) -> str:
        item, env = inst.item, inst.env
        try:
            op = get_op(item["op"])
        except MnasError as err:
            raise item.loc_of("op").error(f"{err}{where}", inst.field + ".op") from None
        raw = {k: v for k, v in item.items() if k not in ITEM_KEYS and k != "op"}
        fields = {k: self.value(v, env, item.loc_of(k), f"{inst.field}.{k}", where)
                  for k, v in raw.items()}
        try:
            params = parse_params(op.name, op.params, fields)
        except ParamError as err:
            loc = item.loc_of(err.field.split("[")[0]) if err.field in item or \
                err.field.split("[")[0] in item else item.loc
            raise loc.error(f"{err.message}{where}", f"{inst.field}.{err.field}") from None
        for name, number in vars(params).items():
            if type(number) is int and not -MAX_DIMENSION <= number <= MAX_DIMENSION:
                raise item.loc_of(name).error(
                    f"{number:,} is too large (limit: dimension {MAX_DIMENSION:,}){where}",
                    f"{inst.field}.{name}")
        self.grow(len(ins), item.loc, inst.field, where)
        loc = item.loc
        scope = scopes + ((inst.scope,) if inst.scope else ())
        self.nodes.append(Node(qualified, op.name, ins, params,
                               Origin(loc.file, loc.line, loc.col, inst.field), scope))
        return qualified

    def resolve(self, ref: str) -> str:
        seen = set()
        while ref in self.aliases:
            if ref in seen:
                raise SpecError(f"layer '{ref}' refers to itself as its own input")
            seen.add(ref)
            ref = self.aliases[ref]
        return ref


def load_graph(path, sets: Mapping[str, Any] | None = None) -> Graph:
    """The graph of a spec file (or bundled spec name) with overrides `sets` applied."""
    return build_graph(load_spec(path, sets))


def expand_spec(ex: Expander) -> Expander:
    """Run `ex` over its spec: the input node, then the spec's block or layers."""
    spec = ex.spec
    input_loc = spec.locs.get("input")
    origin = Origin(spec.file, input_loc.line, input_loc.col, "input") if input_loc else None
    ex.nodes.append(Node(INPUT, "input", (), InputParams(spec.input), origin))
    root = _Frame("", {INPUT}, INPUT, None)
    with work_budget():
        if spec.block is not None:
            block = spec.blocks[spec.block]
            loc = spec.locs.get("values") or spec.locs.get("block")
            args = ex.complete_args(block, dict(spec.values), loc, "values")
            ex.call_block(block, args, root, (), spec.locs.get("block") or loc, "block")
        else:
            env = {**spec.values, "input": list(spec.input)}
            ex.expand(spec.layers, env, "layers", root, ())
    return ex


def build_graph(spec: Spec) -> Graph:
    """Expand `spec` into a validated, topologically ordered `Graph`."""
    ex = expand_spec(Expander(spec))
    nodes = tuple(Node(n.name, n.op, tuple(ex.resolve(i) for i in n.inputs), n.params,
                       n.origin, n.scopes) for n in ex.nodes)
    return lint(Graph(spec.name, nodes))
