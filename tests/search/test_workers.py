"""Worker processes: they die with their parent, and when one is killed the others finish its
share of the trials."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT


def count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("select count(*) from trials").fetchone()[0]
    except sqlite3.Error:
        return 0


def workers_of(pid: int) -> list[int]:
    """The search worker processes among `pid`'s children (not multiprocessing's resource
    tracker)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmd = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"multiprocessing" in cmd and b"resource_tracker" not in cmd:
                out.append(int(child))
    return out


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def start(tmp_path, trials: int) -> tuple[subprocess.Popen, Path, list[int]]:
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "mnas", "search", "--budget", "mobilenet-0.75",
                             "--trials", str(trials), "--workers", "2", "--out", str(out),
                             "--study", "s", "--no-plot", "--no-progress", "--format", "csv"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 180
    while count(out / "study.db") < 10 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    workers = workers_of(proc.pid)
    assert len(workers) == 2, "the search must be running its two workers"
    return proc, out, workers


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_workers_share_is_finished_by_the_other(tmp_path):
    proc, out, workers = start(tmp_path, 150)
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert count(out / "study.db") == 150
    assert "killed by SIGKILL; the other workers finished its share" in err


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_their_parent(tmp_path):
    proc, out, workers = start(tmp_path, 3000)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while any(running(w) for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(running(w) for w in workers)
    n = count(out / "study.db")
    time.sleep(1.0)
    assert count(out / "study.db") == n < 3000             # nobody writes any more
