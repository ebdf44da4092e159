"""The Pareto plot of a study: objective against OPs and against size, every trial, the
feasible front, the budget, and the paper's hand-designed MeliusNets. Computed first
(`pareto_plot_data`, plain data the tests check), drawn second (`draw_pareto`, matplotlib Agg)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnas.cost.budgets import Budget


@dataclass(frozen=True)
class Point:
    ops: float
    size_mib: float
    value: float
    feasible: bool


@dataclass(frozen=True)
class Reference:
    """A hand-designed network: its cost and its score under the study's objective (None when
    the objective is trained accuracy, which the paper's networks do not have here)."""

    name: str
    ops: float
    size_mib: float
    value: float | None
    reported_top1: float


@dataclass(frozen=True)
class ParetoPlotData:
    title: str
    value_name: str
    points: tuple[Point, ...]
    front_ops: tuple[Point, ...]       # best value so far, by increasing OPs (feasible only)
    front_size: tuple[Point, ...]      # the same by increasing size
    budget: Budget
    references: tuple[Reference, ...]


def _staircase(points: list[Point], key) -> tuple[Point, ...]:
    out, best = [], float("-inf")
    for p in sorted(points, key=key):
        if p.value > best:
            out.append(p)
            best = p.value
    return tuple(out)


def hand_designed(convention: str, score) -> tuple[Reference, ...]:
    """The paper's MeliusNets (specs/meliusnet*.yaml), costed and scored by `score(cost)`."""
    from mnas.cost.conventions import get_convention
    from mnas.search.costing import CandidateCost, graph_cost
    from mnas.spec.load import load_spec
    from mnas.zoo import SPECS_DIR, paper_results
    conv = get_convention(convention)
    refs = []
    for point in paper_results():
        if not point.hand_designed:
            continue
        c: CandidateCost = graph_cost(load_spec(SPECS_DIR / point.spec, dict(point.sets)), conv)
        refs.append(Reference(point.name, c.ops, c.size_mib,
                              None if score is None else score(c), point.top1))
    return tuple(refs)


def pareto_plot_data(study, budget: Budget, value_name: str, maximize: bool,
                     references: tuple[Reference, ...], title: str) -> ParetoPlotData:
    """Every costed trial with a value; the front uses the first objective."""
    from mnas.search.ranking import feasible
    sign = 1 if maximize else -1
    points = []
    for t in study.get_trials(deepcopy=False):
        c = t.user_attrs.get("cost")
        if not c or not t.values:
            continue
        points.append(Point(c["ops"], c["size_mib"], sign * t.values[0], feasible(t)))
    ok = [p for p in points if p.feasible]
    return ParetoPlotData(title, value_name, tuple(points),
                          _staircase(ok, lambda p: (p.ops, -p.value)),
                          _staircase(ok, lambda p: (p.size_mib, -p.value)), budget, references)


def draw_pareto(data: ParetoPlotData, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    panels = (("ops", "OPs (BOPs/64 + FLOPs)", data.front_ops, data.budget.ops),
              ("size_mib", "size (MiB)", data.front_size, data.budget.size_mib))
    for ax, (attr, label, front, limit) in zip(axes, panels):
        bad = [p for p in data.points if not p.feasible]
        good = [p for p in data.points if p.feasible]
        ax.scatter([getattr(p, attr) for p in bad], [p.value for p in bad], s=8, c="#bbbbbb",
                   label="over budget")
        ax.scatter([getattr(p, attr) for p in good], [p.value for p in good], s=10,
                   c="#4c72b0", label="feasible")
        if front:
            ax.step([getattr(p, attr) for p in front], [p.value for p in front], where="post",
                    c="#dd8452", lw=1.8, label="front: best feasible at this cost or less")
        if limit:
            ax.axvline(limit, c="#c44e52", ls="--", lw=1.2, label=f"budget {data.budget.name}")
        for ref in data.references:
            x = getattr(ref, attr)
            if ref.value is None:
                ax.axvline(x, c="#55a868", ls=":", lw=1)
                ax.annotate(ref.name, (x, ax.get_ylim()[0]), rotation=90, fontsize=7,
                            va="bottom", ha="right", color="#2d6a3e")
            else:
                ax.scatter([x], [ref.value], marker="*", s=130, c="#55a868",
                           edgecolors="black", linewidths=0.5, zorder=5)
                ax.annotate(f"{ref.name} (paper {ref.reported_top1}%)", (x, ref.value),
                            textcoords="offset points", xytext=(5, -10), fontsize=7)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda v, _: f"{v:.3g}" if attr == "size_mib" else f"{v:.2g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(data.value_name)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(data.title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
