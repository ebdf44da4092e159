"""Cost search candidates: `Costing.cost(values)` -> `CandidateCost`, cached by values.

Two ways to the same numbers, from the same per-op counts (`OpDef.count`) and the same
`apply_convention`. The graph model (`build_graph` + `cost_graph`, ~6 ms for a MeliusNet42)
is the reference. The block path (`mnas.cost.blocks`) costs while expanding and keeps each
block's counts by (block, arguments, input shape), so later candidates reuse them. It is used
after it has matched the graph model exactly on the base spec and on probe candidates; what it
does not cover goes to the graph model, and the reported best candidates are always re-costed
by the graph model from their written spec files."""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from mnas.cost.blocks import BlockCache, cost_spec, tally_and_network
from mnas.cost.conventions import Convention, get_convention
from mnas.cost.model import Totals, totals
from mnas.errors import MnasError, MnasWarning
from mnas.spec.load import Spec
from mnas.spec.values import freeze

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CandidateCost:
    """Totals of one candidate under a convention."""

    bops: int
    flops: int
    ops: float
    binary_params: int
    float_params: int
    size_bits: int
    size_mib: float
    latency_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {"bops": self.bops, "flops": self.flops, "ops": self.ops,
               "binary_params": self.binary_params, "float_params": self.float_params,
               "size_mib": self.size_mib}
        return out if self.latency_ms is None else {**out, "latency_ms": self.latency_ms}

    def same_counts(self, other: CandidateCost) -> bool:
        return (self.bops, self.flops, self.binary_params, self.float_params, self.size_bits) == \
            (other.bops, other.flops, other.binary_params, other.float_params, other.size_bits)


def network_fingerprint(spec) -> str:
    """What the network of `spec` is (see `graph_fingerprint`), as 16 hex digits."""
    from mnas.spec.expand import build_graph
    return graph_fingerprint(build_graph(spec))[2:]


def graph_fingerprint(graph) -> str:
    """What the network is (layers, wiring, parameters), not how its values spell it: a
    conv's `reduction` counts as the width it resolves to, so reductions 1.75 and 2.0 that
    give the same width are the same network."""
    from dataclasses import fields, replace
    from mnas.ir.shapes import infer_shapes
    shapes = infer_shapes(graph)
    items = []
    for n in graph.nodes:
        params = n.params
        names = {f.name for f in fields(params)} if params is not None else set()
        if {"out", "reduction"} <= names and params.reduction is not None:
            params = replace(params, out=shapes[n.name][0], reduction=None)
        items.append((n.name, n.op, n.inputs, params))
    return "g:" + hashlib.sha256(repr(items).encode()).hexdigest()[:16]


def candidate_cost(t: Totals) -> CandidateCost:
    return CandidateCost(t.bops, t.flops, t.ops, t.binary_params, t.float_params, t.size_bits,
                         t.size_mib)


def graph_cost(spec: Spec, convention: Convention) -> CandidateCost:
    """The reference: expand the spec and cost every layer."""
    return _graph_cost_and_network(spec, convention)[0]


def _graph_cost_and_network(spec: Spec, convention: Convention) -> tuple[CandidateCost, str]:
    from mnas.cost.model import cost_graph
    from mnas.spec.expand import build_graph
    graph = build_graph(spec)
    return candidate_cost(cost_graph(graph, convention).totals), graph_fingerprint(graph)


class Costing:
    """Costs candidates of one base spec (values are overrides of its `values`). `method`
    ('blocks' or 'graph') skips the check when the caller already knows which to use. With
    `latency` (a latency table's path) each candidate also gets its milliseconds under that
    table, from its graph (mnas.cost.latency)."""

    def __init__(self, base: Spec, convention: str | Convention = "paper",
                 probes: Iterable[Mapping[str, Any]] = (), origin: str = "search",
                 method: str | None = None, latency: str | None = None):
        self.base, self.convention, self.origin = base, get_convention(convention), origin
        self.latency = None if latency is None else get_convention(f"measured:{latency}")
        self._cache: dict[Any, tuple[CandidateCost, str] | MnasError] = {}
        self.blocks: BlockCache = {}
        if method is not None:
            if method not in ("blocks", "graph"):
                raise ValueError(f"costing method 'blocks' or 'graph', not {method!r}")
            self.method = method
        else:
            self.method = "blocks" if self._blocks_agree([{}, *probes]) else "graph"
        log.info("costing %s with the %s model", base.name, self.method)

    def _blocks_agree(self, probes: Iterable[Mapping[str, Any]]) -> bool:
        """True when the block path matched the graph model on every probe it covers (and
        covered at least one); an invalid probe says nothing."""
        checked = 0
        for values in probes:
            try:
                spec = self.base.with_values(values, self.origin)
                ref = graph_cost(spec, self.convention)
            except MnasError:
                continue
            fast = cost_spec(spec, self.convention, self.blocks)
            if fast is None:
                continue
            if not candidate_cost(fast).same_counts(ref):
                warnings.warn(f"{self.base.file}: the block-cached cost disagrees with the "
                              f"graph model for {dict(values)}; costing every candidate "
                              f"through the graph model (slower)", MnasWarning, stacklevel=3)
                return False
            checked += 1
        return checked > 0

    def cost(self, values: Mapping[str, Any]) -> CandidateCost:
        """The candidate's totals; an invalid candidate raises the graph model's MnasError."""
        return self.assess(values)[0]

    def network(self, values: Mapping[str, Any]) -> str:
        """What network the candidate is: equal for candidates whose expanded networks are
        the same (reductions that round to the same widths), different otherwise. The block
        path gives a 'b:' key from the layers it expands or reuses, the graph model a 'g:'
        key from the graph; a study costs all candidates one way, so keys compare."""
        return self.assess(values)[1]

    def assess(self, values: Mapping[str, Any]) -> tuple[CandidateCost, str]:
        """(cost, network) of a candidate, cached; an invalid one raises its MnasError."""
        key = freeze(values)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._compute(values)
            self._cache[key] = hit
        if isinstance(hit, MnasError):
            raise hit
        return hit

    def _compute(self, values: Mapping[str, Any]) -> tuple[CandidateCost, str] | MnasError:
        try:
            spec = self.base.with_values(values, self.origin)
            done = None
            if self.method == "blocks":
                fast = tally_and_network(spec, self.blocks)
                if fast is not None:
                    done = candidate_cost(totals(fast[0], self.convention)), "b:" + fast[1]
            if done is None:
                done = _graph_cost_and_network(spec, self.convention)
            if self.latency is not None:
                done = replace(done[0], latency_ms=graph_cost(spec, self.latency).ops), done[1]
            return done
        except MnasError as err:
            return err
