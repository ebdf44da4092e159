"""Study storage under faults: a full disk, a file-size limit that tears a journal record, a
read-only folder. Each is one line naming the cause and saying that finished trials are kept;
re-running the same command resumes and loses none of them."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

SEARCH = ["search", "--budget", "mobilenet-0.75", "--study", "s", "--no-plot", "--no-progress",
          "--format", "csv"]


def storage_args(kind: str, folder: Path) -> list[str]:
    if kind == "journal":
        return ["--storage", f"journal:{folder / 'study.log'}", "--out", str(folder.parent / "run")]
    return ["--out", str(folder)]            # the default: folder/study.db


def records(kind: str, folder: Path) -> dict:
    import optuna
    url = (f"journal:{folder / 'study.log'}" if kind == "journal" else
           f"sqlite:///{folder / 'study.db'}")
    from mnas.search.storage import open_storage
    study = optuna.load_study(study_name="s", storage=open_storage(url))
    return {t.number: (t.params, t.values, t.user_attrs["worker"])
            for t in study.get_trials(deepcopy=False)}


def one_line_error(r, *texts: str) -> str:
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("mnas search: error: "), r.stderr
    for text in texts:
        assert text in line, line
    return line


@contextmanager
def mount(target: Path, *args: str):
    """Mount (tmpfs, or a read-only bind) for the test; skipped where mounting is not allowed."""
    r = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount here ({r.stderr.strip()[:80]}): needs root with mount rights")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def mountable_dir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="mnas-fault-"))
    (d / "disk").mkdir()
    return d


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_full_disk_is_one_line_and_the_next_run_resumes(kind):
    d = mountable_dir()
    try:
        with mount(d / "disk", "-t", "tmpfs", "-o", "size=4m", "tmpfs") as disk:
            args = [*SEARCH, *storage_args(kind, disk)]
            assert run_cli(*args, "--trials", "10").returncode == 0
            before = records(kind, disk)
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
            filler = disk / "filler"
            with open(filler, "wb") as f:               # leave ~40 KB: a few trials' worth
                f.write(b"\0" * max(0, free - 40_000))
            r = run_cli(*args, "--trials", "200")
            line = one_line_error(r, "write failed: disk full", "finished trials in the study are "
                                  "kept; re-running the same command resumes the study")
            assert "exceeding max length" not in line
            filler.unlink()
            r = run_cli(*args, "--trials", "60")
            assert r.returncode == 0, r.stderr
            after = records(kind, disk)
            assert sorted(after) == list(range(60))
            assert all(after[n] == rec for n, rec in before.items())
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _file_size_limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)       # writes past it fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.slow
def test_a_torn_journal_record_is_cut_off_keeping_every_complete_trial(tmp_path):
    """A write cut off mid-record (here by a file-size limit, as by a full disk) leaves a torn
    last line; the next run cuts it off instead of appending after it."""
    folder = tmp_path / "j"
    args = [*SEARCH, *storage_args("journal", folder)]
    assert run_cli(*args, "--trials", "12").returncode == 0
    before = records("journal", folder)
    log = folder / "study.log"
    size = log.stat().st_size
    r = subprocess.run([sys.executable, "-m", "mnas", *args, "--trials", "40"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300,
                       preexec_fn=_file_size_limit(size + 5000))
    one_line_error(r, f"storage journal:{log}: write failed: file size limit reached",
                   "finished trials in the study are kept")
    assert not log.read_bytes().endswith(b"\n")            # the torn record
    torn = log.stat().st_size
    r = run_cli(*args, "--trials", "40")
    assert r.returncode == 0, r.stderr
    assert "cut off a torn last record" in r.stderr and "every complete trial is kept" in r.stderr
    after = records("journal", folder)                      # Optuna itself reads the file
    assert sorted(after) == list(range(40))
    assert all(after[n] == rec for n, rec in before.items())
    assert log.read_bytes().count(b"\n") > 0 and log.stat().st_size > torn


def test_a_journal_broken_in_the_middle_is_refused_with_how_to_repair(tmp_path):
    folder = tmp_path / "j"
    args = [*SEARCH, *storage_args("journal", folder)]
    assert run_cli(*args, "--trials", "3").returncode == 0
    log = folder / "study.log"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-1]) + lines[-1][:50] + lines[-1])     # torn, then appended
    line = one_line_error(run_cli(*args, "--trials", "5"),
                          f"journal {log}: line {len(lines)} is not a complete record",
                          "delete its first 50 bytes", "re-run to resume")
    assert "keep a copy of the file" in line


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_read_only_folder_is_one_line_and_loses_nothing(kind):
    d = mountable_dir()
    try:
        folder = d / "disk"
        args = [*SEARCH, *storage_args(kind, folder)]
        assert run_cli(*args, "--trials", "5").returncode == 0
        before = records(kind, folder)
        if os.geteuid() == 0:                 # root writes through permissions: mount read-only
            with mount(folder, "--bind", str(folder)):
                subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
                r = run_cli(*args, "--trials", "10")
        else:
            folder.chmod(0o555)
            r = run_cli(*args, "--trials", "10")
            folder.chmod(0o755)
        line = one_line_error(r, "finished trials are kept", "re-run")
        assert ("read-only file system" if os.geteuid() == 0 else "read-only folder") in line
        assert records(kind, folder) == before
        r = run_cli(*args, "--trials", "10")
        assert r.returncode == 0, r.stderr
        after = records(kind, folder)
        assert sorted(after) == list(range(10))
        assert all(after[n] == rec for n, rec in before.items())
    finally:
        shutil.rmtree(d, ignore_errors=True)
