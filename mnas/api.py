"""What the commands do, as functions returning data (Graph, CostReport, DataFrame); the CLI
only parses arguments and formats these results."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mnas.cost.budgets import Budget
from mnas.cost.conventions import Convention, get_convention
from mnas.cost.model import CostReport, cost_graph
from mnas.errors import BudgetError, suggest
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


def _number(v: Any) -> Any:
    """numpy scalars as Python numbers; a float that is a whole number as an int."""
    v = v.item() if hasattr(v, "item") else v
    return int(v) if isinstance(v, float) and v.is_integer() else v


def cost_json(report: CostReport, spec: str | None = None, layers: bool = True,
              by: str | None = None) -> dict:
    """One element of `mnas cost --format json` (a list, one per spec; docs/spec.md):
    integers stay integers, `ops` included where it is whole."""
    t = report.totals
    out: dict[str, Any] = {
        "name": report.name,
        "spec": spec,
        "convention": report.convention.name,
        "input": list(report.input),
        "totals": {"bops": t.bops, "flops": t.flops, "ops": _number(t.ops), "params": t.params,
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
        out[f"by_{by}"] = [{k: (v if k == "size_mib" else _number(v)) for k, v in row.items()}
                           for row in df.to_dict(orient="records")]
    return out


def summary_row(report: CostReport) -> dict:
    t = report.totals
    return {"network": report.name, "bops": t.bops, "flops": t.flops, "ops": _number(t.ops),
            "params": t.params, "binary_params": t.binary_params, "float_params": t.float_params,
            "size_mib": round(t.size_mib, 4)}


def totals_line(report: CostReport) -> str:
    t, c = report.totals, report.convention
    ops = f"OPs {t.ops:.3e}" if c.latency is None else f"latency {t.ops:.3f} ms"
    return (f"BOPs {t.bops:.3e} | FLOPs {t.flops:.3e} | {ops} | params {t.params:,} "
            f"(binary {t.binary_params:,}, 32-bit {t.float_params:,}) | size "
            f"{t.size_mib:.3f} {c.size_unit} | convention '{c.name}': {c.description}")


def budget_table(convention: str | Convention = "paper"):
    """`mnas budgets`: every preset budget with the OPs, size and parameters the cost model
    computes for its reference network under `convention`."""
    import pandas as pd
    from mnas.cost.budgets import PRESETS, SPECS_DIR, preset_budget
    rows = []
    for name, (file, sets) in PRESETS.items():
        budget = preset_budget(name, convention)
        report = cost(SPECS_DIR / file, sets, convention)
        rows.append({"budget": name, "ops": budget.ops, "size_mib": budget.size_mib,
                     "params": report.totals.params, "source": budget.source})
    return pd.DataFrame(rows, columns=["budget", "ops", "size_mib", "params", "source"])


def split_sets(spec: Spec, sets: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides among `sets` that `spec` accepts (a comparison spans specs with
    different knobs: `stem` means nothing to MobileNet)."""
    allowed = set(spec.settable())
    return {k: v for k, v in sets.items() if k in allowed}


def compare_table(paths: list[str | Path], sets: Mapping[str, Any] | None = None,
                  budget: Budget | None = None, convention: str | Convention = "paper"):
    """`mnas compare`: one row per spec (BOPs, FLOPs, OPs, params, size) and, with a budget,
    the percentage of its OPs and size used and whether the network fits. Each override in
    `sets` applies to the specs that accept it; one that no spec accepts is an error."""
    import pandas as pd
    from mnas.errors import SpecError
    sets = dict(sets or {})
    if budget is not None and budget.convention != get_convention(convention).name:
        raise BudgetError(f"budget '{budget.name}' was computed under convention "
                          f"'{budget.convention}', not '{get_convention(convention).name}'")
    specs = [load_spec(p) for p in paths]
    used: set[str] = set()
    rows = []
    for path, spec in zip(paths, specs):
        mine = split_sets(spec, sets)
        used |= set(mine)
        report = cost_graph(build_graph(spec.with_values(mine) if mine else spec), convention)
        t = report.totals
        row: dict[str, Any] = {"network": report.name, "spec": str(path), "bops": t.bops,
                               "flops": t.flops, "ops": t.ops, "params": t.params,
                               "size_mib": t.size_mib}
        if sets:
            row["overrides"] = " ".join(f"{k}={v}" for k, v in mine.items()) or "-"
        if budget is not None:
            ops_used, size_used = budget.usage(t.ops, t.size_mib)
            row["ops_pct"] = None if ops_used is None else 100 * ops_used
            row["size_pct"] = None if size_used is None else 100 * size_used
            row["fits"] = budget.fits(t.ops, t.size_mib)
        rows.append(row)
    unused = [k for k in sets if k not in used]
    if unused:
        known = sorted({n for s in specs for n in s.settable()})
        raise SpecError(f"no spec accepts '{unused[0]}'{suggest(unused[0], known)}; these specs "
                        f"set: {', '.join(known)}", field=f"--set {unused[0]}")
    return pd.DataFrame(rows)


def budget_line(budget: Budget) -> str:
    """One line saying what a budget is and where its numbers came from."""
    ops = "unbounded" if budget.ops is None else f"{budget.ops:.4e}"
    size = "unbounded" if budget.size_mib is None else f"{budget.size_mib:.3f} MiB"
    return (f"budget '{budget.name}': OPs {ops}, size {size} ({budget.source}; convention "
            f"'{budget.convention}')")
def diagram(path: str | Path, sets: Mapping[str, Any] | None = None, level: str = "block",
            fold: bool = False, costs: bool = False, convention: str | Convention = "paper"):
    """The layout of a spec's network diagram (`mnas render`); torch-free."""
    from mnas.ir.shapes import infer_shapes
    from mnas.render.layout import layout_graph
    g = graph(path, sets)
    shapes = infer_shapes(g)
    report = cost_graph(g, convention, shapes)
    return layout_graph(g, shapes, report, level=level, fold=fold, costs=costs)
def search(config, **kwargs):
    """Run or resume a search (`mnas.search.config.SearchConfig`); writes the run folder and
    returns a `SearchOutcome`."""
    from mnas.search.run import search as run
    return run(config, **kwargs)
