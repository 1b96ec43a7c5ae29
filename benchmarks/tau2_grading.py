"""Benchmark: tau2 domain load time and DB-check grading time of every task's gold replay.

For each domain: time to load (parse + validate the pristine DB, tasks, policy), then for every
task the work of the DB check — two fresh environments from the cached pristine DB (gold and
predicted), the task's initial state applied to each, the gold actions run on the first and their
state-mutating subset replayed on the second, and both environments hashed (agent + user DB).

Baselines measured in the same run (on the first ``--baseline-tasks`` tasks):
- ``validate``: every env gets ``model_validate`` of a cached plain dict of the pristine DB, and
  hashes dump the whole DB (the straightforward way);
- the DB-copy strategies alone: ``model_copy(deep=True)``, ``copy.deepcopy``, ``model_validate``
  of a cached dict, and the copy-on-write copy used by agentkit.

Usage: .venv/bin/python benchmarks/tau2_grading.py [--domains airline retail] [--data-dir D]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentkit.tau2 import data as tau2_data
from agentkit.tau2.cow import cow_copy
from agentkit.tau2.environment import Environment
from agentkit.tau2.registry import get_domain
from agentkit.tau2.replay import apply_initial_state
from agentkit.tau2.tasks import Task
from agentkit.tau2.toolkit import DB, dict_hash


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _grade_task(
    make_env: Callable[[], Environment], task: Task, hash_fn: Callable[[Any], str]
) -> None:
    """The DB check's work for one task (gold env vs predicted env)."""
    hashes = []
    for only_writes in (False, True):
        env = make_env()
        apply_initial_state(env, task)
        for action in task.gold_actions:
            if only_writes and not env.is_mutating_tool(action.name):
                continue
            try:
                env.make_tool_call(action.name, requestor=action.requestor, **action.arguments)
            except Exception:  # gold actions may fail on purpose (retail)
                pass
        hashes.append(hash_fn(env.tools.db))
        if env.user_tools is not None and env.user_tools.db is not None:
            hashes.append(hash_fn(env.user_tools.db))
    del hashes


def _full_hash(db: Any) -> str:
    return dict_hash(db.model_dump())


def _swap_db_factory(spec: Any, data_dir: Path | None) -> Callable[[], Environment]:
    """Environments whose agent/user DBs are ``model_validate``-d from cached plain dicts."""
    template = spec.build_env(data_dir)
    agent_cls = type(template.tools.db)
    agent_raw = template.tools.db.model_dump()
    user_raw = None
    if template.user_tools is not None and template.user_tools.db is not None:
        user_cls = type(template.user_tools.db)
        user_raw = template.user_tools.db.model_dump()

    def make() -> Environment:
        env = spec.build_env(data_dir)
        env.tools.db = agent_cls.model_validate(agent_raw)
        if user_raw is not None and env.user_tools is not None:
            env.user_tools.db = user_cls.model_validate(user_raw)
        return env

    return make


def _copy_strategies(db: DB, repeat: int) -> dict[str, float]:
    raw = db.model_dump()
    strategies: dict[str, Callable[[], Any]] = {
        "model_copy(deep=True)": lambda: db.model_copy(deep=True),
        "copy.deepcopy": lambda: copy.deepcopy(db),
        "model_validate(cached dict)": lambda: type(db).model_validate(raw),
        "copy-on-write (agentkit)": lambda: cow_copy(db),
    }
    return {
        name: statistics.median(_timed(fn)[0] for _ in range(repeat))
        for name, fn in strategies.items()
    }


def bench_domain(
    name: str, data_dir: Path | None, split: str | None, baseline_tasks: int, repeat: int
) -> None:
    spec = get_domain(name)
    tau2_data.clear_caches()
    load_s, env = _timed(lambda: spec.build_env(data_dir))
    tasks_s, tasks = _timed(lambda: spec.load_tasks(data_dir, split=split))
    print(f"\n== {name}: {len(tasks)} tasks")
    print(f"load (parse+validate DB, first env): {load_s * 1000:8.1f} ms")
    print(f"load tasks:                          {tasks_s * 1000:8.1f} ms")

    pristine = type(env.tools.db)
    db_files = {"airline": "db.json", "retail": "db.json", "mock": "db.json"}
    if name in db_files:
        path = tau2_data.domain_dir(name, data_dir) / db_files[name]
        cached = tau2_data.pristine_db(pristine, path)
        copies = _copy_strategies(cached, repeat)
        base = copies["model_validate(cached dict)"]
        print("DB copy per environment (median):")
        for label, secs in copies.items():
            print(f"  {label:<28} {secs * 1000:8.2f} ms   x{base / secs:7.1f} vs model_validate")

    per_task: list[float] = []
    total_start = time.perf_counter()
    for task in tasks:
        secs, _ = _timed(lambda t=task: _grade_task(lambda: spec.build_env(data_dir), t, _hash))
        per_task.append(secs)
    total = time.perf_counter() - total_start
    print(
        f"grade all {len(tasks)} tasks (agentkit): {total:8.2f} s total, "
        f"mean {statistics.mean(per_task) * 1000:.1f} ms, max {max(per_task) * 1000:.1f} ms"
    )

    subset = tasks[:baseline_tasks]
    if subset:
        make_slow = _swap_db_factory(spec, data_dir)
        slow = [_timed(lambda t=t: _grade_task(make_slow, t, _full_hash))[0] for t in subset]
        fast = per_task[: len(subset)]
        print(
            f"baseline (model_validate + full hash) on {len(subset)} tasks: "
            f"mean {statistics.mean(slow) * 1000:.1f} ms/task vs {statistics.mean(fast) * 1000:.1f}"
            f" ms/task -> x{statistics.mean(slow) / statistics.mean(fast):.1f} faster; "
            f"projected all tasks {statistics.mean(slow) * len(tasks):.1f} s"
        )


def _hash(db: Any) -> str:
    return str(db.get_hash()) if isinstance(db, DB) else _full_hash(db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--domains", nargs="+", default=["airline", "retail", "mock", "telecom"])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--split", default="base", help="task split to grade (default: base)")
    parser.add_argument("--baseline-tasks", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5, help="repeats of the copy timings")
    args = parser.parse_args()
    for name in args.domains:
        try:
            bench_domain(name, args.data_dir, args.split, args.baseline_tasks, args.repeat)
        except (ImportError, FileNotFoundError) as exc:
            print(f"\n== {name}: skipped ({exc})")


if __name__ == "__main__":
    main()
