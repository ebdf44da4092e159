"""A real PostgreSQL server for the tests: initdb into a temporary folder, started on a free
loopback port (as the `postgres` user when the tests run as root: the server refuses root), and
stopped at the end of the session. Needs Debian's `postgresql` package (setup.sh installs it)."""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path


def binaries() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One throw-away server; `database()` creates a fresh, empty database and returns its
    URL (the README's form, postgresql://USER@HOST:PORT/NAME)."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="mnas-pg-"))
        self.data, self.port = self.root / "data", _free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self._n = 0
        if self.user:
            shutil.chown(self.root, self.user)
        atexit.register(self.close)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self.start()

    def _run(self, program: str, *args: str, check: bool = True):
        cmd = [str(self.bindir / program), *args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=check)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                  f"-c fsync=off -c max_connections=100", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def database(self) -> str:
        import psycopg
        self._n += 1
        name = f"t{self._n}_{os.getpid()}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        """Stop the server (by its pid if pg_ctl cannot) and remove its folder."""
        if not self.root.exists():
            return
        try:
            self.stop("immediate")
        finally:
            pid_file = self.data / "postmaster.pid"
            if pid_file.exists():
                try:
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
                except (ValueError, IndexError, ProcessLookupError):
                    pass
            shutil.rmtree(self.root, ignore_errors=True)
