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


# Search fixtures: small studies in a temporary run folder.
@pytest.fixture(scope="session")
def budget075():
    from mnas.cost.budgets import resolve_budget
    return resolve_budget("mobilenet-0.75")


@pytest.fixture
def config(tmp_path, budget075):
    """A SearchConfig factory writing under tmp_path."""
    from mnas.search.config import SearchConfig

    def make(**kw) -> SearchConfig:
        kw.setdefault("budget", budget075)
        kw.setdefault("out", str(tmp_path / "run"))
        kw.setdefault("study", "t")
        return SearchConfig(**kw)
    return make


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for this test session (tests/pg_server.py); skipped only where
    PostgreSQL's server programs are not installed."""
    from tests.pg_server import PostgresServer, binaries
    bindir = binaries()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; setup.sh "
                    "does this when run as root)")
    server = PostgresServer(bindir)
    try:
        yield server
    finally:
        server.close()
