"""Where a study persists, and how its processes take turns.

A study lives in an SQLite file `runs/<study>/study.db` by default (WAL journal, so several
local processes can share it), in any Optuna RDB URL (PostgreSQL, MySQL: several machines), or
in Optuna's journal file (`journal:PATH`). The resolved budget, the space, the objective and the
convention are stored in the study's user attributes; resuming under other settings is refused,
naming what differs.

`study_lock` is the one lock every process of a study takes to read the trial count, claim work
and write a trial: a file lock next to an SQLite or journal file, a PostgreSQL advisory lock
(MySQL: GET_LOCK) on the server otherwise, so machines sharing a server take turns too.
Faults of the storage (disk full, read-only folder, a server that stops) become one StudyError
naming the cause (`storage_failure`); a journal whose last record was cut off by such a fault
is repaired on the next open (`repair_journal`)."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mnas import __version__
from mnas.errors import MnasWarning, StudyError
from mnas.search.config import SearchConfig
from mnas.search.space import Space

#: database driver (import name) -> what installs it
DRIVERS = {"psycopg": "'mnas[postgres]'", "psycopg2": "psycopg2-binary", "pymysql": "pymysql",
           "MySQLdb": "mysqlclient"}
SCHEMA_LOCK = "mnas:schema"


def _sqlite_creator(path: str):
    def connect():
        conn = sqlite3.connect(path, timeout=120, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")      # readers never block the writer
        conn.execute("PRAGMA synchronous=NORMAL")    # durable across process crashes
        return conn
    return connect


def journal_path(url: str) -> Path | None:
    return Path(url[len("journal:"):].removeprefix("//")) if url.startswith("journal:") else None


def sqlite_path(url: str) -> Path | None:
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


def dialect(url: str) -> str:
    """'sqlite', 'journal', 'postgresql', 'mysql', ... (the part of the URL before '+' / ':')."""
    if url.startswith("journal:"):
        return "journal"
    return url.split("://", 1)[0].split("+", 1)[0]


def open_storage(url: str):
    """An Optuna storage for `url`: sqlite:///PATH, another SQLAlchemy URL, or journal:PATH."""
    import optuna
    try:
        journal = journal_path(url)
        if journal is not None:
            journal.parent.mkdir(parents=True, exist_ok=True)
            repair_journal(journal)
            from optuna.storages.journal import JournalFileBackend
            return optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.RDBStorage(
                url, engine_kwargs={"creator": _sqlite_creator(str(path))})
        if "://" not in url:
            raise StudyError(f"--storage: '{url}' is not a storage URL (sqlite:///PATH, "
                             f"postgresql://..., mysql://..., or journal:PATH)")
        with _server_lock(url, SCHEMA_LOCK):     # first use creates the tables: one at a time
            return optuna.storages.RDBStorage(url)
    except StudyError:
        raise
    except ModuleNotFoundError as err:
        raise StudyError(f"--storage {_safe(url)} needs the database driver '{err.name}', which "
                         f"is not installed: pip install {DRIVERS.get(err.name, err.name)}"
                         ) from None
    except Exception as err:    # unreachable server, bad URL, unwritable folder
        raise storage_failure(err, url, "cannot open") from None


def _safe(url: str) -> str:
    """The URL without its password."""
    if "://" in url and "@" in url.split("://", 1)[1]:
        scheme, rest = url.split("://", 1)
        cred, host = rest.rsplit("@", 1)
        return f"{scheme}://{cred.split(':', 1)[0]}:***@{host}" if ":" in cred else url
    return url


def _lock_key(name: str) -> int:
    """A signed 64-bit key for a server's advisory lock."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def _server_lock(url: str, name: str, engine=None) -> Iterator[None]:
    """A lock held on the database server (released by the server if this process dies); a
    no-op for dialects without one."""
    kind = dialect(url)
    if kind not in ("postgresql", "mysql"):
        yield
        return
    import sqlalchemy
    own = engine is None
    if own:
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            if kind == "postgresql":
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": _lock_key(name)})
            else:
                conn.execute(sqlalchemy.text("SELECT GET_LOCK(:k, -1)"), {"k": name[:64]})
            conn.commit()
            try:
                yield
            finally:
                if kind == "postgresql":
                    conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"),
                                 {"k": _lock_key(name)})
                else:
                    conn.execute(sqlalchemy.text("SELECT RELEASE_LOCK(:k)"), {"k": name[:64]})
                conn.commit()
    finally:
        if own:
            engine.dispose()


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock shared by the processes of one machine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def lock_file(url: str, out: str | Path) -> Path:
    """The lock file of a file-backed study: next to the file (every process that opens the same
    file finds it), else in the run folder."""
    path = sqlite_path(url) or journal_path(url)
    return path.with_name(path.name + ".mnas-lock") if path else Path(out) / "search.lock"


@contextmanager
def study_lock(url: str, study: str, out: str | Path, storage=None) -> Iterator[None]:
    """The lock of one study, across processes and, with a database server, across machines."""
    if dialect(url) in ("postgresql", "mysql"):
        engine = getattr(storage, "engine", None)
        with _server_lock(url, f"mnas:study:{study}", engine):
            yield
    else:
        with file_lock(lock_file(url, out)):
            yield


def repair_journal(path: Path) -> None:
    """Cut off a torn last record (a write that a full disk or a kill interrupted), keeping
    every complete one; refuse a file with a broken record in the middle, saying how to repair
    it. Runs under the journal's own write lock, so a record being written is never cut."""
    if not path.exists() or path.stat().st_size == 0:
        return
    from optuna.storages.journal import JournalFileSymlinkLock
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        with open(path, "rb") as f:
            data = f.read()
        keep = data.rfind(b"\n") + 1
        for number, line in enumerate(data[:keep].splitlines(), 1):
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict) or "op_code" not in record:
                start = line.find(b'{"op_code"', 1)
                hint = (f"delete its first {start} bytes (a record cut off by an interrupted "
                        f"write, before '{{\"op_code\"')" if start > 0 else "delete that line")
                raise StudyError(f"journal {path}: line {number} is not a complete record (an "
                                 f"interrupted write that a later run appended after); keep a "
                                 f"copy of the file, {hint}, and re-run to resume")
        if keep < len(data):
            with open(path, "r+b") as f:
                f.truncate(keep)
                os.fsync(f.fileno())
            warnings.warn(f"journal {path}: cut off a torn last record ({len(data) - keep} "
                          f"bytes) left by an interrupted write; every complete trial is kept",
                          MnasWarning, stacklevel=3)
    finally:
        lock.release()


def trial_count(storage, study_id: int) -> int:
    """How many trials the study holds, in one cheap query (Optuna's own count reads every
    trial of an RDB study)."""
    engine = getattr(storage, "engine", None)
    if engine is None:
        return len(storage.get_all_trials(study_id, deepcopy=False))
    import sqlalchemy
    with engine.connect() as conn:
        return conn.execute(sqlalchemy.text("SELECT COUNT(*) FROM trials WHERE study_id = :s"),
                            {"s": study_id}).scalar_one()


# -- faults -----------------------------------------------------------------------------------
_OS_CAUSES = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded",
              errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
              errno.EPERM: "permission denied", errno.EFBIG: "file size limit reached",
              errno.EIO: "I/O error"}
_TEXT_CAUSES = (("database or disk is full", "disk full"),
                ("no space left", "disk full"),
                ("readonly database", "read-only database or folder"),
                ("read-only", "read-only database or folder"),
                ("unable to open database file", "cannot open the database file (missing or "
                                                 "read-only folder?)"),
                ("disk i/o error", "I/O error"),
                ("terminating connection", "the database server stopped"),
                ("server closed the connection", "the database server stopped"),
                ("connection refused", "the database server is not reachable"),
                ("could not connect", "the database server is not reachable"),
                ("connection is lost", "the database server stopped"),
                ("consuming input failed", "the database server stopped"),
                ("the connection is closed", "the database server stopped"),
                ("does not exist", "the database does not exist"),
                ("password authentication failed", "authentication failed"))


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [err]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]


def fault_cause(err: BaseException) -> str | None:
    """What went wrong with the storage, in a few words (None: not a storage fault)."""
    for e in _chain(err):
        if isinstance(e, OSError) and e.errno in _OS_CAUSES:
            return f"{_OS_CAUSES[e.errno]} ({os.strerror(e.errno)})"
    for e in _chain(err):
        text = str(e).lower()
        for needle, cause in _TEXT_CAUSES:
            if needle in text:
                first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                return f"{cause} ({first[:160]})" if first else cause
    return None


def is_storage_fault(err: BaseException) -> bool:
    """An error raised by the storage layer (as opposed to a bug in mnas)."""
    names = {f"{type(e).__module__}.{type(e).__name__}" for e in _chain(err)}
    return (fault_cause(err) is not None or any(isinstance(e, (OSError, sqlite3.Error))
                                                for e in _chain(err))
            or any(n.startswith(("sqlalchemy.", "psycopg", "pymysql.")) or
                   n == "optuna.exceptions.StorageInternalError" for n in names))


def _read_only_folder(url: str) -> str | None:
    """'read-only folder F' when the folder of a file-backed study cannot be written."""
    path = sqlite_path(url) or journal_path(url)
    if path is None or not path.parent.is_dir():
        return None
    folder = path.parent
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        return f"read-only file system ({folder})"
    if not os.access(folder, os.W_OK):
        return f"read-only folder ({folder}: permission denied)"
    return None


def storage_failure(err: BaseException, url: str, doing: str = "failed",
                    kept: int | None = None) -> StudyError:
    """One line for a storage fault: the cause, and that finished trials are kept."""
    cause = _read_only_folder(url) or fault_cause(err)
    if cause is None:
        last = list(_chain(err))[-1]
        text = str(last).strip().splitlines()[0] if str(last).strip() else ""
        cause = f"{type(last).__name__}: {text[:160]}" if text else type(last).__name__
    if doing == "cannot open":
        return StudyError(f"--storage {_safe(url)}: cannot open: {cause}; the study is "
                          f"unchanged (finished trials are kept): fix this and re-run the same "
                          f"command to resume")
    finished = (f"the {kept} finished trials in the study are kept" if kept is not None else
                "finished trials are kept")
    return StudyError(f"storage {_safe(url)}: {doing}: {cause}; {finished}; re-running the "
                      f"same command resumes the study")


# -- the study and its settings ---------------------------------------------------------------
def study_attrs(config: SearchConfig, space: Space, directions) -> dict[str, Any]:
    return {"budget": asdict(config.budget), "objective": config.objective,
            "directions": list(directions), "convention": config.convention,
            "space": space.file, "dimensions": space.fingerprint(), "mnas": __version__}


def open_study(config: SearchConfig, space: Space, directions, storage=None):
    """Create the study or load it, refusing to resume under different settings."""
    import optuna
    storage = storage if storage is not None else open_storage(config.storage)
    try:
        with study_lock(config.storage, config.study, config.out, storage):
            study = optuna.create_study(storage=storage, study_name=config.study,
                                        directions=list(directions), load_if_exists=True)
            want = study_attrs(config, space, directions)
            have = study.user_attrs.get("search")
            if have is None:
                study.set_user_attr("search", want)
                return study
    except StudyError:
        raise
    except Exception as err:
        if not is_storage_fault(err):
            raise
        raise storage_failure(err, config.storage, "cannot open the study") from None
    problem = settings_change(have, want)
    if problem:
        raise StudyError(f"study '{config.study}' ({_safe(config.storage)}) was created with "
                         f"{problem}; use another --study (or the same options) to resume")
    return study


def settings_change(have: dict, want: dict) -> str | None:
    """What differs between the stored settings and these, or None."""
    for key in ("convention", "budget", "objective"):
        if have.get(key) != want[key]:
            return f"another {key}: {_short(have.get(key))}, not {_short(want[key])}"
    old, new = have.get("dimensions") or {}, want["dimensions"]
    if old == new:
        return None
    changes = [f"{k} was {old[k]}, now {new[k]}" for k in new if k in old and old[k] != new[k]]
    changes += [f"{k} is new ({new[k]})" for k in new if k not in old]
    changes += [f"{k} was removed (was {old[k]})" for k in old if k not in new]
    more = f" (and {len(changes) - 2} more)" if len(changes) > 2 else ""
    return "another space: " + "; ".join(changes[:2]) + more


def _short(value: Any) -> str:
    if isinstance(value, dict) and "ops" in value:
        return f"{value.get('name')} (OPs {value.get('ops')}, size {value.get('size_mib')} MiB)"
    text = str(value)
    return text if len(text) < 120 else text[:117] + "..."
