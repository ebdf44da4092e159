"""The search is not MeliusNet-only: the ReActNet space (specs/spaces/reactnet.yaml) is costed
by the block path (the same rules as the graph model) and searched under a MobileNet budget
like the default space."""

from __future__ import annotations

import json

import pytest

from mnas.search.costing import Costing, graph_cost
from mnas.search.space import load_space
from tests.conftest import SPECS, run_cli


def test_reactnet_space_holds_reactnet_a_and_costs_as_the_graph_model_does():
    space = load_space("reactnet")
    assert space.searched == ("stem_channels", "stages")
    # ReActNet-A (stem 32, stages 1,2,2,6,2) is a point of the space
    params = {"stem_channels": 32, "stages[0]": 1, "stages[1]": 2, "stages[2]": 2,
              "stages[3]": 6, "stages[4]": 2}
    for d in space.dimensions:
        assert params[d.param] in d.grid(), d.param
    costing = Costing(space.base, "larq", probes=[space.values(params)], origin=space.file)
    assert costing.method == "blocks"  # the block path covers any spec, not one family
    cost = costing.cost(space.values(params))
    assert (cost.bops, cost.flops) == (4816896000, 11862016)  # ReActNet paper, Table 4
    smaller = space.values({**params, "stem_channels": 16, "stages[3]": 3})
    assert costing.cost(smaller).same_counts(graph_cost(space.spec(smaller),
                                                        costing.convention))
    assert costing.cost(smaller).bops < cost.bops


@pytest.mark.slow  # three CLI processes: seconds
def test_search_reactnet_space_under_mobilenet_half(tmp_path):
    out = tmp_path / "run"
    r = run_cli("search", "--space", "reactnet", "--budget", "mobilenet-0.5", "--trials", "12",
                "--out", out, "--study", "r", "--no-progress", "--no-plot", "--format", "json",
                "--top", "2")
    assert r.returncode == 0, r.stderr
    assert "costing by the blocks model" in r.stderr
    result = json.loads(r.stdout)
    limit_ops, limit_mib = result["budget"]["ops"], result["budget"]["size_mib"]
    assert len(result["best"]) == 2
    for best in result["best"]:
        assert best["ops"] <= limit_ops and best["size_mib"] <= limit_mib
        text = (out / best["spec"]).read_text()
        assert "block: reactnet" in text and "reactnet_block:" in text   # blocks copied in
        assert "include:" not in text
        c = run_cli("cost", out / best["spec"], "--summary", "--format", "json")
        assert c.returncode == 0, c.stderr
        assert json.loads(c.stdout)[0]["totals"]["ops"] == best["ops"]
