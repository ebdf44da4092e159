"""`mnas validate` reads the manifest a search leaves in its run folder (best.json: the
candidates best first, each with its spec file) and trains the best."""

import csv
import json
import shutil

import pytest

from mnas import api
from mnas.cli import main
from mnas.errors import StudyError
from mnas.search.retrain import candidates, find_manifest, read_manifest
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
    """A run folder as a search leaves it: two specs and the manifest ranking them."""
    folder.mkdir(parents=True)
    _spec(folder / "best-1-t2.yaml", 2, 16)
    _spec(folder / "best-2-t0.yaml", 0, 8)
    entries = [{"rank": 1, "trial": 2, "spec": "best-1-t2.yaml", "objective": {"proxy": 70.0}},
               {"rank": 2, "trial": 0, "spec": "best-2-t0.yaml", "objective": {"proxy": 50.0}}]
    (folder / "best.json").write_text(json.dumps({"study": "s1", "candidates": entries}))


def test_candidates_come_from_the_manifest_in_its_order(tmp_path):
    _study(tmp_path / "runs" / "s1")
    manifest = read_manifest(find_manifest(str(tmp_path / "runs" / "s1")))
    cands = candidates(manifest, 2)
    assert [(c.rank, c.trial, c.values) for c in cands] == [(1, 2, (70.0,)), (2, 0, (50.0,))]
    assert cands[0].spec.endswith("best-1-t2.yaml")
    with pytest.raises(StudyError, match=r"--top-k 3: .*best.json lists 2 candidates; re-run "
                                         r"`mnas search` with --top 3"):
        candidates(manifest, 3)


def test_a_moved_run_folder_still_works(tmp_path):
    """Spec paths in the manifest are relative to it."""
    _study(tmp_path / "a" / "s1")
    shutil.move(tmp_path / "a" / "s1", tmp_path / "elsewhere")
    manifest = read_manifest(find_manifest(str(tmp_path / "elsewhere" / "best.json")))
    assert [c.spec for c in candidates(manifest, 2)] == \
        [str(tmp_path / "elsewhere" / "best-1-t2.yaml"), str(tmp_path / "elsewhere" / "best-2-t0.yaml")]


def test_missing_spec_and_broken_manifest_are_one_clear_line(tmp_path):
    _study(tmp_path / "s1")
    (tmp_path / "s1" / "best-2-t0.yaml").unlink()
    with pytest.raises(StudyError, match=r"rank 2 \(trial 0\): spec file .*best-2-t0.yaml does "
                                         r"not exist"):
        candidates(read_manifest(tmp_path / "s1" / "best.json"), 2)
    (tmp_path / "s1" / "best.json").write_text("{\"candidates\": [{\"rank\": 1}]}")
    with pytest.raises(StudyError, match="not a manifest written by `mnas search`"):
        read_manifest(tmp_path / "s1" / "best.json")


def test_missing_study_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "nope", "--data", "digits"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no best.json in runs/nope/" in err[0]


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
    captured = capsys.readouterr()
    printed = captured.out
    assert printed.splitlines()[0].startswith("rank,trial,spec,objective,ops")
    # two candidates: the objective ranks rank 1 (70) above rank 2 (50); tau-b of two pairs
    # is +1 when training agrees, -1 when it does not, undefined on a tie
    a, b = (float(r["val_acc"]) for r in rows)
    want = {True: "1.000", False: "-1.000"}[a > b] if a != b else "undefined"
    assert f"Kendall's tau between the search objective and the trained accuracy: {want}" \
        in captured.err or (want == "undefined" and "Kendall's tau: undefined" in captured.err)
    # running it again reuses the finished candidates instead of training them again
    before = [(tmp_path / r["run"] / "metrics.csv").read_text() for r in rows]
    assert main(args) == 0
    with open(out / "validate.csv") as f:
        assert [(r["val_acc"], r["seconds"]) for r in csv.DictReader(f)] == \
            [(r["val_acc"], r["seconds"]) for r in rows]
    assert [(tmp_path / r["run"] / "metrics.csv").read_text() for r in rows] == before
