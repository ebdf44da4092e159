"""Each command imports only what it uses: with another command's dependency made
unimportable (`sys.modules[name] = None`, as on a machine where it is not installed), a
command still runs; a command whose own optional dependency is missing says in one line
which package to install."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT, SPECS

TINY = ["--set=input=[3,16,16]", "--set=stem_channels=8", "--set=growth=8",
        "--set=stages=[1,1]", "--set=transitions=[16]"]


def run_without(blocked: list[str], args: list[str], cwd=ROOT) -> subprocess.CompletedProcess:
    code = ("import sys\n"
            f"for name in {blocked!r}:\n    sys.modules[name] = None\n"
            "from mnas.cli import main\n"
            f"sys.exit(main({args!r}))\n")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


def test_cost_needs_neither_torch_nor_graphviz_nor_optuna():
    out = run_without(["torch", "graphviz", "optuna", "matplotlib", "sklearn", "onnx"],
                      ["cost", "meliusnet22", "--summary", "--format", "csv"])
    assert out.returncode == 0, out.stderr
    assert "MeliusNet22,4624220160,135876608" in out.stdout      # the paper's Table 1 row


def test_building_any_command_parser_imports_no_heavy_package():
    code = ("import sys\nfrom mnas.cli import COMMANDS, build_parser\n"
            "for name in COMMANDS:\n    build_parser(name)\n"
            "print(sorted(m for m in ('torch', 'graphviz', 'optuna', 'matplotlib', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_help_of_every_command_without_graphviz_optuna_or_matplotlib():
    from mnas.cli import COMMANDS
    for name in COMMANDS:
        out = run_without(["graphviz", "optuna", "matplotlib"], [name, "--help"])
        assert out.returncode == 0 and "usage: mnas " + name in out.stdout, (name, out.stderr)


@pytest.mark.slow
def test_train_runs_without_graphviz_and_optuna(tmp_path):
    """The GPU-machine report: `mnas train` failed with "No module named 'graphviz'"."""
    out = run_without(["graphviz", "optuna"],
                      ["train", str(SPECS / "meliusnet-cifar.yaml"), "--data", "digits",
                       "--epochs", "1", "--batch-size", "128", "--quiet", "--out",
                       str(tmp_path / "run"), *TINY])
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "run" / "final.json").is_file()


def test_render_without_graphviz_names_the_package(tmp_path):
    out = run_without(["graphviz"], ["render", "meliusnet22", "-o", str(tmp_path / "m.svg")])
    err = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(err) == 1, out.stderr
    assert "needs the Python package 'graphviz'" in err[0] and "pip install graphviz" in err[0]


def test_search_without_optuna_names_the_package(tmp_path):
    out = run_without(["optuna"], ["search", "--budget", "mobilenet-0.75", "--trials", "2",
                                   "--out", str(tmp_path / "run")])
    err = out.stderr.strip().splitlines()      # the budget and objective lines come first
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert err[-1] == ("mnas search: error: this command needs the Python package 'optuna', "
                       "which is not installed: pip install optuna")
