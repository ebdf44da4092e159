"""`mnas cost` as a user runs it: formats, roll-ups, conventions, several specs."""

from __future__ import annotations

import csv
import io
import json

from conftest import run_cli


def test_table_names_convention_and_totals():
    out = run_cli("cost", "specs/meliusnet22.yaml")
    assert out.returncode == 0, out.stderr
    assert "MeliusNet22" in out.stdout and "stage1.unit1.dense.binconv.conv" in out.stdout
    assert "convention 'paper'" in out.stdout and "BOPs 4.624e+09" in out.stdout


def test_json_is_a_list_with_one_object_per_spec():
    out = run_cli("cost", "specs/meliusnet22.yaml", "--format", "json")
    (obj,) = json.loads(out.stdout)          # one spec: still a list (one shape for scripts)
    assert set(obj) == {"name", "spec", "convention", "input", "totals", "layers"}
    assert obj["spec"] == "specs/meliusnet22.yaml"
    assert obj["name"] == "MeliusNet22" and obj["convention"] == "paper"
    assert obj["input"] == [3, 224, 224]
    t = obj["totals"]
    assert set(t) == {"bops", "flops", "ops", "params", "binary_params", "float_params", "size_mib"}
    assert isinstance(t["bops"], int) and isinstance(t["params"], int)
    # OPs = BOPs / 64 + FLOPs is whole here: 4,624,220,160 / 64 + 135,876,608 (Table 1: 2.08e8)
    assert t["ops"] == 208_130_048 and isinstance(t["ops"], int)
    assert t["bops"] == sum(l["bops"] for l in obj["layers"])
    assert t["flops"] == sum(l["flops"] for l in obj["layers"])
    assert t["params"] == t["binary_params"] + t["float_params"]
    layer = obj["layers"][1]
    assert set(layer) == {"name", "op", "block", "stage", "precision", "shape", "params", "macs",
                          "bops", "flops"}
    assert layer["shape"] == [32, 112, 112]


def test_json_several_specs_and_convention():
    out = run_cli("cost", "specs/meliusnet22.yaml", "specs/meliusnet29.yaml", "--format", "json",
                  "--summary", "--convention", "larq")
    objs = json.loads(out.stdout)
    assert [o["name"] for o in objs] == ["MeliusNet22", "MeliusNet29"]
    assert all(o["convention"] == "larq" and "layers" not in o for o in objs)
    (paper,) = json.loads(run_cli("cost", "specs/meliusnet22.yaml", "--format", "json",
                                  "--summary").stdout)
    assert objs[0]["totals"]["flops"] - paper["totals"]["flops"] == 512 * 1000


def test_csv_and_markdown_summary():
    out = run_cli("cost", "specs/meliusnet22.yaml", "specs/meliusnet42.yaml", "--summary",
                  "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["network"] for r in rows] == ["MeliusNet22", "MeliusNet42"]
    assert int(rows[1]["bops"]) == 9692798976
    md = run_cli("cost", "specs/meliusnet22.yaml", "--summary", "--format", "markdown").stdout
    assert md.splitlines()[2].startswith("| network | bops |")
    assert "convention 'paper'" in md


def test_by_stage_and_block():
    out = run_cli("cost", "specs/meliusnet22.yaml", "--by", "stage", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["stage"] for r in rows] == ["input", "stem", "stage1", "stage2", "stage3", "stage4",
                                          "head"]
    assert int(rows[1]["flops"]) == 68640768
    blocks = run_cli("cost", "specs/meliusnet22.yaml", "--by", "block", "--format", "json")
    by = json.loads(blocks.stdout)[0]["by_block"]
    assert any(b["block"] == "stage1.unit1.dense.binconv" for b in by)
    assert all(isinstance(b["ops"], int) for b in by)      # whole OPs are integers


def test_whole_numbers_print_as_integers_in_every_column():
    """A binconv block of MeliusNet22's first stage: 115,605,504 BOPs / 64 = 1,806,336 OPs;
    once printed as 1.806e+06 next to integer columns."""
    out = run_cli("cost", "specs/meliusnet22.yaml", "--by", "block").stdout
    row = next(line for line in out.splitlines() if "stage1.unit1.dense.binconv " in line)
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert "1,806,336" in row and not any("e+" in line for line in rows)


def test_csv_carries_the_convention():
    for args in (["--summary"], ["--by", "stage"], []):
        out = run_cli("cost", "specs/meliusnet22.yaml", *args, "--format", "csv",
                      "--convention", "larq")
        rows = list(csv.DictReader(io.StringIO(out.stdout)))
        assert rows and {r["convention"] for r in rows} == {"larq"}, args
    for command in (["budgets"], ["compare", "specs/meliusnet22.yaml"]):
        rows = list(csv.DictReader(io.StringIO(run_cli(*command, "--format", "csv").stdout)))
        assert {r["convention"] for r in rows} == {"paper"}, command


def test_summary_by_stage_keeps_the_groups():
    out = run_cli("cost", "specs/meliusnet22.yaml", "specs/meliusnet42.yaml", "--summary",
                  "--by", "stage", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    stages = ["input", "stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert [(r["network"], r["stage"]) for r in rows] == \
        [(n, s) for n in ("MeliusNet22", "MeliusNet42") for s in stages]
    assert int(rows[1]["flops"]) == 68640768 == int(rows[8]["flops"])     # the same stem


def test_layer_csv_for_several_specs_has_one_header():
    out = run_cli("cost", "specs/meliusnet22.yaml", "specs/meliusnet29.yaml", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert {r["network"] for r in rows} == {"MeliusNet22", "MeliusNet29"}
    assert sum(1 for line in out.stdout.splitlines() if line.startswith("network,")) == 1


def test_cost_cli_does_not_import_torch():
    code = ("import sys; from mnas.cli import main; "
            "rc = main(['cost', 'specs/meliusnet22.yaml', '--summary']); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)")
    import subprocess
    import sys
    from conftest import ROOT
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_help_has_examples():
    out = run_cli("cost", "--help")
    assert out.returncode == 0 and "examples:" in out.stdout and "--set stem=imagenet" in out.stdout
    top = run_cli("--help")
    assert "mnas cost specs/meliusnet22.yaml" in top.stdout
