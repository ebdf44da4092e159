"""Analytic cost model: per-layer BOPs, FLOPs, OPs, parameters and size under a named
counting convention. Never imports torch."""

from mnas.cost.conventions import CONVENTIONS, Convention, get_convention  # noqa: F401
from mnas.cost.model import CostReport, LayerCost, Totals, cost_graph  # noqa: F401
