"""What a search worker keeps track of, checked in one process: trials other workers (or other
tools) write reach its sampler once each and mark their networks as held; a proposal that
loses a race is dropped, not written; a candidate that cannot be costed is written once, as
failed, and never again; a complete study costs no proposal; a storage fault is one line.

The space is MeliusNet42's stem (2 choices) times its groups (4 choices): 8 networks."""

from __future__ import annotations

import sqlite3

import optuna
import pytest
from optuna.trial import TrialState

from conftest import ROOT
from mnas.errors import MnasError, StudyError
from mnas.search.run import prepare
from mnas.search.worker import Worker
from study_helpers import load_trials

SPACE = (f"base: {ROOT / 'specs' / 'meliusnet42.yaml'}\n"
         "dimensions:\n  stem: {choices: [grouped, imagenet]}\n"
         "  groups: {choices: [1, 2, 4, 8]}\n")


@pytest.fixture
def worker_for(config, tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(SPACE)

    def make(trials: int) -> Worker:
        cfg, _, _ = prepare(config(trials=trials, space=str(path), sampler="random"))
        return Worker(cfg)
    return make


def _written_elsewhere(trial, params: dict, **attrs):
    """A finished trial as another writer adds it: these params, these user attributes."""
    return optuna.trial.create_trial(params=params, distributions=trial.distributions,
                                     value=0.0, user_attrs=attrs)


def test_trials_written_elsewhere_reach_the_sampler_once_and_hold_their_network(worker_for):
    worker = worker_for(2)
    assert worker.run() == 2
    template = load_trials(worker.config)[0]
    unused = [{"stem": s, "groups": g} for s in ("grouped", "imagenet") for g in (1, 2, 4, 8)
              if worker.is_new(worker.verdict({"stem": s, "groups": g}))]
    before = len(worker.mirror.trials)
    worker.study.add_trial(_written_elsewhere(template, unused[0], worker="elsewhere:1"))
    worker.study.add_trial(_written_elsewhere(template, unused[1]))     # no tag: another tool
    partial = optuna.trial.create_trial(
        params={"stem": unused[2]["stem"]},
        distributions={"stem": template.distributions["stem"]}, value=0.0,
        user_attrs={"network": "n-partial"})                            # its network as stored
    worker.study.add_trial(partial)
    worker.study.ask()                                     # running, not finished: skipped
    worker.sync()
    assert worker.count == 6
    assert {"elsewhere:1", "#3", "#4"} <= worker.mirrored
    assert len(worker.mirror.trials) == before + 3
    assert all(t.state.is_finished() for t in worker.mirror.trials)
    assert worker.held[worker.verdict(unused[0]).network] == "elsewhere:1"
    assert worker.held[worker.verdict(unused[1]).network] == "#3"
    assert worker.held["n-partial"] == "#4"
    assert not worker.is_new(worker.verdict(unused[0]))
    worker.sync()
    assert len(worker.mirror.trials) == before + 3         # once


def test_a_proposal_whose_network_appears_meanwhile_is_dropped(worker_for):
    """Between this worker's proposal and its write another worker writes the same network:
    the check under the lock drops the proposal (a failed, `dropped` mirror trial) and the
    worker proposes again, so the study never holds a network twice."""
    worker = worker_for(3)
    propose = worker.propose
    raced = []

    def racing_propose():
        proposal = propose()
        if proposal is not None and not raced:
            trial, v = proposal
            worker.study.add_trial(_written_elsewhere(trial, dict(trial.params),
                                                      worker="elsewhere:1"))
            raced.append(v.network)
        return proposal

    worker.propose = racing_propose
    assert worker.run() == 2                               # the third trial is the other's
    trials = load_trials(worker.config)
    networks = [worker.verdict(t.params).network for t in trials]
    assert len(trials) == 3 and len(set(networks)) == 3 and raced[0] in networks
    assert [t.user_attrs["worker"] for t in trials].count("elsewhere:1") == 1
    dropped = [t for t in worker.mirror.trials if t.user_attrs.get("dropped")]
    assert len(dropped) == 1 and dropped[0].state == TrialState.FAIL
    assert all(t.state.is_finished() for t in worker.mirror.trials)


def test_a_candidate_that_cannot_be_costed_is_written_once_as_failed(worker_for):
    worker = worker_for(8)
    assess = worker.costing.assess

    def no_imagenet_stem(values):
        if values["stem"] == "imagenet":
            raise MnasError("this stem cannot be costed here")
        return assess(values)

    worker.costing.assess = no_imagenet_stem
    assert worker.run() == 8
    trials = load_trials(worker.config)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 4 and len({tuple(sorted(t.params.items())) for t in trials}) == 8
    assert all(t.user_attrs["error"] == "this stem cannot be costed here" for t in failed)
    for t in failed:
        assert not worker.is_new(worker.verdict(t.params))


def test_a_complete_study_costs_no_proposal(worker_for):
    worker = worker_for(2)
    assert worker.run() == 2
    again = Worker(worker.config)
    proposals = []
    propose = again.propose
    again.propose = lambda: proposals.append(1) or propose()
    assert again.run() == 0 and proposals == []


def test_a_storage_fault_while_writing_is_one_line(worker_for, monkeypatch):
    worker = worker_for(3)

    def disk_error(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(worker.study, "add_trial", disk_error)
    with pytest.raises(StudyError) as err:
        worker.run()
    text = str(err.value)
    assert "write failed" in text and "disk I/O error" in text and "\n" not in text
    assert text.endswith("re-running the same command resumes the study")
