"""Telecom tasks: the 14 MB ``tasks.json`` is read once per process; tasks are validated lazily.

``get_tasks(split="base")`` validates only the 114 base tasks; the raw JSON list and every
validated :class:`Task` are cached (per file path, size and mtime).
"""

import json
import threading
from pathlib import Path
from typing import Any

from agentkit.tau2.data import domain_dir, splits_for
from agentkit.tau2.tasks import Task

__all__ = ["clear_task_cache", "get_splits", "get_tasks"]

_lock = threading.Lock()
# file key -> (task id -> raw task dict, in file order)
_raw: dict[tuple[str, int, int], dict[str, dict[str, Any]]] = {}
# (file key, task id) -> validated task
_parsed: dict[tuple[tuple[str, int, int], str], Task] = {}


def _file_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


def _raw_tasks(path: Path) -> tuple[tuple[str, int, int], dict[str, dict[str, Any]]]:
    key = _file_key(path)
    with _lock:
        cached = _raw.get(key)
    if cached is None:
        with path.open("rb") as fh:
            data = json.loads(fh.read())
        if isinstance(data, dict) and "tasks" in data:
            data = data["tasks"]
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of tasks")
        cached = {}
        for item in data:
            task_id = str(item.get("id")) if isinstance(item, dict) else None
            if task_id is None:
                raise ValueError(f"{path}: every task must be an object with an 'id'")
            if task_id in cached:
                raise ValueError(f"{path}: duplicate task id {task_id!r}")
            cached[task_id] = item
        with _lock:
            _raw[key] = cached
    return key, cached


def _validated(
    key: tuple[str, int, int], raw: dict[str, dict[str, Any]], ids: list[str]
) -> list[Task]:
    out: list[Task] = []
    for task_id in ids:
        task = _parsed.get((key, task_id))
        if task is None:
            task = Task.model_validate(raw[task_id])
            with _lock:
                _parsed[(key, task_id)] = task
        out.append(task)
    return out


def get_splits(data_dir: Path | str | None = None) -> dict[str, list[str]]:
    """Split name -> task ids (``base``: 114 = ``train`` 74 + ``test`` 40; also small/full)."""
    return splits_for(domain_dir("telecom", data_dir) / "split_tasks.json")


def get_tasks(
    data_dir: Path | str | None = None,
    split: str | None = None,
    task_ids: list[str] | None = None,
) -> list[Task]:
    """Telecom tasks in file order, optionally restricted to a split and/or ids.

    Unknown split or task id -> ``ValueError``. Treat the returned tasks as read-only (they are
    shared through the cache).
    """
    key, raw = _raw_tasks(domain_dir("telecom", data_dir) / "tasks.json")
    wanted = list(raw)
    if split is not None:
        splits = get_splits(data_dir)
        if split not in splits:
            known = ", ".join(sorted(splits)) or "none"
            raise ValueError(f"Unknown split {split!r} (known splits: {known})")
        in_split = set(splits[split])
        wanted = [task_id for task_id in wanted if task_id in in_split]
    if task_ids is not None:
        missing = [task_id for task_id in task_ids if task_id not in raw]
        if missing:
            raise ValueError(f"Unknown task id(s): {', '.join(missing)}")
        allowed = set(wanted)
        outside = [task_id for task_id in task_ids if task_id not in allowed]
        if outside:
            raise ValueError(f"Task id(s) not in split {split!r}: {', '.join(outside)}")
        wanted = list(task_ids)  # the caller's order, like select_tasks
    return _validated(key, raw, wanted)


def clear_task_cache() -> None:
    """Forget the cached task file(s)."""
    with _lock:
        _raw.clear()
        _parsed.clear()
