"""mnas installed as a user installs it (a normal, non-editable `pip install`), run from a
folder outside the checkout: the bundled specs, blocks, spaces and zoo data come with the
package, and the commands work without the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


def _install(tmp_path: Path) -> Path:
    """pip-install a copy of the checkout (so no build files land in it) into a folder."""
    source, target = tmp_path / "source", tmp_path / "site"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "mnas", source / "mnas",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                          "--no-build-isolation", "--no-index", "--target", str(target),
                          str(source)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return target


@pytest.mark.slow
def test_installed_package_runs_from_another_folder(tmp_path):
    site = _install(tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS="1")

    def mnas(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mnas", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)

    where = subprocess.run([sys.executable, "-c", "import mnas; print(mnas.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout
    assert not (site / "mnas" / "zoo" / "specs").is_symlink()
    budgets = mnas("budgets", "--format", "csv")
    assert budgets.returncode == 0, budgets.stderr
    assert "mobilenet-0.75,324632448," in budgets.stdout          # MobileNet-v1 0.75, paper
    cost = mnas("cost", "meliusnet22", "--summary", "--format", "csv")
    assert cost.returncode == 0, cost.stderr
    assert "MeliusNet22,4624220160,135876608,208130048," in cost.stdout    # Table 1
    search = mnas("search", "--budget", "mobilenet-0.75", "--trials", "20", "--no-progress",
                  "--no-plot", "--format", "csv")
    assert search.returncode == 0, search.stderr
    best = sorted((work / "runs").glob("*/best-1-t*.yaml"))
    assert len(best) == 1 and (best[0].parent / "best.json").is_file()
    again = mnas("cost", str(best[0]), "--summary")
    assert again.returncode == 0, again.stderr
    render = mnas("render", "meliusnet22", "-o", "x.svg")
    assert render.returncode in (0, 1), render.stderr     # 1: no `dot` program, DOT written
    drawn = work / ("x.svg" if render.returncode == 0 else "x.dot")
    assert drawn.stat().st_size > 1000
