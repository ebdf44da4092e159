"""Shared fixtures: paths of the repository, its specs, and a CLI runner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
NETWORK_SPECS = sorted(SPECS.glob("*.yaml"))


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """Run `python -m mnas ARGS` as a user would, from the repository root."""
    return subprocess.run([sys.executable, "-m", "mnas", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture
def cli():
    return run_cli
