"""Studies: exact trial counts with several workers, resume after SIGKILL, settings checks,
reproducibility, duplicate candidates."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from mnas.errors import MnasError
from mnas.search.costing import freeze
from mnas.errors import StudyError
from mnas.search.run import run_search
from tests.conftest import ROOT, run_cli
from study_helpers import load_trials


def study_trials(out, study="s", storage=None):
    import optuna
    from mnas.search.storage import open_storage
    url = storage or f"sqlite:///{out}/study.db"
    return optuna.load_study(study_name=study, storage=open_storage(url)).get_trials(deepcopy=False)


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_two_worker_processes_finish_exactly_the_requested_trials(tmp_path, storage):
    out = tmp_path / "run"
    url = f"journal:{tmp_path / 'j.log'}" if storage == "journal" else None
    args = ["search", "--budget", "mobilenet-0.75", "--trials", "40", "--workers", "2",
            "--out", out, "--study", "s", "--no-plot", "--no-progress", "--format", "csv"]
    r = run_cli(*args, *(["--storage", url] if url else []))
    assert r.returncode == 0, r.stderr
    trials = study_trials(out, storage=url)
    assert sorted(t.number for t in trials) == list(range(40))
    tags = [t.user_attrs["worker"] for t in trials]
    assert len(set(tags)) == 40                           # no trial written twice
    assert {tag.split(":")[0] for tag in tags} == {"0", "1"}     # both processes worked
    assert all(t.state.name == "COMPLETE" for t in trials)
    # re-running the finished study runs nothing and reports the same best
    again = run_cli(*args, *(["--storage", url] if url else []))
    assert again.returncode == 0 and "this run: 0 trials" in again.stderr
    assert len(study_trials(out, storage=url)) == 40


def _count(db) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("select count(*) from trials").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_sigkill_then_rerun_loses_no_finished_trial(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "mnas", "search", "--budget", "mobilenet-0.75", "--trials",
            "150", "--out", str(out), "--study", "s", "--no-plot", "--no-progress"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = out / "study.db"
    deadline = time.time() + 120
    while _count(db) < 25 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = {t.number: (t.params, t.values, t.user_attrs["worker"]) for t in study_trials(out)}
    assert 25 <= len(before) < 150, "the search must be killed mid-way"
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    after = {t.number: (t.params, t.values, t.user_attrs["worker"]) for t in study_trials(out)}
    assert sorted(after) == list(range(150))
    for number, record in before.items():
        assert after[number] == record
    assert all(t.state.name == "COMPLETE" for t in study_trials(out))


def test_resume_runs_only_missing_trials_and_refuses_other_settings(config):
    cfg = config(trials=20, seed=4)
    run, _ = run_search(cfg)
    assert (run.trials_before, run.trials_run) == (0, 20)
    first = [(t.number, t.params, t.values) for t in load_trials(run.config)]
    run2, _ = run_search(config(trials=30, seed=4))
    assert (run2.trials_before, run2.trials_run) == (20, 10)
    trials = load_trials(run2.config)
    assert len(trials) == 30 and [(t.number, t.params, t.values) for t in trials[:20]] == first
    from mnas.cost.budgets import resolve_budget
    with pytest.raises(StudyError, match=r"study 't' .* was created with another budget: "
                                         r"mobilenet-0.75 .*not mobilenet-0.5"):
        run_search(config(trials=30, budget=resolve_budget("mobilenet-0.5")))
    with pytest.raises(StudyError, match="another objective"):
        run_search(config(trials=30, objective="pareto"))


def test_same_seed_same_trials(tmp_path, config):
    runs = []
    for i, seed in enumerate((11, 11, 12)):
        run, _ = run_search(config(trials=30, seed=seed, out=str(tmp_path / f"r{i}")))
        runs.append([(t.params, t.values) for t in load_trials(run.config)])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_duplicate_candidates_copy_the_earlier_outcome(tmp_path, config):
    space = tmp_path / "tiny.yaml"
    space.write_text(f"base: {ROOT / 'specs' / 'meliusnet42.yaml'}\n"
                     "dimensions:\n  groups: {choices: [1, 2]}\n  stem: {choices: [grouped, imagenet]}\n")
    run, _ = run_search(config(trials=12, space=str(space), seed=0))
    trials = load_trials(run.config)
    first = {}
    for t in trials:
        key = freeze(t.params)
        if key in first:
            assert t.user_attrs["duplicate_of"] == first[key].user_attrs["worker"]
            assert t.values == first[key].values and t.constraints == first[key].constraints
        else:
            assert "duplicate_of" not in t.user_attrs
            first[key] = t
    assert len(first) <= 4 and len(trials) == 12


def test_invalid_candidates_fail_with_the_models_message(tmp_path, config):
    space = tmp_path / "bad.yaml"
    space.write_text(f"base: {ROOT / 'specs' / 'meliusnet42.yaml'}\n"
                     "dimensions:\n  groups: {choices: [1, 3]}\n")
    run, _ = run_search(config(trials=6, space=str(space), seed=0, sampler="random"))
    trials = load_trials(run.config)
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert failed and all(t.params["groups"] == 3 for t in failed)
    assert all("groups=3 does not divide" in t.user_attrs["error"] for t in failed)


def test_bad_options_are_errors(config):
    for kw, message in ((dict(trials=0), "--trials must be >= 1"),
                        (dict(workers=0), "--workers must be >= 1"),
                        (dict(study="a/b"), "not a usable name"),
                        (dict(storage="nonsense"), "is not a storage URL")):
        with pytest.raises(MnasError, match=message):
            run_search(config(**kw))
