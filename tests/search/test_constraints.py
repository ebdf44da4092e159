"""Budget constraints as each trial records them, the workers' file lock, the study size,
and the settings a study refuses to resume under: small, fast, deterministic checks (the
multi-process and SIGKILL tests are in test_study.py).

The space searches only MeliusNet42's stem, so every trial is one of two networks whose
costs are known apart from the code under test: with the grouped stem MeliusNet42 is
325,460,352 OPs and 10.1033 MiB (tests/hand_counts.py, Table 1); the 7x7 stem adds 0.49e8 OPs
(section 3.2: 1.18e8 against 0.69e8) and 3,808 32-bit parameters (7x7 conv 64*3*49 = 9,408
weights and BN(64) against 3*9*32 + 8*9*32 + 4*9*64 = 5,472 weights and BN(32, 32, 64))."""

from __future__ import annotations

import fcntl
import math

import pytest

from conftest import ROOT
from hand_counts import MELIUSNET42_MIB, MELIUSNET42_OPS
from mnas.cost.budgets import resolve_budget
from mnas.errors import StudyError
from mnas.search.ranking import feasible
from mnas.search.run import prepare, run_search
from mnas.search.storage import lock_file
from mnas.search.worker import Worker
from study_helpers import load_trials

BIG_STEM_MIB = MELIUSNET42_MIB + 3_808 * 4 / 2 ** 20
BIG_STEM_OPS = MELIUSNET42_OPS + (9_408 - 5_472) * 112 * 112      # all stem convs at 112x112
STEM_ONLY = (f"base: {ROOT / 'specs' / 'meliusnet42.yaml'}\n"
             "dimensions:\n  stem: {choices: [grouped, imagenet]}\n")


@pytest.fixture
def stem_space(tmp_path):
    path = tmp_path / "stem.yaml"
    path.write_text(STEM_ONLY)
    return str(path)


def _by_stem(trials):
    out = {}
    for t in trials:
        out.setdefault(t.params["stem"], t)
    return out


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_every_trial_records_both_constraints_exactly(config, stem_space, sampler):
    """Limits 3.5e8 OPs and 10.2 MiB: the grouped stem fits both, the 7x7 stem (~3.7e8 OPs)
    is over on OPs only. The samplers that do not screen by cost record both."""
    ops_limit, mib_limit = 3.5e8, 10.2
    budget = resolve_budget(max_ops=ops_limit, max_size_mib=mib_limit)
    run, _ = run_search(config(trials=8, space=stem_space, sampler=sampler, seed=1,
                               budget=budget))
    trials = _by_stem(load_trials(run.config))
    assert set(trials) == {"grouped", "imagenet"}
    grouped, big = trials["grouped"], trials["imagenet"]
    assert grouped.user_attrs["cost"]["ops"] == MELIUSNET42_OPS
    assert grouped.constraints == pytest.approx(
        {"ops": (MELIUSNET42_OPS - ops_limit) / ops_limit,
         "size": (MELIUSNET42_MIB - mib_limit) / mib_limit}, rel=1e-12)
    assert feasible(grouped)
    big_ops = MELIUSNET42_OPS + big.user_attrs["cost"]["flops"] - grouped.user_attrs["cost"]["flops"]
    assert round((big_ops - MELIUSNET42_OPS) / 1e8, 2) == 0.49
    assert big.constraints == pytest.approx(
        {"ops": (big_ops - ops_limit) / ops_limit, "size": (BIG_STEM_MIB - mib_limit) / mib_limit},
        rel=1e-9)
    assert big.constraints["ops"] > 0 and not feasible(big)


def test_over_size_alone_is_infeasible(config, stem_space):
    """Limits 4e8 OPs and 10.0 MiB: both stems fit the OPs, neither the size (10.1033 MiB)."""
    budget = resolve_budget(max_ops=4e8, max_size_mib=10.0)
    run, _ = run_search(config(trials=4, space=stem_space, sampler="random", seed=0,
                               budget=budget))
    trials = _by_stem(load_trials(run.config))
    for stem, mib in (("grouped", MELIUSNET42_MIB), ("imagenet", BIG_STEM_MIB)):
        assert trials[stem].constraints["ops"] < 0
        assert trials[stem].constraints["size"] == pytest.approx((mib - 10.0) / 10.0, rel=1e-9)
        assert not feasible(trials[stem])


def test_a_limit_not_given_is_not_a_constraint(config, stem_space):
    run, _ = run_search(config(trials=4, space=stem_space, sampler="random", seed=0,
                               budget=resolve_budget(max_ops=3.5e8)))
    grouped = _by_stem(load_trials(run.config))["grouped"]
    assert set(grouped.constraints) == {"ops"} and feasible(grouped)


def test_exactly_at_the_limit_is_feasible(config, stem_space):
    """A budget of exactly MeliusNet42's 325,460,352 OPs: constraint 0.0, and feasible."""
    run, _ = run_search(config(trials=2, space=stem_space, sampler="random", seed=0,
                               budget=resolve_budget(max_ops=MELIUSNET42_OPS)))
    grouped = _by_stem(load_trials(run.config))["grouped"]
    assert grouped.constraints == {"ops": 0.0} and feasible(grouped)


def test_within_budget_screens_by_both_limits(config, stem_space):
    cfg, _, _ = prepare(config(space=stem_space, sampler="random",
                               budget=resolve_budget(max_ops=3.5e8, max_size_mib=10.2)))
    worker = Worker(cfg)
    assert worker.judge({"stem": "grouped"}) == (True, 0)
    assert worker.judge({"stem": "imagenet"}) == (True, pytest.approx(BIG_STEM_OPS / 3.5e8 - 1))
    cfg, _, _ = prepare(config(space=stem_space, sampler="random", study="u",
                               budget=resolve_budget(max_ops=4e8, max_size_mib=10.1)))
    assert Worker(cfg).judge({"stem": "grouped"}) == \
        (True, pytest.approx(MELIUSNET42_MIB / 10.1 - 1))                   # size
    assert worker.judge({"stem": "nonexistent"})[1] == math.inf       # cannot be costed


def test_trials_are_written_under_the_lock(config, stem_space):
    cfg, _, _ = prepare(config(trials=2, space=stem_space, sampler="random"))
    worker = Worker(cfg)
    held = []
    write = worker.study.add_trial

    def checked_write(trial):
        with open(lock_file(cfg.storage, cfg.out), "a") as other:     # another open file: flock conflicts
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held.append(True)
            else:
                fcntl.flock(other, fcntl.LOCK_UN)
                held.append(False)
        write(trial)

    worker.study.add_trial = checked_write
    assert worker.run() == 2
    assert held == [True, True]
    with open(lock_file(cfg.storage, cfg.out), "a") as f:                # released afterwards
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(f, fcntl.LOCK_UN)


def test_worker_stops_at_the_study_size(config, stem_space):
    """Workers run until the study holds `trials` trials (two networks here: then the space
    is exhausted), whoever wrote them."""
    cfg, _, _ = prepare(config(trials=2, space=stem_space, sampler="random"))
    progress = []
    assert Worker(cfg, on_trial=lambda: progress.append(1)).run() == 2
    assert progress == [1, 1]                                          # one call per trial
    evaluated = []
    worker = Worker(cfg)
    evaluate = worker.evaluate
    worker.evaluate = lambda *a: evaluated.append(1) or evaluate(*a)
    assert worker.run() == 0
    assert evaluated == []                  # a complete study costs no evaluation
    assert len(load_trials(cfg)) == 2


def test_worker_mirrors_trials_written_elsewhere_once(config, tmp_path):
    """A trial another worker writes while this one runs reaches its mirror (so its sampler
    learns from it), once, as do its own."""
    space = tmp_path / "stem-groups.yaml"
    space.write_text(STEM_ONLY + "  groups: {choices: [1, 2, 4, 8]}\n")
    cfg, _, _ = prepare(config(trials=4, space=str(space), sampler="random"))
    worker = Worker(cfg)
    evaluate = worker.evaluate
    calls = []

    def with_a_foreign_trial(trial, v):
        frozen = evaluate(trial, v)
        calls.append(1)
        if len(calls) == 1:
            import copy
            other = copy.deepcopy(frozen)
            other.user_attrs = {**frozen.user_attrs, "worker": "elsewhere:1"}
            worker.study.add_trial(other)
        return frozen

    worker.evaluate = with_a_foreign_trial
    assert worker.run() == 3
    assert "elsewhere:1" in worker.mirrored
    kept = [t for t in worker.mirror.trials if not t.user_attrs.get("dropped")]
    assert sorted(t.user_attrs["worker"] for t in kept) == \
        sorted(t.user_attrs["worker"] for t in load_trials(cfg))
    assert len(kept) == 4


def test_resume_refuses_every_other_setting(config, stem_space, tmp_path):
    """Budget, objective, convention and space (its dimensions) are each refused, naming the
    setting; the same settings resume."""
    base = dict(space=stem_space, sampler="random", budget=resolve_budget(max_ops=4e8))
    _, _, study = prepare(config(**base))
    assert [d.name for d in study.directions] == ["MAXIMIZE"]          # the proxy
    prepare(config(**base))                                            # same: resumes
    _, _, pareto = prepare(config(**{**base, "objective": "pareto", "study": "p"}))
    assert [d.name for d in pareto.directions] == ["MAXIMIZE", "MINIMIZE", "MINIMIZE"]
    other_space = tmp_path / "groups.yaml"
    other_space.write_text(STEM_ONLY.replace("stem: {choices: [grouped, imagenet]}",
                                             "groups: {choices: [1, 2]}"))
    cases = [
        (dict(budget=resolve_budget(max_ops=3e8)), "another budget"),
        (dict(objective="pareto"), "another objective"),
        (dict(convention="larq"), "another convention"),
        (dict(space=str(other_space)), "another space: groups is new"),
    ]
    for change, message in cases:
        with pytest.raises(StudyError, match=f"study 't' .* was created with {message}"):
            prepare(config(**{**base, **change}))


def test_file_lock_creates_its_folder_and_excludes_others(tmp_path):
    from mnas.search.storage import file_lock
    path = tmp_path / "new" / "deeper" / "search.lock"
    with file_lock(path):
        with open(path, "a") as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(path, "a") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_lock_file_sits_next_to_a_file_study_else_in_the_run_folder(tmp_path):
    """Every process that opens the same SQLite or journal file finds the same lock."""
    from pathlib import Path
    assert lock_file(f"sqlite:///{tmp_path}/s/study.db", "runs/x") == \
        tmp_path / "s" / "study.db.mnas-lock"
    assert lock_file(f"journal:{tmp_path}/j.log", "runs/x") == tmp_path / "j.log.mnas-lock"
    assert lock_file("postgresql://db/x", "runs/x") == Path("runs/x") / "search.lock"


def test_count_check_under_the_lock_drops_a_trial_finished_elsewhere(config, tmp_path):
    """Between this worker's proposal and its write another worker completes the study: the
    count checked under the lock must drop this worker's trial, so the study ends with
    exactly the trials asked for."""
    space = tmp_path / "stem-groups.yaml"
    space.write_text(STEM_ONLY + "  groups: {choices: [1, 2, 4, 8]}\n")
    cfg, _, _ = prepare(config(trials=3, space=str(space), sampler="random"))
    worker = Worker(cfg)
    propose = worker.propose

    def racing_propose():
        proposal = propose()
        if worker.count == 2 and proposal is not None:
            import copy
            other = copy.deepcopy(load_trials(cfg)[-1])
            other.user_attrs = {**other.user_attrs, "worker": "elsewhere:1"}
            worker.study.add_trial(other)
        return proposal

    worker.propose = racing_propose
    assert worker.run() == 2
    trials = load_trials(cfg)
    assert len(trials) == 3 and trials[-1].user_attrs["worker"] == "elsewhere:1"
    dropped = [t for t in worker.mirror.trials if t.user_attrs.get("dropped")]
    assert dropped and all(t.state.name == "FAIL" for t in dropped)   # its sampler sees it
    assert all(t.state.is_finished() for t in worker.mirror.trials)


def test_the_study_records_its_settings_and_names_a_removed_dimension(config, stem_space,
                                                                        tmp_path):
    cfg, _, study = prepare(config(space=stem_space, sampler="random",
                                   budget=resolve_budget(max_ops=4e8)))
    stored = study.user_attrs["search"]
    assert (stored["directions"], stored["convention"], stored["objective"]) == \
        (["maximize"], "paper", "proxy")
    assert stored["budget"]["ops"] == 4e8 and stored["space"] == stem_space
    fewer = tmp_path / "fewer.yaml"
    fewer.write_text(f"base: {ROOT / 'specs' / 'meliusnet42.yaml'}\n"
                     "dimensions:\n  groups: {choices: [1, 2]}\n")
    with pytest.raises(StudyError, match="another space: groups is new .*; stem was removed "
                                         r"\(was ") as err:
        prepare(config(space=str(fewer), sampler="random", budget=resolve_budget(max_ops=4e8)))
    assert "more)" not in str(err.value)                # two changes, both named


def test_opening_a_study_waits_for_its_lock(config, stem_space):
    """Creating or loading the study and its settings happens under the study's lock: while
    another process holds it, opening waits."""
    import threading
    from mnas.search.storage import file_lock
    cfg, _, _ = prepare(config(space=stem_space, sampler="random"))
    opened = threading.Event()

    def open_again():
        prepare(config(space=stem_space, sampler="random"))
        opened.set()

    with file_lock(lock_file(cfg.storage, cfg.out)):
        thread = threading.Thread(target=open_again, daemon=True)
        thread.start()
        assert not opened.wait(1.0)
    assert opened.wait(30)


def test_a_bug_while_opening_is_not_reported_as_a_storage_fault(config, stem_space,
                                                                monkeypatch):
    import optuna

    def broken(*args, **kwargs):
        raise ValueError("a bug, not the storage")

    monkeypatch.setattr(optuna, "create_study", broken)
    with pytest.raises(ValueError, match="a bug, not the storage"):
        prepare(config(space=stem_space, sampler="random"))


def test_a_full_disk_while_opening_is_one_line_that_says_how_to_resume(config, stem_space,
                                                                       monkeypatch):
    import errno
    import optuna

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(optuna, "create_study", full)
    with pytest.raises(StudyError) as err:
        prepare(config(space=stem_space, sampler="random"))
    text = str(err.value)
    assert ": cannot open the study: " in text and "No space left on device" in text
    assert text.endswith("re-running the same command resumes the study")
    assert "\n" not in text


def test_three_space_changes_name_two_and_count_the_rest(config, stem_space, tmp_path):
    prepare(config(space=stem_space, sampler="random"))
    more = tmp_path / "more.yaml"
    more.write_text(f"base: {ROOT / 'specs' / 'meliusnet42.yaml'}\n"
                    "dimensions:\n  groups: {choices: [1, 2]}\n"
                    "  classes: {choices: [1000, 10]}\n")
    with pytest.raises(StudyError, match=r"another space: groups is new \(.*\); classes is new "
                                         r"\(.*\) \(and 1 more\); use another --study") as err:
        prepare(config(space=str(more), sampler="random"))
    assert "stem was removed" not in str(err.value)                    # the one counted


def test_a_look_at_an_unchanged_study_reads_no_trials(config, stem_space):
    """sync() reads the trials only when their count changed: one count query otherwise."""
    cfg, _, _ = prepare(config(trials=2, space=stem_space, sampler="random"))
    worker = Worker(cfg)
    assert worker.run() == 2
    reads = []
    get_trials = worker.study.get_trials
    worker.study.get_trials = lambda *a, **k: reads.append(1) or get_trials(*a, **k)
    worker.sync()
    assert reads == []
    import copy
    other = copy.deepcopy(load_trials(cfg)[-1])
    other.user_attrs = {**other.user_attrs, "worker": "elsewhere:1"}
    worker.study.add_trial(other)
    worker.sync()
    assert reads == [1] and worker.count == 3 and "elsewhere:1" in worker.mirrored
