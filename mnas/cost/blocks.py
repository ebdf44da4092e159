"""Cost a spec while expanding it, block by block, with a cache: the fast path of the search.

A block's layers depend only on the block, its arguments and its input (a block body sees
nothing else), so its convention-free counts (`Tally`), output shape and output precision can
be kept under (block, arguments, input shape, input bits) and reused: the next candidate that
calls the same block on the same input skips its expansion. Everything else is the graph
model's own code: the spec's expander (`mnas.spec.expand`, with its limits), each op's shape
rule, `OpDef.count` and `out_bits`, Larq's MAC precision rule (`mnas.ir.precision`), and
`apply_convention` through `totals`. Anything this path does not cover (a reference to a layer
not expanded here, a shape or spec error) returns None, and the caller uses the graph model,
which gives the error with its message."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields, replace

from mnas.cost.conventions import Convention
from mnas.cost.model import Tally, Totals, totals
from mnas.errors import MnasError
from mnas.ir.precision import mac_precision
from mnas.ops.bits import FULL
from mnas.ops.registry import Shape, ShapeRuleError, get_op
from mnas.spec.expand import Expander, expand_spec
from mnas.spec.load import Spec
from mnas.spec.values import freeze


@dataclass(frozen=True)
class _Done:
    """A block call's (or a run of calls') result: counts, output shape and bits, the
    expansion size it adds (the expander's limit counts it) and a digest of the layers it
    holds (`network`)."""

    tally: Tally
    shape: Shape
    bits: int
    size: int
    digest: str


#: (block name, arguments, input shape, input bits[, calls in a run]) -> _Done
BlockCache = dict


class _NotCovered(Exception):
    """This path cannot cost the spec; the graph model must."""


class _CostingExpander(Expander):
    reuse_expansions = False     # a copied expansion could hold blocks this path skipped

    def __init__(self, spec: Spec, cache: BlockCache):
        super().__init__(spec)
        self.cache = cache
        self.shapes: dict[str, Shape] = {"input": tuple(spec.input)}
        self.bits: dict[str, int] = {"input": FULL}
        self.tallies: list[Tally] = [Tally()]
        self.prints: list[list] = [[]]

    def shape_of(self, ref: str) -> tuple[Shape, int]:
        try:
            name = self.resolve(ref)
            return self.shapes[name], self.bits[name]
        except (KeyError, MnasError):
            raise _NotCovered(ref) from None

    def account(self, node) -> None:
        """Shape, precision and counts of one new node, as `infer_shapes`, `infer_bits` and
        `cost_graph` give them."""
        op = get_op(node.op)
        n = len(node.inputs)
        if op.name == "input" or n < op.min_inputs or (op.max_inputs is not None
                                                       and n > op.max_inputs):
            raise _NotCovered(node.name)
        ins = [self.shape_of(i) for i in node.inputs]
        shapes, bits = tuple(s for s, _ in ins), tuple(b for _, b in ins)
        out = op.infer_shape(node.params, shapes)
        self.shapes[node.name] = out
        self.bits[node.name] = op.out_bits(node.params, bits)
        counts = mac_precision(op.count(node.params, shapes, out), max(bits, default=FULL))
        self.tallies[-1] = self.tallies[-1].add(counts, op.fc)
        self.prints[-1].append((op.name, _resolved(node.params, out), shapes))

    def op_node(self, inst, qualified, ins, scopes, where) -> str:
        name = super().op_node(inst, qualified, ins, scopes, where)
        self.account(self.nodes[-1])
        return name

    def expand(self, items, env, field, frame, scopes, block_name=None) -> str:
        """As the expander does, but a run of repeats of one block call (`repeat:` without
        an index) is costed as one, through `expand_run`."""
        where = f" (in {frame.prefix[:-1]})" if frame.prefix else ""
        current = frame.input
        instances = self.plan(items, env, field, frame, where)
        i = 0
        while i < len(instances):
            inst, j = instances[i], i + 1
            if "block" in inst.item and "inputs" not in inst.item:
                while j < len(instances) and instances[j].item is inst.item and \
                        instances[j].env is inst.env:
                    j += 1
            if j - i > 1:
                current = self.expand_run(instances[i:j], frame, scopes, current, where)
            else:
                current = self.expand_one(inst, frame, scopes, current, where)
            i = j
        return current

    def expand_run(self, run, frame, scopes, current, where) -> str:
        """n chained calls of one block with one set of arguments: cached as a whole under
        (block, arguments, input, n), else call by call, each from the cache when it holds
        the call's (block, arguments, input)."""
        first = run[0]
        block = self.lookup_block(first.item, first.env, first.field, where)
        args = self.block_args(block, first.item, first.env, first.field, where)
        try:
            frozen = freeze(args)
        except TypeError:
            frozen = None
        if frozen is None or block.name in self.calls:
            for inst in run:
                current = self.expand_one(inst, frame, scopes, current, where)
            return current
        loc, fieldname = first.item.loc_of("block"), first.field + ".block"
        whole = (block.name, frozen, *self.shape_of(current), len(run))
        hit = self.cache.get(whole)
        if hit is not None:
            name = frame.prefix + run[-1].local
            self.alias(name, self._reuse(hit, name, loc, fieldname, where))
            return name
        self.check_args(block, args, frame)
        self.tallies.append(Tally())
        self.prints.append([])
        size = self.size
        for inst in run:
            hit = self.cache.get((block.name, frozen, *self.shape_of(current)))
            if hit is None:
                current = self.expand_one(inst, frame, scopes, current, where)
            else:
                current = frame.prefix + inst.local
                self.alias(current, self._reuse(hit, current, loc, fieldname, where))
        self._keep(whole, self.tallies.pop(), current, self.size - size)
        return current

    def _reuse(self, hit: _Done, scope: str, loc, fieldname: str, where: str) -> str:
        """Add a cached result; returns a name standing for its output in `scope` (the inner
        layers do not exist, so a reference to one is not covered)."""
        self.grow(hit.size, loc, fieldname, where)
        self.tallies[-1] = self.tallies[-1] + hit.tally
        self.prints[-1].append(hit.digest)
        out = scope + ".\0output"
        self.shapes[out], self.bits[out] = hit.shape, hit.bits
        return out

    def _keep(self, key, tally: Tally, output: str, size: int) -> None:
        self.tallies[-1] = self.tallies[-1] + tally
        digest = _digest(self.prints.pop())
        self.prints[-1].append(digest)
        if key is not None:
            self.cache[key] = _Done(tally, *self.shape_of(output), size, digest)

    def call_block(self, block, args, frame, scopes, loc, fieldname) -> str:
        try:
            key = (block.name, freeze(args), *self.shape_of(frame.input))
            hit = self.cache.get(key)
        except TypeError:
            key = hit = None
        where = f" (in {frame.prefix[:-1]})" if frame.prefix else ""
        if hit is not None:             # its checks passed before: they read only the args
            return self._reuse(hit, frame.prefix[:-1], loc, fieldname, where)
        self.tallies.append(Tally())
        self.prints.append([])
        size = self.size
        out = super().call_block(block, args, frame, scopes, loc, fieldname)
        self._keep(key, self.tallies.pop(), out, self.size - size)
        return out


def _resolved(params, out: Shape):
    """`params` with a width given as `reduction` replaced by the width it resolves to, so
    reductions that round to the same width are the same layer."""
    names = {f.name for f in fields(params)} if params is not None else set()
    if {"out", "reduction"} <= names and params.reduction is not None:
        return replace(params, out=out[0], reduction=None)
    return params


def _digest(items: list) -> str:
    return hashlib.sha256(repr(items).encode()).hexdigest()[:16]


def tally_and_network(spec: Spec, cache: BlockCache) -> tuple[Tally, str] | None:
    """The convention-free counts of `spec`'s network and a digest of what the network is
    (its layers in order: op, parameters with widths resolved, input shapes; equal for specs
    that spell one network differently), or None when this path does not cover it."""
    try:
        ex = expand_spec(_CostingExpander(spec, cache))
    except (_NotCovered, ShapeRuleError, MnasError):
        return None
    return ex.tallies[0], _digest(ex.prints[0])


def tally_spec(spec: Spec, cache: BlockCache) -> Tally | None:
    """The convention-free counts of `spec`'s network, or None when this path does not cover
    it (then cost it with the graph model)."""
    done = tally_and_network(spec, cache)
    return None if done is None else done[0]


def cost_spec(spec: Spec, convention: str | Convention, cache: BlockCache) -> Totals | None:
    tally = tally_spec(spec, cache)
    return None if tally is None else totals(tally, convention)
