"""`mnas validate`: retrain the best candidates of a search and set their accuracy against
their cost. Reads what `mnas search` left in its run folder, not the study:

- the manifest `best.json` (`mnas.search.results.report_best`): the best candidates, best
  first by the search's own ranking (`mnas.search.ranking`), each with its spec file
  (relative to the manifest, so the folder may move), trial, objective values and costs;
- STUDY is the run folder, the manifest's path, or a study name (the folder runs/STUDY).

Each candidate trains in its own run folder (`<out>/rank-K-trial-N`), resumable: re-running the
same command continues interrupted candidates and reuses finished ones.

How well the search's objective predicted what training found is Kendall's tau-b between the
two over the candidates (1: same order, -1: reversed, 0: unrelated); for a multi-objective
study the first objective (the accuracy estimate) is the one compared."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mnas.errors import StudyError
from mnas.search.results import MANIFEST

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    rank: int
    trial: int
    values: tuple[float, ...]
    spec: str


@dataclass(frozen=True)
class Manifest:
    """A run folder's `best.json`, read: the study's name and its best candidates."""

    folder: Path
    study: str
    candidates: tuple[Candidate, ...]


def find_manifest(study: str) -> Path:
    """STUDY as a manifest file, a run folder holding one, or a study name (runs/STUDY)."""
    path = Path(study)
    if path.is_file():
        return path
    for folder in (path, Path("runs") / study):
        if (folder / MANIFEST).is_file():
            return folder / MANIFEST
    folder = path if path.is_dir() else Path("runs") / study
    hint = ("re-run the same `mnas search` command: it resumes the study and writes it"
            if (folder / "study.db").is_file() or folder.is_dir() else
            "give the run folder of a `mnas search` (runs/NAME), its best.json, or its name")
    raise StudyError(f"no {MANIFEST} in {folder}/: {hint}")


def read_manifest(path: Path) -> Manifest:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        entries = doc["candidates"]
        cands = tuple(Candidate(int(e["rank"]), int(e["trial"]),
                                tuple(float(v) for v in e["objective"].values()),
                                str(path.parent / e["spec"])) for e in entries)
        return Manifest(path.parent, str(doc.get("study") or path.parent.name), cands)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise StudyError(f"{path}: not a manifest written by `mnas search` "
                         f"({type(err).__name__}: {err})") from None


def candidates(manifest: Manifest, top_k: int) -> list[Candidate]:
    """The `top_k` best candidates of the manifest, each with an existing spec file."""
    if top_k < 1:
        raise StudyError(f"--top-k: must be >= 1, got {top_k}")
    if not manifest.candidates:
        raise StudyError(f"{manifest.folder / MANIFEST}: the search found no candidate within "
                         f"its budget")
    if top_k > len(manifest.candidates):
        raise StudyError(f"--top-k {top_k}: {manifest.folder / MANIFEST} lists "
                         f"{len(manifest.candidates)} candidates; re-run `mnas search` with "
                         f"--top {top_k}, or lower --top-k")
    out = list(manifest.candidates[:top_k])
    for cand in out:
        if not Path(cand.spec).is_file():
            raise StudyError(f"rank {cand.rank} (trial {cand.trial}): spec file {cand.spec} "
                             f"does not exist")
    return out


def kendall_tau(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Kendall's tau-b of two paired sequences (ties counted as in scipy.stats.kendalltau);
    nan when fewer than two pairs or one side is constant."""
    n = len(xs)
    if n != len(ys):
        raise ValueError("kendall_tau: sequences of different lengths")
    concordant = discordant = tied_x = tied_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = xs[i] - xs[j], ys[i] - ys[j]
            if dx == 0 or dy == 0:
                tied_x += dx == 0
                tied_y += dy == 0
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    pairs = n * (n - 1) // 2
    denom = ((pairs - tied_x) * (pairs - tied_y)) ** 0.5
    return (concordant - discordant) / denom if denom else float("nan")


def validate(study: str, top_k: int, data: str, job, out: str | Path | None = None,
             convention: str = "paper",
             on_candidate: Callable[[Candidate], Any] | None = None, on_epoch=None,
             on_step=None, on_trained: Callable[[Candidate, Any], Any] | None = None):
    """Train the `top_k` best candidates with `job` (a TrainJob template: recipe, sets,
    backend, ...); returns (DataFrame, output folder, Kendall's tau of search objective and
    trained accuracy). One row per candidate: its rank and trial, search objective, OPs, size
    and parameters by the cost model (of the spec as searched), and validation accuracy.
    `on_candidate(candidate)` runs before each one trains, `on_trained(candidate,
    TrainResult)` after."""
    import pandas as pd
    from mnas.cost.model import cost_graph
    from mnas.spec.expand import load_graph
    from mnas.train.run import start
    manifest = read_manifest(find_manifest(study))
    out = Path(out) if out else manifest.folder / "validate"
    rows = []
    ranked = candidates(manifest, top_k)
    for cand in ranked:
        if on_candidate:
            on_candidate(cand)
        totals = cost_graph(load_graph(cand.spec), convention).totals
        run = out / f"rank-{cand.rank}-trial-{cand.trial}"
        result = start(replace(job, spec=cand.spec, data=data, out=str(run), resume=True),
                       on_epoch, on_step)
        if on_trained:
            on_trained(cand, result)
        rows.append({"rank": cand.rank, "trial": cand.trial, "spec": cand.spec,
                     "objective": ", ".join(f"{v:.4g}" for v in cand.values),
                     "ops": totals.ops, "size_mib": round(totals.size_mib, 4),
                     "params": totals.params, "val_acc": round(100 * result.best_val_acc, 2),
                     "last_val_acc": round(100 * result.last_val_acc, 2),
                     "epochs": result.epochs, "seconds": round(result.seconds, 1),
                     "run": str(run)})
    df = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "validate.csv", index=False)
    draw(plot_points(df), out / "validate.png", f"mnas validate '{manifest.study}' on {data}")
    tau = kendall_tau([c.values[0] for c in ranked], list(df["val_acc"]))
    return df, out, tau


@dataclass(frozen=True)
class PlotPoint:
    label: str
    ops: float
    size_mib: float
    accuracy: float


def plot_points(df) -> list[PlotPoint]:
    return [PlotPoint(f"#{r.rank} (trial {r.trial})", float(r.ops), float(r.size_mib),
                      float(r.val_acc)) for r in df.itertuples()]


def draw(points: Sequence[PlotPoint], path: Path, title: str) -> Path:
    """Validation accuracy against OPs and against size, one labelled point per candidate."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, attr, label in ((axes[0], "ops", "OPs (BOPs/64 + FLOPs)"),
                            (axes[1], "size_mib", "model size (MiB)")):
        xs = [getattr(p, attr) for p in points]
        ys = [p.accuracy for p in points]
        ax.scatter(xs, ys, color="tab:blue")
        for p, x, y in zip(points, xs, ys):
            ax.annotate(p.label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xlabel(label)
        ax.margins(0.2)            # room for the labels
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("best validation accuracy (%)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
