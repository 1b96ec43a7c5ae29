"""Locating the tau2 data directory, and caches of parsed pristine DBs and task files.

Resolution order for the data directory: explicit argument > ``$TAU2_DATA_DIR`` >
``../shared/tau2/data`` next to the repository (a development convenience). The directory is
the one holding ``tau2/domains/<domain>/`` (tau2's own ``DATA_DIR`` layout).

Pristine DBs are validated once per (model class, file) and kept; every environment gets its
own cheap copy-on-write copy (:func:`fresh_db`, :mod:`agentkit.tau2.cow`), so the 7 MB airline
DB is neither parsed nor deep-copied again per task.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TypeVar

from .cow import cow_copy
from .tasks import Task, load_splits, load_tasks_file
from .toolkit import DB, load_data_file

__all__ = [
    "DataDirError",
    "clear_caches",
    "domain_dir",
    "fresh_db",
    "pristine_db",
    "read_text",
    "resolve_data_dir",
    "splits_for",
    "tasks_for",
]

DBT = TypeVar("DBT", bound=DB)

_REPO_ROOT = Path(__file__).resolve().parents[2]
_DEV_DATA_DIR = _REPO_ROOT.parent / "shared" / "tau2" / "data"


class DataDirError(FileNotFoundError):
    """The tau2 data directory (or a file in it) could not be found."""


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The tau2 data directory to use (see module docstring for the order)."""
    if data_dir is not None:
        candidate = Path(data_dir).expanduser()
        source = "--data-dir"
    elif os.environ.get("TAU2_DATA_DIR"):
        candidate = Path(os.environ["TAU2_DATA_DIR"]).expanduser()
        source = "$TAU2_DATA_DIR"
    else:
        candidate = _DEV_DATA_DIR
        source = "default"
    candidate = candidate.resolve()
    if (candidate / "tau2" / "domains").is_dir():
        return candidate
    if candidate.name == "tau2" and (candidate / "domains").is_dir():
        return candidate.parent
    raise DataDirError(
        f"tau2 data directory not found ({source}: {candidate}); it must contain "
        "tau2/domains/<domain>/. Pass --data-dir or set $TAU2_DATA_DIR."
    )


def domain_dir(domain: str, data_dir: str | Path | None = None) -> Path:
    """``<data_dir>/tau2/domains/<domain>``, checked to exist."""
    path = resolve_data_dir(data_dir) / "tau2" / "domains" / domain
    if not path.is_dir():
        raise DataDirError(f"No data for domain {domain!r} at {path}")
    return path


def _require_file(path: Path) -> Path:
    if not path.is_file():
        raise DataDirError(f"Missing tau2 data file: {path}")
    return path


_lock = threading.Lock()
_db_cache: dict[tuple[type[DB], Path, int, int], DB] = {}
_tasks_cache: dict[tuple[Path, int, int], list[Task]] = {}
_text_cache: dict[tuple[Path, int, int], str] = {}


def _key(path: Path) -> tuple[Path, int, int]:
    st = _require_file(path).stat()
    return (path.resolve(), st.st_mtime_ns, st.st_size)


def pristine_db(cls: type[DBT], path: str | Path) -> DBT:
    """The validated DB at ``path``, parsed once and cached. Never mutate the result."""
    fkey = _key(Path(path))
    key = (cls, *fkey)
    with _lock:
        cached = _db_cache.get(key)
    if cached is None:
        cached = cls.model_validate(load_data_file(fkey[0]))
        with _lock:
            _db_cache[key] = cached
    return cached  # type: ignore[return-value]


def fresh_db(cls: type[DBT], path: str | Path) -> DBT:
    """A private, mutable copy of the pristine DB at ``path`` (copy-on-write, see ``cow``)."""
    return cow_copy(pristine_db(cls, path))


def tasks_for(path: str | Path) -> list[Task]:
    """Parsed tasks of a ``tasks.json`` file (cached; treat the objects as read-only)."""
    key = _key(Path(path))
    with _lock:
        cached = _tasks_cache.get(key)
    if cached is None:
        cached = load_tasks_file(key[0])
        with _lock:
            _tasks_cache[key] = cached
    return list(cached)


def splits_for(path: str | Path) -> dict[str, list[str]]:
    """Split name -> task ids from ``split_tasks.json`` ({} when the file is absent)."""
    return load_splits(path)


def read_text(path: str | Path) -> str:
    """Text of a policy file (cached)."""
    key = _key(Path(path))
    with _lock:
        cached = _text_cache.get(key)
    if cached is None:
        cached = key[0].read_text(encoding="utf-8")
        with _lock:
            _text_cache[key] = cached
    return cached


def clear_caches() -> None:
    """Drop all cached DBs, tasks and texts."""
    with _lock:
        _db_cache.clear()
        _tasks_cache.clear()
        _text_cache.clear()

