"""What a study found: the best feasible candidates (one objective) or the Pareto front
(several), one per distinct network, each written as a spec that `mnas cost` accepts and
re-costed from that file by the graph model; all trials as a table (CSV)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mnas.cost.budgets import Budget
from mnas.search.costing import network_fingerprint
from mnas.search.ranking import best_trials, feasible
from mnas.search.space import Space


@dataclass(frozen=True)
class Best:
    """One reported candidate: its trial, searched values, cost (as re-costed from the written
    spec), share of the budget and objective value(s)."""

    rank: int
    number: int
    values: Mapping[str, Any]
    widths: tuple[int, ...]
    bops: int
    flops: int
    ops: float
    size_mib: float
    pct_ops: float | None
    pct_size: float | None
    objective: tuple[float, ...]
    spec: str | None = None
    latency_ms: float | None = None


class _Dumper(yaml.SafeDumper):
    pass


def _represent_list(dumper, data):
    flow = all(not isinstance(v, (list, dict)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def library_blocks(spec_file: Path) -> dict[str, Any]:
    """The block definitions `spec_file` includes (depth first, as the spec reader collects
    them), as plain YAML data."""
    out: dict[str, Any] = {}
    seen: set[Path] = set()

    def visit(path: Path) -> None:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        includes = doc.get("include") or []
        for inc in [includes] if isinstance(includes, str) else includes:
            target = (path.parent / inc).resolve()
            if target not in seen:
                seen.add(target)
                visit(target)
                out.update((yaml.safe_load(target.read_text(encoding="utf-8")) or {})
                           .get("blocks") or {})

    visit(Path(spec_file).resolve())
    return out


def spec_document(space: Space, values: Mapping[str, Any], name: str, description: str) -> dict:
    """The base spec's document with `values` applied and the blocks it includes copied in,
    so the file needs nothing beside it (it can move to another folder or machine)."""
    base_file = Path(space.base.file)
    doc = yaml.safe_load(base_file.read_text(encoding="utf-8"))
    values = dict(values)
    doc["name"] = name
    doc["description"] = description
    if "input" in values:
        doc["input"] = list(values.pop("input"))
    values.pop("name", None)
    blocks = library_blocks(base_file)
    blocks.update(doc.get("blocks") or {})
    doc.pop("include", None)
    if blocks:
        doc["blocks"] = blocks
    merged = dict(doc.get("values") or {})
    merged.update(values)
    doc["values"] = merged
    order = ["name", "description", "input", "block", "values", "layers", "blocks"]
    return {k: doc[k] for k in order if k in doc} | {k: v for k, v in doc.items()
                                                      if k not in order}


def write_spec(space: Space, values: Mapping[str, Any], path: Path, name: str,
               description: str, header: Sequence[str] = ()) -> Path:
    doc = spec_document(space, values, name, description)
    text = "".join(f"# {line}\n" for line in header)
    text += yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    _write_text(path, text)
    return path


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def transition_widths(report) -> tuple[int, ...]:
    """Output widths of the transition convs (MeliusNet-family layer names), if any."""
    return tuple(layer.shape[0] for layer in report.layers
                 if layer.name.endswith("transition.conv"))


MANIFEST = "best.json"


def report_best(study, space: Space, budget: Budget, value_names: Sequence[str], out: Path,
                top: int, convention: str, study_name: str,
                directions: Sequence[str] = ()) -> list[Best]:
    """Write a self-contained spec for each of the best candidates (`best-RANK-tTRIAL.yaml`,
    the network named by its fingerprint) and the manifest `best.json` listing them with
    their costs; each written file is re-costed by the graph model and must equal the
    trial's numbers (anything else is a bug)."""
    import json

    from mnas.cost.model import cost_graph
    from mnas.spec.expand import build_graph, load_graph
    rows, entries = [], []
    for old in [*out.glob("best-*.yaml"), out / MANIFEST]:
        old.unlink(missing_ok=True)
    fingerprints: dict[int, str] = {}

    def identity(t) -> str:
        if t.number not in fingerprints:
            fingerprints[t.number] = network_fingerprint(space.spec(space.values(t.params)))
        return fingerprints[t.number]

    for rank, t in enumerate(best_trials(study, top, identity), 1):
        values = space.values(t.params)
        path = out / f"best-{rank}-t{t.number}.yaml"
        c = t.user_attrs["cost"]
        widths = transition_widths(cost_graph(build_graph(space.spec(values)), convention))
        objective = ", ".join(f"{n} {v:.4g}" for n, v in zip(value_names, t.values))
        header = [f"Found by `mnas search` (study '{study_name}', trial {t.number}): {objective}",
                  f"budget {budget.name}: OPs <= {budget.ops or 'inf'}, size <= "
                  f"{budget.size_mib or 'inf'} MiB ({budget.convention} convention)",
                  f"searched space: {_shown(space.file)}",
                  "self-contained: the blocks it uses are copied in below"]
        if widths:
            header.append(f"transition widths: {', '.join(map(str, widths))}")
        base = space.base
        desc = (f"{base.name} variant found by mnas search under {budget.name}: " +
                ", ".join(f"{k} {_fmt(values[k])}" for k in space.searched))
        write_spec(space, values, path, f"{base.name}-{identity(t)[:8]}", desc, header)
        tot = cost_graph(load_graph(path), convention).totals    # as `mnas cost` reads the file
        if (tot.bops, tot.flops, tot.binary_params, tot.float_params) != \
                (c["bops"], c["flops"], c["binary_params"], c["float_params"]):
            raise RuntimeError(f"{path}: costs {tot} but trial {t.number} recorded {c}")
        pct_ops, pct_size = budget.usage(tot.ops, tot.size_mib)
        rows.append(Best(rank, t.number, {k: values[k] for k in space.searched}, widths,
                         tot.bops, tot.flops, tot.ops, tot.size_mib,
                         None if pct_ops is None else 100 * pct_ops,
                         None if pct_size is None else 100 * pct_size,
                         tuple(t.values), str(path), c.get("latency_ms")))
        entries.append({"rank": rank, "trial": t.number, "spec": path.name,
                        "network": identity(t), "values": {k: values[k] for k in space.searched},
                        "objective": dict(zip(value_names, t.values)),
                        "cost": {"bops": tot.bops, "flops": tot.flops, "ops": tot.ops,
                                 "params": tot.params, "binary_params": tot.binary_params,
                                 "float_params": tot.float_params, "size_mib": tot.size_mib,
                                 **({"latency_ms": c["latency_ms"]}
                                    if c.get("latency_ms") is not None else {})},
                        "transition_widths": list(widths)})
    manifest = {"format": 1, "study": study_name, "space": space.file,
                "objective": list(value_names), "directions": list(directions),
                "convention": convention,
                "budget": {"name": budget.name, "ops": budget.ops, "size_mib": budget.size_mib,
                           "latency_ms": budget.latency_ms, "convention": budget.convention,
                           "source": budget.source},
                "candidates": entries}
    _write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return rows


def _shown(path: str) -> str:
    """`path` relative to the working directory when it lies below it."""
    rel = os.path.relpath(Path(path).resolve(), Path.cwd())
    return path if rel.startswith("..") else rel


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ",".join(_fmt(v) for v in value) + ")"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def best_frame(rows: Sequence[Best], value_names: Sequence[str]):
    import pandas as pd
    records = []
    for b in rows:
        r: dict[str, Any] = {"rank": b.rank, "trial": b.number}
        r.update({k: _fmt(v) for k, v in b.values.items()})
        if b.widths:
            r["widths"] = "/".join(map(str, b.widths))
        if b.latency_ms is not None:
            r["latency_ms"] = round(b.latency_ms, 3)
        r.update({"ops": b.ops, "size_mib": round(b.size_mib, 4),
                  "%ops": None if b.pct_ops is None else round(b.pct_ops, 2),
                  "%size": None if b.pct_size is None else round(b.pct_size, 2)})
        r.update({n: round(v, 4) for n, v in zip(value_names, b.objective)})
        r["spec"] = Path(b.spec).name if b.spec else ""
        records.append(r)
    return pd.DataFrame(records)


def trials_frame(study, space: Space, budget: Budget, directions: Sequence[str],
                 value_names: Sequence[str]):
    """One row per trial: state, worker, parameters, cost, feasibility, objective values,
    and whether the candidate is on the Pareto front (several objectives)."""
    import pandas as pd
    trials = study.get_trials(deepcopy=False)
    front = set()
    if len(directions) > 1:
        front = {t.number for t in best_trials(study)}
    params = [d.param for d in space.dimensions]
    records = []
    for t in trials:
        c = t.user_attrs.get("cost") or {}
        r: dict[str, Any] = {"number": t.number, "state": t.state.name,
                             "worker": str(t.user_attrs.get("worker", "")).split(":")[0]}
        r.update({p: t.params.get(p) for p in params})
        for k in ("bops", "flops", "ops", "binary_params", "float_params", "size_mib"):
            r[k] = c.get(k)
        if budget.latency_ms is not None:
            r["latency_ms"] = c.get("latency_ms")
        pct_ops, pct_size = budget.usage(c["ops"], c["size_mib"]) if c else (None, None)
        r["%ops"] = None if pct_ops is None else 100 * pct_ops
        r["%size"] = None if pct_size is None else 100 * pct_size
        r["feasible"] = feasible(t)
        values = t.values or [None] * len(value_names)
        r.update(dict(zip(value_names, values)))
        if "proxy" in t.user_attrs:
            r["proxy_top1"] = t.user_attrs["proxy"]
        r["proxy_outside"] = t.user_attrs.get("proxy_outside", "")
        if front:
            r["pareto"] = t.number in front
        r["duplicate_of"] = t.user_attrs.get("duplicate_of", "")
        r["error"] = t.user_attrs.get("error", "")
        records.append(r)
    return pd.DataFrame(records)
