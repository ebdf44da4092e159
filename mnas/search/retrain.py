"""`mnas validate`: retrain the best candidates of a search and set their accuracy against
their cost. Reads the study with Optuna's own API only:

- the study: `runs/<STUDY>/study.db` (SQLite) by default; a run folder or a .db file may be
  given instead of a name, or any Optuna storage URL with `storage`;
- ranking: the search's own (`mnas.search.ranking`);
- each candidate's spec: the trial's user attribute `spec` (a path, relative to the run folder
  or absolute) when it has one, else the `best-K.yaml` in the run folder whose leading comment
  names the trial (`... trial N ...`, as `mnas search` writes them).

Each candidate trains in its own run folder (`<out>/rank-K-trial-N`), resumable: re-running the
same command continues interrupted candidates and reuses finished ones."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mnas.errors import StudyError, suggest
from mnas.search.ranking import best_trials

log = logging.getLogger(__name__)

TRIAL_IN_HEADER = re.compile(r"\btrial (\d+)\b")


@dataclass(frozen=True)
class Candidate:
    rank: int
    trial: int
    values: tuple[float, ...]
    spec: str


@dataclass(frozen=True)
class StudyRef:
    name: str
    storage: str
    folder: Path


def resolve_study(study: str, storage: str | None = None) -> StudyRef:
    """STUDY as a study name (runs/STUDY/study.db), a run folder, or a .db file; `storage`
    (an Optuna URL) overrides where it is stored."""
    path = Path(study)
    if storage:
        folder = path if path.is_dir() else Path("runs") / path.name
        return StudyRef(path.name, storage, folder)
    if path.suffix == ".db" and path.is_file():
        return StudyRef(path.parent.name, f"sqlite:///{path}", path.parent)
    folder = path if (path / "study.db").is_file() else Path("runs") / study
    db = folder / "study.db"
    if not db.is_file():
        raise StudyError(f"no study at {db}: give the study's name (runs/NAME/study.db), its run "
                         f"folder, its .db file, or --storage URL")
    return StudyRef(folder.name, f"sqlite:///{db}", folder)


def load_study(ref: StudyRef):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        names = optuna.get_all_study_names(ref.storage)
    except Exception as err:
        raise StudyError(f"{ref.storage}: cannot read the study storage ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''})") from None
    name = ref.name
    if name not in names:
        if len(names) != 1:
            raise StudyError(f"{ref.storage}: no study named '{name}'{suggest(name, names)}; "
                             f"it holds: {', '.join(names) or 'none'}")
        name = names[0]
    return optuna.load_study(study_name=name, storage=ref.storage)


def spec_files_by_trial(folder: Path) -> dict[int, Path]:
    """{trial number: best-K.yaml} from the leading comments of the run folder's spec files."""
    found: dict[int, Path] = {}
    for path in sorted(folder.glob("best-*.yaml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                break
            m = TRIAL_IN_HEADER.search(line)
            if m:
                found.setdefault(int(m.group(1)), path)
                break
    return found


def candidates(study, folder: Path, top_k: int) -> list[Candidate]:
    if top_k < 1:
        raise StudyError(f"--top-k: must be >= 1, got {top_k}")
    ranked = best_trials(study)
    if not ranked:
        raise StudyError(f"study '{study.study_name}' has no completed trial within its "
                         f"constraints")
    files = spec_files_by_trial(folder)
    out = []
    for rank, t in enumerate(ranked[:top_k], 1):
        attr = t.user_attrs.get("spec")
        if attr:
            path = Path(attr) if Path(attr).is_absolute() or Path(attr).exists() else folder / attr
        elif t.number in files:
            path = files[t.number]
        else:
            have = ", ".join(f"{p.name} (trial {n})" for n, p in sorted(files.items())) or "none"
            raise StudyError(f"rank {rank} (trial {t.number}) of study '{study.study_name}' has "
                             f"no spec: no user attribute 'spec' and no best-K.yaml in {folder} "
                             f"names it (found: {have}); re-run `mnas search` with a larger "
                             f"--top, or lower --top-k")
        if not path.is_file():
            raise StudyError(f"trial {t.number}: spec file {path} does not exist")
        out.append(Candidate(rank, t.number, tuple(t.values), str(path)))
    return out


def validate(study: str, top_k: int, data: str, job, storage: str | None = None,
             out: str | Path | None = None, convention: str = "paper",
             on_candidate: Callable[[Candidate], Any] | None = None, on_epoch=None,
             on_step=None):
    """Train the `top_k` best candidates with `job` (a TrainJob template: recipe, sets,
    backend, ...); returns (DataFrame, output folder). One row per candidate: its rank and
    trial, search objective, OPs, size and parameters by the cost model (of the spec as
    searched), and validation accuracy."""
    import pandas as pd
    from mnas.cost.model import cost_graph
    from mnas.spec.expand import load_graph
    from mnas.train.run import start
    ref = resolve_study(study, storage)
    st = load_study(ref)
    out = Path(out) if out else ref.folder / "validate"
    rows = []
    for cand in candidates(st, ref.folder, top_k):
        if on_candidate:
            on_candidate(cand)
        totals = cost_graph(load_graph(cand.spec), convention).totals
        run = out / f"rank-{cand.rank}-trial-{cand.trial}"
        result = start(replace(job, spec=cand.spec, data=data, out=str(run), resume=True),
                       on_epoch, on_step)
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
    draw(plot_points(df), out / "validate.png", f"mnas validate '{st.study_name}' on {data}")
    return df, out


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
