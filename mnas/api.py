"""What the commands do, as functions returning data (Graph, CostReport, DataFrame); the CLI
only parses arguments and formats these results."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mnas.cost.conventions import Convention
from mnas.cost.model import CostReport, cost_graph
from mnas.ir.graph import Graph
from mnas.spec.expand import build_graph
from mnas.spec.load import Spec, load_spec


def load(path: str | Path, sets: Mapping[str, Any] | None = None) -> Spec:
    return load_spec(path, sets)


def graph(path: str | Path, sets: Mapping[str, Any] | None = None) -> Graph:
    """The validated graph IR of a spec file, with overrides applied."""
    return build_graph(load_spec(path, sets))


def cost(path: str | Path, sets: Mapping[str, Any] | None = None,
         convention: str | Convention = "paper") -> CostReport:
    return cost_graph(graph(path, sets), convention)


def cost_json(report: CostReport, layers: bool = True, by: str | None = None) -> dict:
    """The `--format json` object of `mnas cost`: integers stay integers."""
    t = report.totals
    out: dict[str, Any] = {
        "name": report.name,
        "convention": report.convention.name,
        "input": list(report.input),
        "totals": {"bops": t.bops, "flops": t.flops, "ops": t.ops, "params": t.params,
                   "binary_params": t.binary_params, "float_params": t.float_params,
                   "size_mib": t.size_mib},
    }
    if layers:
        out["layers"] = [{"name": l.name, "op": l.op, "block": l.block, "stage": l.stage,
                          "precision": l.precision, "shape": list(l.shape), "params": l.params,
                          "macs": l.macs, "bops": l.bops, "flops": l.flops}
                         for l in report.layers]
    if by:
        df = report.rollup(by)
        out[f"by_{by}"] = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                           for row in df.to_dict(orient="records")]
    return out


def summary_row(report: CostReport) -> dict:
    t = report.totals
    return {"network": report.name, "bops": t.bops, "flops": t.flops, "ops": t.ops,
            "params": t.params, "binary_params": t.binary_params, "float_params": t.float_params,
            "size_mib": round(t.size_mib, 4)}


def totals_line(report: CostReport) -> str:
    t, c = report.totals, report.convention
    return (f"BOPs {t.bops:.3e} | FLOPs {t.flops:.3e} | OPs {t.ops:.3e} | params {t.params:,} "
            f"(binary {t.binary_params:,}, 32-bit {t.float_params:,}) | size "
            f"{t.size_mib:.3f} {c.size_unit} | convention '{c.name}': {c.description}")


def search(config, **kwargs):
    """Run or resume a search (`mnas.search.study.SearchConfig`); writes the run folder and
    returns a `SearchOutcome`."""
    from mnas.search.study import search as run
    return run(config, **kwargs)
