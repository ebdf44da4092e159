"""Cost search candidates: `Costing.cost(values)` -> `CandidateCost`, cached by values.

Two ways to the same numbers. The graph model (`build_graph` + `cost_graph`, ~10 ms for a
MeliusNet42) is the reference and works for any spec. For `block: meliusnet` specs the closed
form in `mnas.search.formula` gives identical integers in microseconds; it is used only after
it has matched the graph model exactly on the base spec and on probe candidates, and the
reported best candidates are always re-costed by the graph model."""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mnas.cost.conventions import Convention, get_convention
from mnas.errors import MnasError, MnasWarning
from mnas.search.formula import FAMILY_BLOCK, FamilyCounts, family_network, meliusnet_counts
from mnas.spec.load import Spec
from mnas.spec.values import freeze

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CandidateCost:
    """Totals of one candidate under a convention; `widths` are the transition widths when
    known (the closed form resolves them; the graph path leaves them empty)."""

    bops: int
    flops: int
    ops: float
    binary_params: int
    float_params: int
    size_bits: int
    size_mib: float
    widths: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"bops": self.bops, "flops": self.flops, "ops": self.ops,
                "binary_params": self.binary_params, "float_params": self.float_params,
                "size_mib": self.size_mib, "widths": list(self.widths)}

    def same_counts(self, other: CandidateCost) -> bool:
        return (self.bops, self.flops, self.binary_params, self.float_params, self.size_bits) == \
            (other.bops, other.flops, other.binary_params, other.float_params, other.size_bits)


def network_fingerprint(spec) -> str:
    """What the network of `spec` is (see `graph_fingerprint`)."""
    from mnas.spec.expand import build_graph
    return graph_fingerprint(build_graph(spec))


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


def graph_cost(spec: Spec, convention: Convention) -> CandidateCost:
    """The reference: expand the spec and cost every layer."""
    return _graph_cost_and_network(spec, convention)[0]


def _graph_cost_and_network(spec: Spec, convention: Convention) -> tuple[CandidateCost, str]:
    from mnas.cost.model import cost_graph
    from mnas.spec.expand import build_graph
    graph = build_graph(spec)
    t = cost_graph(graph, convention).totals
    return (CandidateCost(t.bops, t.flops, t.ops, t.binary_params, t.float_params, t.size_bits,
                          t.size_mib), graph_fingerprint(graph))


def formula_cost(counts: FamilyCounts, conv: Convention) -> CandidateCost:
    """Apply a convention to closed-form counts, as `cost_graph` does layer by layer."""
    flops = counts.float_macs + (counts.fc_macs if conv.fc_in_ops else 0)
    per_channel = 2 if conv.bn_params_per_channel is None else conv.bn_params_per_channel
    fparams = counts.float_params + counts.norm_channels * per_channel
    bits = counts.binary_params * conv.binary_bits + fparams * conv.float_bits
    return CandidateCost(counts.binary_macs, flops, counts.binary_macs / conv.binary_speedup + flops,
                         counts.binary_params, fparams, bits, bits / 8 / conv.mb_bytes,
                         counts.widths)


class Costing:
    """Costs candidates of one base spec (values are overrides of its `values`). `method`
    skips the check when the caller already knows which model to use."""

    def __init__(self, base: Spec, convention: str | Convention = "paper",
                 probes: Iterable[Mapping[str, Any]] = (), origin: str = "search",
                 method: str | None = None):
        self.base, self.convention, self.origin = base, get_convention(convention), origin
        self._cache: dict[Any, tuple[CandidateCost, str] | MnasError] = {}
        self._defaults = dict(base.blocks[base.block].args) if base.block in base.blocks else {}
        self.method = "graph"
        if method is not None:
            if method not in ("formula", "graph"):
                raise ValueError(f"costing method 'formula' or 'graph', not {method!r}")
            self.method = method
        elif base.block == FAMILY_BLOCK:
            self.method = "formula" if self._formula_agrees([{}, *probes]) else "graph"
        log.info("costing %s with the %s model", base.name, self.method)

    def _formula_agrees(self, probes: Iterable[Mapping[str, Any]]) -> bool:
        """True when the formula matched the graph model on every probe it covers (and
        covered at least one); a probe it does not cover (another stem, say) says nothing."""
        checked = 0
        for values in probes:
            try:
                ref = graph_cost(self.base.with_values(values, self.origin), self.convention)
            except MnasError:
                continue        # an invalid probe says nothing about the formula
            fast = self._formula(values)
            if fast is None:
                continue
            if not fast[0].same_counts(ref):
                warnings.warn(f"{self.base.file}: the closed-form MeliusNet cost disagrees with "
                              f"the graph model for {dict(values)}; costing every candidate "
                              f"through the graph model (slower)", MnasWarning, stacklevel=3)
                return False
            checked += 1
        return checked > 0

    def _formula(self, values: Mapping[str, Any]) -> tuple[CandidateCost, str] | None:
        merged = {**self._defaults, **self.base.values, **values}
        shape = merged.pop("input", self.base.input)
        shape = tuple(shape) if isinstance(shape, (list, tuple)) else ()
        counts = meliusnet_counts(merged, shape)
        if counts is None:
            return None
        identity = repr(family_network(merged, shape, counts.widths))
        return (formula_cost(counts, self.convention),
                "f:" + hashlib.sha256(identity.encode()).hexdigest()[:16])

    def cost(self, values: Mapping[str, Any]) -> CandidateCost:
        """The candidate's totals; an invalid candidate raises the graph model's MnasError."""
        return self.assess(values)[0]

    def network(self, values: Mapping[str, Any]) -> str:
        """What network the candidate is: equal for candidates whose expanded graphs are the
        same (reductions that round to the same widths), different otherwise. Candidates of
        the closed form get an 'f:' key, others a 'g:' key from their graph."""
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
        if self.method == "formula" and "name" not in values:
            fast = self._formula(values)
            if fast is not None:
                return fast
        try:
            return _graph_cost_and_network(self.base.with_values(values, self.origin),
                                           self.convention)
        except MnasError as err:
            return err
