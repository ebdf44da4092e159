"""The search's block-cached costing (`mnas.cost.blocks`) equals the graph cost model,
exactly, on the candidates it covers; what it does not cover goes to the graph model."""

from __future__ import annotations

import random
import shutil

import pytest

from mnas.api import cost
from mnas.cost.blocks import tally_spec
from mnas.cost.conventions import get_convention
from mnas.errors import MnasError, MnasWarning
from mnas.cost.model import totals
from mnas.search.costing import Costing, candidate_cost, graph_cost
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
def test_block_path_equals_graph_model_on_random_candidates(convention):
    base = load_spec(SPECS / "meliusnet42.yaml")
    costing = Costing(base, convention)
    assert costing.method == "blocks"
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
        assert tally_spec(base.with_values(values), costing.blocks) is not None, values
        fast = costing.cost(values)
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


def test_edited_block_library_is_costed_exactly(tmp_path):
    """The block path holds no statement of the blocks: an edited library (3x3 transition
    convs) is costed by the same rules as the graph model."""
    shutil.copytree(SPECS / "blocks", tmp_path / "blocks")
    shutil.copy(SPECS / "meliusnet42.yaml", tmp_path / "net.yaml")
    lib = tmp_path / "blocks" / "meliusnet.yaml"
    text = lib.read_text()
    assert "kernel: 1, out:" in text
    lib.write_text(text.replace("kernel: 1, out:", "kernel: 3, out:"))
    base = load_spec(tmp_path / "net.yaml")
    costing = Costing(base, probes=[{"stages": [2, 3, 4, 5]}])
    assert costing.method == "blocks"
    ref = graph_cost(base.with_values({"stages": [2, 3, 4, 5]}), get_convention("paper"))
    assert costing.cost({"stages": [2, 3, 4, 5]}).same_counts(ref)
    # 3x3 instead of 1x1 transitions: 9x their weights (MeliusNet42: 160/256/416 wide)
    plain = graph_cost(load_spec(SPECS / "meliusnet42.yaml", {"stages": [2, 3, 4, 5]}),
                       get_convention("paper"))
    assert ref.float_params > plain.float_params


def test_blocks_are_reused_across_candidates():
    """A second candidate that calls the same blocks on the same shapes adds nothing to the
    cache; a wider input adds entries (the key holds the input shape)."""
    costing = Costing(load_spec(SPECS / "meliusnet42.yaml"), method="blocks")
    costing.cost({"stages": [4, 5, 6, 7]})
    known = len(costing.blocks)
    costing.cost({"stages": [4, 5, 6, 7], "clip": 1.3})        # same network, other values
    assert len(costing.blocks) == known
    costing.cost({"stages": [4, 5, 6, 7], "input": [3, 160, 160]})
    assert len(costing.blocks) > known


def test_forward_references_go_to_the_graph_model(tmp_path):
    """A layer that names a later one as input is not covered by the block path (it costs
    in expansion order) and is costed by the graph model."""
    spec = tmp_path / "fwd.yaml"
    spec.write_text("name: fwd\ninput: [3, 8, 8]\nvalues: {w: 8}\nlayers:\n"
                    "  - {name: a, op: relu, inputs: [b]}\n"
                    "  - {name: b, op: conv2d, kernel: 3, out: '${w}', inputs: [input]}\n"
                    "  - {name: c, op: add, inputs: [a, b]}\n")
    base = load_spec(spec)
    assert tally_spec(base, {}) is None
    costing = Costing(base, method="blocks")
    assert costing.cost({"w": 16}).flops == 16 * 3 * 9 * 64      # a 3x3 conv, 16 out, 8x8


def test_cache_returns_same_object_and_remembers_errors():
    costing = Costing(load_spec(SPECS / "meliusnet42.yaml"))
    a = costing.cost({"stages": [4, 5, 6, 7]})
    assert costing.cost({"stages": [4, 5, 6, 7]}) is a
    for _ in range(2):
        with pytest.raises(MnasError, match="groups=3 does not divide"):
            costing.cost({"groups": 3})


def test_invalid_candidates_get_the_graph_models_error(recwarn):
    """An unknown unit block: no warning, and the error the graph model gives."""
    base = load_spec(SPECS / "meliusnet42.yaml")
    costing = Costing(base, probes=[{"unit": "other"}])
    assert costing.method == "blocks" and not recwarn.list
    with pytest.raises(MnasError, match="unknown block 'other'"):
        costing.cost({"unit": "other"})


@pytest.mark.parametrize("spec", sorted(SPECS.glob("*.yaml")), ids=lambda p: p.stem)
def test_block_path_equals_graph_model_on_every_bundled_network(spec):
    """Every network of the zoo (MeliusNets, ResNetE, Bi-Real, MobileNet, ReActNet, QuickNet,
    ...; precision inferred per layer) costs the same by both paths, under both conventions,
    with one cache shared as in a search."""
    import warnings
    base, cache = load_spec(spec), {}
    for convention in ("paper", "larq"):
        conv = get_convention(convention)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MnasWarning)
            ref = graph_cost(base, conv)
        for _ in range(2):                  # cold, then from the cache
            tally = tally_spec(base, cache)
            assert tally is not None
            fast = candidate_cost(totals(tally, conv))
            assert fast.same_counts(ref) and fast.ops == ref.ops, convention


def test_block_path_counts_a_binary_conv_on_a_real_input_as_32_bit(tmp_path):
    """Larq's rule: a binary-weight conv whose input is 32-bit costs 32-bit MACs; the block
    path tracks each tensor's precision as the graph model does (in and out of its cache)."""
    spec = tmp_path / "real.yaml"
    spec.write_text(
        "name: real\ninput: [8, 8, 8]\nblocks:\n  unit:\n    args: {sign: true}\n    layers:\n"
        "      - {name: s, op: sign, when: '${sign}'}\n"
        "      - {name: c, op: conv2d, binary: true, out: 8, kernel: 3}\n"
        "layers:\n  - {name: a, block: unit, args: {sign: false}}\n"
        "  - {name: b, block: unit}\n  - {name: d, block: unit, args: {sign: false}}\n")
    base, cache = load_spec(spec), {}
    macs = 8 * 8 * 9 * 64                    # one 3x3 conv, 8 -> 8 channels, 8x8
    for _ in range(2):
        t = totals(tally_spec(base, cache), "paper")
        assert (t.bops, t.flops) == (macs, 2 * macs)     # only b's conv reads a 1-bit input
