"""The search space file: loading, dimensions, values, enumeration, and its errors."""

from __future__ import annotations

import random

import pytest

from mnas.errors import SpecError
from mnas.search.space import DEFAULT_SPACE, load_space
from tests.conftest import SPECS


def write_space(tmp_path, body: str, name: str = "space.yaml"):
    path = tmp_path / name
    path.write_text(f"base: {SPECS / 'meliusnet42.yaml'}\n" + body)
    return path


def test_default_space_dimensions_and_paper_networks_inside():
    space = load_space()
    assert space.file == str(DEFAULT_SPACE)
    assert [d.param for d in space.dimensions] == [
        "stem", "stages[0]", "stages[1]", "stages[2]", "stages[3]",
        "reductions[0]", "reductions[1]", "reductions[2]", "groups"]
    assert space.searched == ("stem", "stages", "reductions", "groups")
    assert space.size() == 2 * 11 * 23 * 31 * 23 * 8 ** 3 * 4
    # MeliusNet42 (Table 1) as reductions 2.5/2.5/2.75: every value lies on the grid
    params = {"stem": "grouped", "stages[0]": 5, "stages[1]": 8, "stages[2]": 14,
              "stages[3]": 10, "reductions[0]": 2.5, "reductions[1]": 2.5,
              "reductions[2]": 2.75, "groups": 1}
    for d in space.dimensions:
        assert params[d.param] in d.grid(), d.param
    values = space.values(params)
    assert values == {"stem": "grouped", "stages": [5, 8, 14, 10], "transitions": None,
                      "reductions": [2.5, 2.5, 2.75], "groups": 1, "growth": 64}
    assert space.spec(values).values["stages"] == [5, 8, 14, 10]


def test_list_items_may_be_fixed_and_grid_enumerates_everything(tmp_path):
    path = write_space(tmp_path, """dimensions:
  stages: [{low: 2, high: 3}, 8, {choices: [10, 14]}, 10]
  groups: {choices: [1, 4]}
  stem: {fixed: grouped}
""")
    space = load_space(path)
    assert [d.param for d in space.dimensions] == ["stages[0]", "stages[2]", "groups"]
    grid = list(space.grid())
    assert len(grid) == space.size() == 8
    assert len({tuple(sorted(g.items())) for g in grid}) == 8
    assert space.values(grid[0]) == {"stages": [2, 8, 10, 10], "groups": 1, "stem": "grouped"}


def test_float_grid_and_sample_stay_inside(tmp_path):
    path = write_space(tmp_path, "dimensions:\n  reductions: [{low: 1.5, high: 3.5, step: 0.5}, "
                                 "2, {low: 2.0, high: 3.0}]\n  transitions: null\n")
    space = load_space(path)
    d0, d1 = space.dimensions
    assert d0.kind == "float" and d0.grid() == (1.5, 2.0, 2.5, 3.0, 3.5)
    assert d1.grid() is None and space.size() is None
    rng = random.Random(0)
    for _ in range(50):
        p = space.sample(rng)
        assert p["reductions[0]"] in d0.grid() and 2.0 <= p["reductions[2]"] <= 3.0
    with pytest.raises(SpecError, match="continuous dimension"):
        next(space.grid())


@pytest.mark.parametrize("body, message", [
    ("dimensions:\n  stagez: {low: 1, high: 3}\n",
     r"space.yaml:3:11: dimensions.stagez: 'stagez' is not a value of meliusnet42.yaml "
     r"\(did you mean 'stages'\?\)"),
    ("dimensions:\n  groups: {low: 4, high: 2}\n",
     r"space.yaml:3:26: dimensions.groups.high: high \(2\) is below low \(4\)"),
    ("dimensions:\n  groups: {choises: [1, 2]}\n",
     r"space.yaml:3:21: dimensions.groups.choises: unknown dimension field \(did you mean "
     r"'choices'\?\)"),
    ("dimensions:\n  groups: {low: 1, high: 8, step: 3}\n",
     r"dimensions.groups.high: high - low \(7\) is not a multiple of step 3"),
    ("dimensions:\n  groups: {choices: []}\n", r"dimensions.groups.choices: expected a non-empty list"),
    ("dimensions:\n  groups: 4\n", r"dimensions: nothing to search: every value is fixed"),
    ("dimensions:\n  stages: [{low: 2, high: x}, 8, 8, 8]\n",
     r"dimensions.stages\[0\].high: expected a number, got 'x'"),
    ("dimension:\n  groups: {choices: [1]}\n", r"unknown field in a search space \(did you mean "
                                               r"'dimensions'\?\)"),
])
def test_bad_space_files_name_file_line_and_field(tmp_path, body, message):
    with pytest.raises(SpecError, match=message):
        load_space(write_space(tmp_path, body))


def test_missing_base_is_reported_at_its_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("description: x\nbase: nowhere.yaml\ndimensions: {groups: {choices: [1]}}\n")
    with pytest.raises(SpecError, match=r"s.yaml:2:7: base: spec not found: .*nowhere.yaml"):
        load_space(path)


def test_a_space_whose_candidates_cannot_build_is_refused_before_the_first_trial(tmp_path,
                                                                                  config):
    """Five stages need four reductions; the error points at `stages` in the space file (line
    3, column 11), not into the block library, and no study is created."""
    from mnas.search.run import run_search
    path = write_space(tmp_path, "dimensions:\n  stages: [{low: 2, high: 4}, 3, 3, 3, 3]\n"
                                 "  transitions: null\n  reductions: [2, 2, {low: 2.0, high: 3.0}]\n")
    with pytest.raises(SpecError) as err:
        run_search(config(space=str(path), trials=300))
    text = str(err.value)
    assert text.startswith(f"{path}:3:11: dimensions.stages: no corner of this space builds "
                           f"from MeliusNet42 (e.g. stages=[2,3,3,3,3], reductions=[2,2,2]): ")
    assert "need one transition width (or reduction) between each pair of stages" in text
    assert not (tmp_path / "run" / "study.db").exists()


def test_a_corner_that_does_not_build_is_blamed_on_its_dimension(tmp_path, config):
    """groups=3 divides none of MeliusNet42's widths (160, 256, 416): the error points at
    `groups` (line 4); with 1, 2 and 4 the same space is accepted."""
    from mnas.search.run import run_search
    bad = write_space(tmp_path, "dimensions:\n  stages: [{low: 2, high: 4}, 8, 14, 10]\n"
                                "  groups: {choices: [1, 3]}\n", "bad.yaml")
    with pytest.raises(SpecError, match=r"bad\.yaml:4:11: dimensions\.groups: 2 of 4 corners of "
                                        r"this space do not build from MeliusNet42 \(e\.g\. "
                                        r"stages=\[2,8,14,10\], groups=3\): .*groups=3 does not "
                                        r"divide the 160 output channels"):
        run_search(config(space=str(bad), trials=3))
    good = write_space(tmp_path, "dimensions:\n  stages: [{low: 2, high: 4}, 8, 14, 10]\n"
                                 "  groups: {choices: [1, 2, 4]}\n", "good.yaml")
    run, _ = run_search(config(space=str(good), trials=3, out=str(tmp_path / "good")))
    assert run.trials_run == 3
