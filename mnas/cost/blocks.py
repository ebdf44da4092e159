"""Cost a spec while expanding it, block by block, with a cache: the fast path of the search.

A block's layers depend only on the block, its arguments and the shape of its input (a block
body sees nothing else), so its convention-free counts (`Tally`) and output shape can be kept
under that key and reused: the next candidate that calls the same block on the same shape
skips its expansion. Everything else is the graph model's own code: the spec's expander
(`mnas.spec.expand`), each op's shape rule and `OpDef.count`, and `apply_convention` through
`totals`. Anything this path does not cover (a reference to a layer not yet expanded, a shape
or spec error) returns None, and the caller uses the graph model, which gives the error with
its message."""

from __future__ import annotations

from mnas.cost.conventions import Convention
from mnas.cost.model import Tally, Totals, totals
from mnas.errors import MnasError
from mnas.ops.registry import Shape, ShapeRuleError, get_op
from mnas.spec.expand import Expander, expand_spec
from mnas.spec.load import Spec
from mnas.spec.values import freeze

#: (block name, its arguments, input shape) -> (its layers' tally, output shape)
BlockCache = dict


class _NotCovered(Exception):
    """This path cannot cost the spec; the graph model must."""


class _CostingExpander(Expander):
    reuse_expansions = False     # a copied expansion could hold blocks this path skipped

    def __init__(self, spec: Spec, cache: BlockCache):
        super().__init__(spec)
        self.cache = cache
        self.shapes: dict[str, Shape] = {"input": tuple(spec.input)}
        self.tallies: list[Tally] = [Tally()]

    def shape_of(self, ref: str) -> Shape:
        try:
            return self.shapes[self.resolve(ref)]
        except (KeyError, MnasError):
            raise _NotCovered(ref) from None

    def account(self, node) -> None:
        """Shape and count one new node, as `infer_shapes` and `cost_graph` would."""
        op = get_op(node.op)
        n = len(node.inputs)
        if op.name == "input" or n < op.min_inputs or (op.max_inputs is not None
                                                       and n > op.max_inputs):
            raise _NotCovered(node.name)
        ins = tuple(self.shape_of(i) for i in node.inputs)
        out = op.infer_shape(node.params, ins)
        self.shapes[node.name] = out
        self.tallies[-1] = self.tallies[-1].add(op.count(node.params, ins, out), op.fc)

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
        (block, arguments, input shape, n), else call by call, each from the cache when it
        holds the call's (block, arguments, input shape)."""
        first = run[0]
        block = self.lookup_block(first.item, first.env, first.field, where)
        args = self.block_args(block, first.item, first.env, first.field, where)
        try:
            frozen = freeze(args)
        except TypeError:
            frozen = None
        if frozen is None:
            for inst in run:
                current = self.expand_one(inst, frame, scopes, current, where)
            return current
        whole = (block.name, frozen, self.shape_of(current), len(run))
        hit = self.cache.get(whole)
        if hit is None:
            self.check_args(block, args, frame)     # a hit passed them: they read only args
        else:
            name = frame.prefix + run[-1].local
            self.aliases[name] = self._reuse(hit, name)
            return name
        self.tallies.append(Tally())
        for inst in run:
            hit = self.cache.get((block.name, frozen, self.shape_of(current)))
            if hit is None:
                current = self.expand_one(inst, frame, scopes, current, where)
            else:
                current = frame.prefix + inst.local
                self.aliases[current] = self._reuse(hit, current)
        self._keep(whole, self.tallies.pop(), current)
        return current

    def _reuse(self, hit, scope: str) -> str:
        """Add a cached tally; returns a name standing for its output in `scope` (the inner
        layers do not exist, so a reference to one is not covered)."""
        tally, shape = hit
        self.tallies[-1] = self.tallies[-1] + tally
        out = scope + ".\0output"
        self.shapes[out] = shape
        return out

    def _keep(self, key, tally: Tally, output: str) -> None:
        self.tallies[-1] = self.tallies[-1] + tally
        if key is not None:
            self.cache[key] = (tally, self.shape_of(output))

    def call_block(self, block, args, frame, scopes) -> str:
        try:
            key = (block.name, freeze(args), self.shape_of(frame.input))
            hit = self.cache.get(key)
        except TypeError:
            key = hit = None
        if hit is not None:             # its checks passed before: they read only the args
            return self._reuse(hit, frame.prefix[:-1])
        self.tallies.append(Tally())
        out = super().call_block(block, args, frame, scopes)
        self._keep(key, self.tallies.pop(), out)
        return out


def tally_spec(spec: Spec, cache: BlockCache) -> Tally | None:
    """The convention-free counts of `spec`'s network, or None when this path does not cover
    it (then cost it with the graph model)."""
    try:
        ex = expand_spec(_CostingExpander(spec, cache))
    except (_NotCovered, ShapeRuleError, MnasError):
        return None
    return ex.tallies[0]


def cost_spec(spec: Spec, convention: str | Convention, cache: BlockCache) -> Totals | None:
    tally = tally_spec(spec, cache)
    return None if tally is None else totals(tally, convention)
