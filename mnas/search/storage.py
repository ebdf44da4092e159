"""Where a study persists: an SQLite file `runs/<study>/study.db` by default (WAL journal, so
several local processes can share it), any Optuna RDB URL (PostgreSQL/MySQL for many
machines), or `journal:PATH` for Optuna's journal file. The resolved budget, the space, the
objective and the convention are stored in the study's user attributes; resuming with other
settings is refused."""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mnas import __version__
from mnas.errors import StudyError
from mnas.search.config import SearchConfig
from mnas.search.space import Space


def _sqlite_creator(path: str) -> Callable[[], Any]:
    def connect():
        import sqlite3
        conn = sqlite3.connect(path, timeout=120, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")      # readers never block the writer
        conn.execute("PRAGMA synchronous=NORMAL")    # durable across process crashes
        return conn
    return connect


def open_storage(url: str):
    """An Optuna storage for `url`: sqlite:///PATH, another SQLAlchemy URL, or journal:PATH."""
    import optuna
    try:
        if url.startswith("journal:"):
            from optuna.storages.journal import JournalFileBackend
            path = Path(url[len("journal:"):].removeprefix("//"))
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///"):]
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.RDBStorage(
                url, engine_kwargs={"creator": _sqlite_creator(path)})
        if "://" not in url:
            raise StudyError(f"--storage: '{url}' is not a storage URL (sqlite:///PATH, "
                             f"postgresql://..., mysql://..., or journal:PATH)")
        return optuna.storages.RDBStorage(url)
    except StudyError:
        raise
    except Exception as err:    # driver missing, unreachable server, bad URL
        raise StudyError(f"--storage {url}: cannot open: {type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}") from None


@contextmanager
def file_lock(path: Path):
    """An exclusive lock shared by the local processes of one study."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def study_attrs(config: SearchConfig, space: Space, directions) -> dict[str, Any]:
    return {"budget": asdict(config.budget), "objective": config.objective,
            "directions": list(directions), "convention": config.convention,
            "space": space.file, "dimensions": space.fingerprint(), "mnas": __version__}


def open_study(config: SearchConfig, space: Space, directions, storage=None):
    """Create the study or load it, refusing to resume under different settings."""
    import optuna
    storage = storage if storage is not None else open_storage(config.storage)
    with file_lock(lock_path(config)):
        study = optuna.create_study(storage=storage, study_name=config.study,
                                    directions=list(directions), load_if_exists=True)
    want = study_attrs(config, space, directions)
    have = study.user_attrs.get("search")
    if have is None:
        study.set_user_attr("search", want)
        return study
    for key in ("budget", "objective", "convention", "dimensions"):
        if have.get(key) != want[key]:
            raise StudyError(f"study '{config.study}' ({config.storage}) was created with "
                             f"another {key}: {_short(have.get(key))}, not {_short(want[key])}; "
                             f"use another --study (or the same options) to resume")
    return study


def _short(value: Any) -> str:
    if isinstance(value, dict) and "ops" in value:
        return f"{value.get('name')} (OPs {value.get('ops')}, size {value.get('size_mib')} MiB)"
    text = str(value)
    return text if len(text) < 120 else text[:117] + "..."


def lock_path(config: SearchConfig) -> Path:
    return Path(config.out) / "search.lock"
