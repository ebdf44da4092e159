"""The closed-form MeliusNet cost equals the graph cost model, exactly, or is not used."""

from __future__ import annotations

import random
import shutil

import pytest

from mnas.api import cost
from mnas.cost.conventions import get_convention
from mnas.errors import MnasError, MnasWarning
from mnas.search.costing import Costing, graph_cost
from mnas.search.space import load_space
from mnas.spec.load import load_spec
from tests.conftest import SPECS


def random_values(rng: random.Random) -> dict:
    """Candidates beyond the default space: other growths, units, stems, widths, inputs,
    including invalid ones (groups that do not divide, shuffles that do not fit)."""
    n = rng.choice([3, 4, 5])
    v = {"stages": [rng.randint(1, 12) for _ in range(n)], "groups": rng.choice([1, 2, 3, 4, 8]),
         "stem": rng.choice(["grouped", "imagenet"]), "growth": rng.choice([32, 48, 64]),
         "unit": rng.choice(["melius", "dense"]), "shuffle": rng.choice([16, 8, 3]),
         "stem_channels": rng.choice([64, 32, 48]), "classes": rng.choice([10, 1000])}
    if rng.random() < 0.5:
        v["transitions"] = None
        v["reductions"] = [rng.choice([1.5, 2, 2.4, 3.3, 3.5]) for _ in range(n - 1)]
    else:
        v["transitions"] = [rng.choice([64, 96, 160, 256, 320]) for _ in range(n - 1)]
    if rng.random() < 0.3:
        v["input"] = [3, rng.choice([32, 64, 100, 224]), rng.choice([48, 224])]
    return v


@pytest.mark.parametrize("convention", ["paper", "larq"])
def test_formula_equals_graph_model_on_random_candidates(convention):
    base = load_spec(SPECS / "meliusnet42.yaml")
    costing = Costing(base, convention)
    assert costing.method == "formula"
    conv = get_convention(convention)
    rng = random.Random(7)
    valid = invalid = 0
    for _ in range(60):
        values = random_values(rng)
        try:
            ref = graph_cost(base.with_values(values), conv)
        except MnasError as err:
            with pytest.raises(MnasError) as got:
                costing.cost(values)
            assert str(got.value) == str(err)
            invalid += 1
            continue
        fast = costing._formula(values)
        assert fast is not None, values          # the formula covers every valid candidate
        fast = fast[0]
        assert fast.same_counts(ref), values
        assert fast.ops == ref.ops and fast.size_mib == ref.size_mib
        valid += 1
    assert valid > 30 and invalid > 5


def test_default_space_candidates_cost_as_their_specs_do():
    space = load_space()
    costing = Costing(space.base, "paper")
    rng = random.Random(3)
    for _ in range(15):
        values = space.values(space.sample(rng))
        fast = costing.cost(values)
        ref = cost(space.base.file, values).totals
        assert (fast.bops, fast.flops, fast.binary_params, fast.float_params, fast.size_mib) == \
            (ref.bops, ref.flops, ref.binary_params, ref.float_params, ref.size_mib)


def test_paper_figures_through_costing():
    """MeliusNet42 under the paper convention: 3.2546e8 OPs, 10.10 MiB (Table 1)."""
    c = Costing(load_spec(SPECS / "meliusnet42.yaml")).cost({})
    assert c.bops == 9_692_798_976 and c.flops == 174_010_368
    assert round(c.ops / 1e8, 4) == 3.2546 and round(c.size_mib, 2) == 10.10
    assert c.widths == (160, 256, 416)


def test_edited_block_library_falls_back_to_graph_model(tmp_path):
    """A library whose transition differs from what the formula states is costed by the
    graph model, with a warning; results stay exact."""
    shutil.copytree(SPECS / "blocks", tmp_path / "blocks")
    shutil.copy(SPECS / "meliusnet42.yaml", tmp_path / "net.yaml")
    lib = tmp_path / "blocks" / "meliusnet.yaml"
    text = lib.read_text()
    assert "kernel: 1, out:" in text
    lib.write_text(text.replace("kernel: 1, out:", "kernel: 3, out:"))
    base = load_spec(tmp_path / "net.yaml")
    with pytest.warns(MnasWarning, match="disagrees with the graph model"):
        costing = Costing(base, probes=[{"stages": [2, 3, 4, 5]}])
    assert costing.method == "graph"
    assert costing.cost({"stages": [2, 3, 4, 5]}).same_counts(
        graph_cost(base.with_values({"stages": [2, 3, 4, 5]}), get_convention("paper")))


def test_cache_returns_same_object_and_remembers_errors():
    costing = Costing(load_spec(SPECS / "meliusnet42.yaml"))
    a = costing.cost({"stages": [4, 5, 6, 7]})
    assert costing.cost({"stages": [4, 5, 6, 7]}) is a
    for _ in range(2):
        with pytest.raises(MnasError, match="groups=3 does not divide"):
            costing.cost({"groups": 3})


def test_values_the_formula_does_not_cover_go_to_the_graph_model(recwarn):
    """Another stem block: no warning, and such candidates are costed by the graph model."""
    base = load_spec(SPECS / "meliusnet42.yaml")
    costing = Costing(base, probes=[{"unit": "other"}])
    assert costing.method == "formula" and not recwarn.list
    with pytest.raises(MnasError, match="unknown block 'other'"):
        costing.cost({"unit": "other"})
