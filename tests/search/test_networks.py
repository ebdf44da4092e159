"""Every trial a new network: network keys that follow the expanded graph, no network twice
in a study whatever the sampler, different streams for processes sharing a study."""

from __future__ import annotations

import itertools
import random

import pytest

from mnas.search.costing import Costing
from mnas.search.space import load_space
from mnas.spec.load import load_spec
from study_helpers import hand_network, load_trials
from tests.conftest import SPECS

BASE = {"stages": [2, 8, 14, 10], "transitions": None}


def test_network_keys_follow_the_expanded_graph():
    """After a first stage of 64 + 2 x 64 = 192 channels, reductions 1.75 and 2.0 both keep
    round(192 / r / 32) x 32 = 96 channels (one network), 2.5 keeps 64 (another); the channel
    shuffle only exists when the transitions are grouped."""
    base = load_spec(SPECS / "meliusnet42.yaml")
    fast, graph = Costing(base, method="blocks"), Costing(base, method="graph")
    cases = {
        "r1.75": {**BASE, "reductions": [1.75, 2.5, 2.75]},
        "r2.0": {**BASE, "reductions": [2.0, 2.5, 2.75]},
        "r2.5": {**BASE, "reductions": [2.5, 2.5, 2.75]},
        "w96": {**BASE, "transitions": [96, 256, 416]},
        "g1-s8": {**BASE, "reductions": [2.0, 2.5, 2.75], "shuffle": 8},
        "g2-s8": {**BASE, "reductions": [2.0, 2.5, 2.75], "groups": 2, "shuffle": 8},
        "g2-s16": {**BASE, "reductions": [2.0, 2.5, 2.75], "groups": 2, "shuffle": 16},
    }
    same = [{"r1.75", "r2.0", "w96", "g1-s8"}, {"r2.5"}, {"g2-s8"}, {"g2-s16"}]
    for costing, prefix in ((fast, "b:"), (graph, "g:")):
        keys = {name: costing.network(values) for name, values in cases.items()}
        assert all(k.startswith(prefix) for k in keys.values())
        groups = [{n for n in cases if keys[n] == keys[first]}
                  for first in (sorted(g)[0] for g in same)]
        assert groups == same, prefix


def test_closed_form_and_graph_agree_on_which_candidates_are_one_network():
    space = load_space()
    fast = Costing(space.base, method="blocks")
    graph = Costing(space.base, method="graph")
    rng = random.Random(3)
    params = []
    for _ in range(12):          # pairs that differ only in reductions often collide
        p = space.sample(rng)
        params.append(p)
        params.append({**p, "reductions[0]": rng.choice((1.75, 2.0, 2.25))})
    values = [space.values(p) for p in params]
    for a, b in itertools.combinations(range(len(values)), 2):
        same_graph = graph.network(values[a]) == graph.network(values[b])
        assert (fast.network(values[a]) == fast.network(values[b])) == same_graph
        assert (hand_network(params[a]) == hand_network(params[b])) == same_graph
    assert len({graph.network(v) for v in values}) < len(values)     # some did collide


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["refine", "tpe"])
def test_a_study_never_holds_a_network_twice(config, sampler):
    from mnas.cost.budgets import resolve_budget
    from mnas.search.run import run_search
    run, _ = run_search(config(trials=100, seed=0, sampler=sampler,
                               budget=resolve_budget("mobilenet-0.5")))
    trials = load_trials(run.config)
    assert len(trials) == 100
    networks = [hand_network(t.params) for t in trials]
    assert len(set(networks)) == 100
    if sampler == "refine":     # MobileNet-v1 0.5: 148,985,088 OPs, 5.0796 MiB (hand count)
        over = [t for t in trials if t.user_attrs["cost"]["ops"] > 148_985_088
                or t.user_attrs["cost"]["size_mib"] > 5.0797]
        assert len(over) <= 5


def test_processes_sharing_a_study_draw_different_streams(config):
    from mnas.search.run import prepare
    from mnas.search.worker import Worker
    cfg, _, _ = prepare(config(seed=0, trials=10))
    first, second = Worker(cfg), Worker(cfg)
    assert (first.stream, second.stream) == (0, 1)
    a, b = first.propose()[0].params, second.propose()[0].params
    assert a != b
    again, _, _ = prepare(config(seed=0, trials=10, study="other"))
    assert Worker(again).propose()[0].params == a           # --seed still reproduces a run
