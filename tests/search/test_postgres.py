"""Studies on a real PostgreSQL server started by the test session (tests/pg_server.py), with
the README's URL form and the driver the project declares (`mnas[postgres]`): two searches
started at once against a fresh database, two worker processes on one study, a server that
stops mid-run."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from study_helpers import hand_network
from tests.conftest import ROOT, run_cli

SEARCH = ["search", "--budget", "mobilenet-0.5", "--study", "s", "--no-plot", "--no-progress",
          "--format", "csv"]
# MobileNet-v1 0.5 by hand (its paper's layer table): 148,985,088 MACs without the FC layer,
# 1,331,592 parameters = 5.0796 MiB at 32 bits
OPS_LIMIT, SIZE_LIMIT = 148_985_088, 1_331_592 * 4 / 2**20


def trials_of(url: str):
    import optuna
    from mnas.search.storage import open_storage
    return optuna.load_study(study_name="s", storage=open_storage(url)).get_trials(deepcopy=False)


def count(url: str) -> int:
    import psycopg
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    except psycopg.Error:
        return 0


def over_budget(trials) -> int:
    return sum(t.user_attrs["cost"]["ops"] > OPS_LIMIT or
               t.user_attrs["cost"]["size_mib"] > SIZE_LIMIT for t in trials)


@pytest.mark.slow
def test_two_searches_started_at_once_against_a_fresh_database(postgres, tmp_path):
    """As two machines would: same command, same --seed, one study; each process its own run
    folder (no shared file lock)."""
    url = postgres.database()
    procs = [subprocess.Popen([sys.executable, "-m", "mnas", *SEARCH, "--trials", "60",
                               "--storage", url, "--seed", "0", "--out", str(tmp_path / f"m{i}")],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outputs]
    trials = trials_of(url)
    assert sorted(t.number for t in trials) == list(range(60))
    assert len({hand_network(t.params) for t in trials}) == 60      # no network twice
    assert len({t.user_attrs["worker"].split(":")[2] for t in trials}) == 2   # both worked
    assert over_budget(trials) <= 3                                          # <= 5%


OPEN_AT = """
import sys, time
from mnas.search.storage import open_storage
url, at = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, at - time.time() - 0.05))
while time.time() < at:
    pass
open_storage(url)
print("opened")
"""


@pytest.mark.slow
def test_many_processes_opening_a_fresh_database_at_the_same_moment(postgres):
    """The first use creates Optuna's tables; processes that arrive together used to race on
    it (a unique-violation on PostgreSQL's type catalogue)."""
    url = postgres.database()
    at = time.time() + 3.0
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_AT, url, str(at)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [out.strip() for out, _ in results] == ["opened"] * 4, [e[-800:] for _, e in results]


@pytest.mark.slow
def test_two_worker_processes_on_one_postgres_study(postgres, tmp_path):
    url = postgres.database()
    r = run_cli(*SEARCH, "--trials", "40", "--workers", "2", "--storage", url,
                "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    trials = trials_of(url)
    assert sorted(t.number for t in trials) == list(range(40))
    assert {t.user_attrs["worker"].split(":")[0] for t in trials} == {"0", "1"}
    assert len({hand_network(t.params) for t in trials}) == 40


@pytest.mark.slow
def test_a_server_that_stops_mid_run_is_one_line_and_the_study_resumes(postgres, tmp_path):
    url = postgres.database()
    args = [sys.executable, "-m", "mnas", *SEARCH, "--trials", "3000", "--storage", url,
            "--out", str(tmp_path / "run")]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.time() + 180
        while count(url) < 10 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
        postgres.stop("fast")
        _, err = proc.communicate(timeout=120)
    finally:
        postgres.start()
    assert proc.returncode == 1, err
    assert "Traceback" not in err, err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"mnas search: error: storage {url}: ") and "database server" in line
    assert "finished trials in the study are kept; re-running the same command resumes" in line
    before = {t.number: (t.params, t.values) for t in trials_of(url)}
    assert len(before) >= 10
    r = run_cli(*SEARCH, "--trials", str(len(before) + 5), "--storage", url,
                "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    after = {t.number: (t.params, t.values) for t in trials_of(url)}
    assert sorted(after) == list(range(len(before) + 5))
    assert all(after[n] == v for n, v in before.items())


def test_a_missing_database_driver_is_named(tmp_path):
    try:
        import psycopg2  # noqa: F401
        pytest.skip("psycopg2 is installed here")
    except ImportError:
        pass
    r = run_cli(*SEARCH, "--trials", "3", "--storage",
                "postgresql+psycopg2://u@127.0.0.1:1/db", "--out", tmp_path / "run")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        "mnas search: error: --storage postgresql+psycopg2://u@127.0.0.1:1/db needs the database "
        "driver 'psycopg2', which is not installed: pip install psycopg2-binary")


def test_the_study_lock_is_held_on_the_server(postgres, tmp_path):
    """Two machines share no folder: with a database server the study's lock is the server's,
    so a second holder with another run folder waits, while another study does not."""
    import threading
    from mnas.search.storage import open_storage, study_lock
    url = postgres.database()
    storage = open_storage(url)
    entered = {name: threading.Event() for name in ("same", "other")}

    def take(study: str, key: str):
        with study_lock(url, study, tmp_path / key, None):
            entered[key].set()

    with study_lock(url, "s", tmp_path / "a", storage):
        same = threading.Thread(target=take, args=("s", "same"), daemon=True)
        other = threading.Thread(target=take, args=("t", "other"), daemon=True)
        same.start()
        other.start()
        assert entered["other"].wait(30)
        assert not entered["same"].wait(1.0)
    assert entered["same"].wait(30)
