"""`mnas validate` reads an Optuna study the way `mnas search` leaves it (SQLite in the run
folder, budget as constraints, best-K.yaml specs naming their trial) and trains the best."""

import csv

import optuna
import pytest
from optuna.distributions import IntDistribution

from mnas import api
from mnas.cli import main
from mnas.errors import StudyError
from mnas.search.retrain import candidates, load_study, resolve_study
from tiny_run import one_thread  # noqa: F401 (autouse)

BLOCKS = __import__("pathlib").Path(__file__).resolve().parents[2] / "specs" / "blocks"


def _spec(path, trial, growth):
    path.write_text(
        f"# Found by `mnas search` (study 's1', trial {trial}): proxy_top1 70\n"
        f"name: cand-{trial}\ninclude: [{BLOCKS / 'meliusnet.yaml'}]\ninput: [3, 16, 16]\n"
        f"block: meliusnet\nvalues:\n  stem: cifar\n  stem_channels: 8\n  growth: {growth}\n"
        f"  stages: [1, 1]\n  transitions: [16]\n  classes: 10\n")
    return path


def _study(folder):
    folder.mkdir(parents=True)
    study = optuna.create_study(study_name="s1", storage=f"sqlite:///{folder / 'study.db'}",
                                direction="maximize")
    dist = {"g": IntDistribution(1, 9)}
    for value, g, constraint in ((50, 1, -0.1), (90, 2, 0.5), (70, 3, 0.0), (70, 3, -0.2),
                                 (10, 4, -0.3)):
        study.add_trial(optuna.trial.create_trial(value=value, params={"g": g},
                                                  distributions=dist,
                                                  constraints={"ops": constraint},
                                                  user_attrs={"cost": {"ops": 1.0}}))
    _spec(folder / "best-1.yaml", 2, 16)
    _spec(folder / "best-2.yaml", 0, 8)
    return study


def test_ranking_skips_infeasible_and_duplicate_trials(tmp_path):
    _study(tmp_path / "runs" / "s1")
    ref = resolve_study(str(tmp_path / "runs" / "s1"))
    cands = candidates(load_study(ref), ref.folder, 2)
    assert [(c.rank, c.trial, c.values) for c in cands] == [(1, 2, (70.0,)), (2, 0, (50.0,))]
    assert cands[0].spec.endswith("best-1.yaml")
    with pytest.raises(StudyError, match=r"rank 3 \(trial 4\).*no spec.*best-1.yaml \(trial 2\)"):
        candidates(load_study(ref), ref.folder, 3)


def test_missing_study_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "nope", "--data", "digits"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no study at runs/nope/study.db" in err[0]


@pytest.mark.slow
def test_validate_trains_the_best_candidates_and_tabulates_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _study(tmp_path / "runs" / "s1")
    args = ["validate", "s1", "--top-k", "2", "--data", "digits", "--epochs", "1",
            "--batch-size", "64", "--optimizer", "adam", "--lr", "0.005", "--format", "csv"]
    assert main(args) == 0
    out = tmp_path / "runs" / "s1" / "validate"
    with open(out / "validate.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["rank"], r["trial"]) for r in rows] == [("1", "2"), ("2", "0")]
    for r in rows:
        totals = api.cost(r["spec"]).totals
        assert float(r["ops"]) == totals.ops and int(r["params"]) == totals.params
        assert 0 <= float(r["val_acc"]) <= 100 and r["epochs"] == "1"
        assert (tmp_path / r["run"] / "final.pt").is_file()
    assert float(rows[0]["ops"]) > float(rows[1]["ops"])     # growth 16 vs 8
    assert (out / "validate.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith("rank,trial,spec,objective,ops")
    # running it again reuses the finished candidates instead of training them again
    before = [(tmp_path / r["run"] / "metrics.csv").read_text() for r in rows]
    assert main(args) == 0
    with open(out / "validate.csv") as f:
        assert [(r["val_acc"], r["seconds"]) for r in csv.DictReader(f)] == \
            [(r["val_acc"], r["seconds"]) for r in rows]
    assert [(tmp_path / r["run"] / "metrics.csv").read_text() for r in rows] == before
