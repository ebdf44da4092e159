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


TWO_NETWORKS = """dimensions:
  stages: [2, 8, 14, 10]
  transitions: null
  reductions: [{choices: [1.75, 2.0]}, 2.5, 2.75]
  groups: {choices: [1, 2]}
"""


@pytest.mark.parametrize("sampler, why", [
    ("refine", "every network of the space within budget (2 of 2 distinct networks) is in the "
               "study"),
    ("random", "every network of the space (2) is in the study")])
def test_a_used_up_space_stops_the_search_and_says_so(tmp_path, config, sampler, why):
    """Four parameter sets, two networks: reductions 1.75 and 2.0 after a first stage of
    64 + 2 x 64 = 192 channels both give round(192 / r / 32) x 32 = 96 channels."""
    from mnas.cost.budgets import resolve_budget
    space = tmp_path / "tiny.yaml"
    space.write_text(f"base: {ROOT / 'specs' / 'meliusnet42.yaml'}\n" + TWO_NETWORKS)
    run, _ = run_search(config(trials=10, space=str(space), seed=0, sampler=sampler,
                               budget=resolve_budget("mobilenet-1.0")))
    trials = load_trials(run.config)
    assert len(trials) == 2 and run.exhausted == why
    assert sorted(t.params["groups"] for t in trials) == [1, 2]
    assert all(t.state.name == "COMPLETE" for t in trials)


def test_invalid_candidates_inside_the_space_fail_with_the_models_message(tmp_path, config):
    """Widths 64 and 128 (the corners) split into 8 groups; 68, 76, ... (4 mod 8) do not.
    Optuna's own random sampler spends trials on them, recorded with the model's error; the
    default sampler never does."""
    space = tmp_path / "bad.yaml"
    space.write_text(f"base: {ROOT / 'specs' / 'meliusnet42.yaml'}\n"
                     "dimensions:\n  transitions: [{low: 64, high: 128, step: 4}, 256, 416]\n"
                     "  groups: {choices: [1, 8]}\n")
    run, _ = run_search(config(trials=12, space=str(space), seed=0, sampler="random"))
    trials = load_trials(run.config)
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert failed and all(t.params["groups"] == 8 and t.params["transitions[0]"] % 8 == 4
                          for t in failed)
    assert all("does not divide" in t.user_attrs["error"] for t in failed)
    run, _ = run_search(config(trials=12, space=str(space), seed=0, out=str(tmp_path / "r2")))
    assert not [t for t in load_trials(run.config) if t.state.name != "COMPLETE"]


def test_resume_refuses_another_convention_or_space_naming_what_changed(tmp_path, config):
    from mnas.cost.budgets import resolve_budget
    from mnas.search.space import DEFAULT_SPACE
    text = DEFAULT_SPACE.read_text().replace("base: ../meliusnet42.yaml",
                                             f"base: {ROOT / 'specs' / 'meliusnet42.yaml'}")
    space = tmp_path / "space.yaml"
    space.write_text(text)
    run_search(config(trials=3, space=str(space)))
    assert text.count("{low: 2, high: 32}") == 1                  # stages[2]
    space.write_text(text.replace("{low: 2, high: 32}", "{low: 2, high: 24}"))
    with pytest.raises(StudyError, match=r"was created with another space: stages\[2\] was "
                                         r"\[2, 32\], now \[2, 24\]; use another --study"):
        run_search(config(trials=6, space=str(space)))
    space.write_text(text)
    with pytest.raises(StudyError, match="was created with another convention: paper, not larq"):
        run_search(config(trials=6, space=str(space), convention="larq",
                          budget=resolve_budget("mobilenet-0.75", convention="larq")))
    run, _ = run_search(config(trials=6, space=str(space)))        # the same settings resume
    assert (run.trials_before, run.trials_run) == (3, 3)


def test_bad_options_are_errors(config):
    for kw, message in ((dict(trials=0), "--trials must be >= 1"),
                        (dict(workers=0), "--workers must be >= 1"),
                        (dict(study="a/b"), "not a usable name"),
                        (dict(storage="nonsense"), "is not a storage URL")):
        with pytest.raises(MnasError, match=message):
            run_search(config(**kw))
