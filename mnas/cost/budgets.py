"""Budgets: cost ceilings derived from reference networks by the same cost model, never typed
in. The presets are data (`mnas/zoo/budgets.yaml`): `mobilenet-W` is MobileNet-v1 at width W
(specs/mobilenet_v1.yaml) costed under the chosen convention; any network spec (a file, or a
bundled name such as `resnete18`) is a budget too: its own OPs and size ("a MeliusNet as cheap
as ResNetE18"); explicit numbers are accepted as well."""

from __future__ import annotations

from dataclasses import dataclass

from mnas.cost.conventions import Convention, get_convention
from mnas.errors import BudgetError, suggest
from mnas.zoo import SPECS_DIR, budget_presets, names as zoo_names, resolve_spec

#: budget name -> (bundled spec file, overrides) of its reference network
PRESETS: dict[str, tuple[str, dict]] = budget_presets()


@dataclass(frozen=True)
class Budget:
    """Upper bounds on OPs and size (None: unbounded), with the convention they were
    computed under and where they came from; optionally a latency bound in milliseconds,
    judged by a latency table (`mnas bench`, mnas.cost.latency)."""

    name: str
    ops: float | None
    size_mib: float | None
    convention: str
    source: str
    latency_ms: float | None = None
    latency_table: str | None = None

    def fits(self, ops: float, size_mib: float, latency_ms: float | None = None) -> bool:
        return ((self.ops is None or ops <= self.ops)
                and (self.size_mib is None or size_mib <= self.size_mib)
                and (self.latency_ms is None or
                     (latency_ms is not None and latency_ms <= self.latency_ms)))

    def usage(self, ops: float, size_mib: float) -> tuple[float | None, float | None]:
        """Fractions of the budget used (1.0 = exactly at the limit)."""
        return (ops / self.ops if self.ops else None,
                size_mib / self.size_mib if self.size_mib else None)


def preset_budget(name: str, convention: str | Convention = "paper") -> Budget:
    if name not in PRESETS:
        return spec_budget(name, convention)
    from mnas.cost.model import cost_graph
    from mnas.spec.expand import load_graph
    conv = get_convention(convention)
    file, sets = PRESETS[name]
    report = cost_graph(load_graph(SPECS_DIR / file, sets), conv)
    source = f"specs/{file} " + " ".join(f"--set {k}={v}" for k, v in sets.items())
    return Budget(name, report.totals.ops, report.totals.size_mib, conv.name, source)


def spec_budget(name: str, convention: str | Convention = "paper") -> Budget:
    """The OPs and size of a network spec (a path, or a bundled spec's name) as a budget."""
    path = resolve_spec(name)
    if not path.is_file():
        known = [*PRESETS, *zoo_names()]
        raise BudgetError(f"unknown budget '{name}'{suggest(name, known)}: neither a preset "
                          f"({', '.join(PRESETS)}) nor a spec file or bundled spec "
                          f"({', '.join(zoo_names())})")
    from mnas.cost.model import cost_graph
    from mnas.spec.expand import load_graph
    conv = get_convention(convention)
    report = cost_graph(load_graph(path), conv)
    bundled = path.parent.resolve() == SPECS_DIR.resolve()
    return Budget(path.stem, report.totals.ops, report.totals.size_mib, conv.name,
                  f"specs/{path.name}" if bundled else str(path))


def resolve_budget(name: str | None = None, max_ops: float | None = None,
                   max_size_mib: float | None = None,
                   convention: str | Convention = "paper", max_latency_ms: float | None = None,
                   latency_table: str | None = None) -> Budget:
    """A preset by name, explicit limits, or a preset with some limits replaced; a latency
    limit (with the table that judges it) may be added to any of them."""
    from dataclasses import replace
    from mnas.cost.latency import LatencyTable
    if (max_latency_ms is None) != (latency_table is None):
        raise BudgetError("--max-latency-ms and --latency-table go together: the table "
                          "(written by 'mnas bench') gives each candidate's milliseconds")
    if max_latency_ms is not None:
        if not max_latency_ms > 0:
            raise BudgetError(f"max latency must be positive, got {max_latency_ms}")
        LatencyTable.read(latency_table)             # a bad file fails now, in one line
        if name is None and max_ops is None and max_size_mib is None:
            conv = get_convention(convention)
            return Budget(f"latency{max_latency_ms:g}ms", None, None, conv.name,
                          f"latency table {latency_table}", max_latency_ms, str(latency_table))
        base = resolve_budget(name, max_ops, max_size_mib, convention)
        return replace(base, name=f"{base.name}+latency{max_latency_ms:g}ms",
                       latency_ms=max_latency_ms, latency_table=str(latency_table))
    conv = get_convention(convention)
    if name is None and max_ops is None and max_size_mib is None:
        raise BudgetError("give a budget name (e.g. mobilenet-0.75), --max-ops/--max-size-mib "
                          "or --max-latency-ms")
    for label, value in (("max ops", max_ops), ("max size", max_size_mib)):
        if value is not None and not value > 0:
            raise BudgetError(f"{label} must be positive, got {value}")
    if name is not None:
        base = preset_budget(name, conv)
        if max_ops is None and max_size_mib is None:
            return base
        return Budget(f"{name} (custom)", max_ops if max_ops is not None else base.ops,
                      max_size_mib if max_size_mib is not None else base.size_mib,
                      conv.name, base.source)
    return Budget("custom", max_ops, max_size_mib, conv.name, "explicit limits")


def all_budgets(convention: str | Convention = "paper") -> list[Budget]:
    return [preset_budget(name, convention) for name in PRESETS]
