"""Benchmark: scripted tau2 simulations per minute, local executor vs Ray executor.

Each simulation is a whole mock-domain conversation (greeting, the scripted customer's
request, the scripted agent's ``create_task`` call on the real environment, its confirmation,
the customer's stop) with real grading (DB replay + hashes, COMMUNICATE, ACTION). Agent and
customer are ``agentkit.tau2.scripted`` responders behind two loopback OpenAI-compatible
servers, each in its own process (real HTTP and SSE, through the real ``openai`` client).

Runs, in one process: the local executor at 1, 8 and 64 concurrent simulations, then the Ray
executor (64 in flight) on a local two-node Ray cluster (Ray's ``cluster_utils.Cluster``, all
on 127.0.0.1). Reported: simulations per minute, CPU seconds per simulation (this process and
its children: Ray workers, the two model servers counted apart), and, for the local run at 8,
a profile of where this process's time goes.

Usage: .venv/bin/python benchmarks/tau2_throughput.py [--sims 64] [--no-ray] [--no-profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from agentkit.models import OpenAICompatModel
from agentkit.tau2.registry import get_domain
from agentkit.tau2.runner import RunConfig, run_benchmark
from agentkit.testing import LoopbackServer

TICK = os.sysconf("SC_CLK_TCK")
# Ray in single-machine mode: every Ray process binds to and dials 127.0.0.1 only (read when
# ray is first imported, so set before that)
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds incl. reaped children) of a live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return int(fields[1]), (utime + stime + cutime + cstime) / TICK


def tree_cpu(root: int, exclude: set[int]) -> float:
    """CPU seconds of ``root`` and its descendants (``exclude``: subtrees left out)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                stats[int(entry.name)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in exclude or pid not in stats:
            continue
        total += stats[pid][1]
        todo.extend(children.get(pid, []))
    return total


def config(agent: LoopbackServer, user: LoopbackServer, sims: int,
           concurrency: int) -> RunConfig:
    tasks = [t.id for t in get_domain("mock").load_tasks()]
    trials = max(1, -(-sims // len(tasks)))
    return RunConfig(
        domain="mock",
        agent_model=OpenAICompatModel("qwen3-max", base_url=agent.base_url, api_key="k"),
        user_model=OpenAICompatModel("qwen3-max", base_url=user.base_url, api_key="k"),
        trials=trials, task_ids=tasks, concurrency=concurrency, progress=False,
        max_retries=0, llm_free=True)


def measure(label: str, agent: LoopbackServer, user: LoopbackServer, sims: int,
            concurrency: int, executor: Any = None,
            profile: cProfile.Profile | None = None) -> dict[str, Any]:
    servers = {s._runner._proc.pid for s in (agent, user)}  # type: ignore[union-attr]
    me = os.getpid()
    cpu0, srv0 = tree_cpu(me, servers), sum(tree_cpu(p, set()) for p in servers)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config(agent, user, sims, concurrency)
        start = time.perf_counter()
        if profile is not None:
            profile.enable()

        async def run() -> Any:
            try:
                return await run_benchmark(cfg, Path(tmp) / "r.json", executor=executor)
            finally:
                for model in (cfg.agent_model, cfg.user_model):
                    await model.aclose()  # type: ignore[union-attr]

        results = anyio.run(run)
        if profile is not None:
            profile.disable()
        wall = time.perf_counter() - start
    cpu1, srv1 = tree_cpu(me, servers), sum(tree_cpu(p, set()) for p in servers)
    n = len(results.simulations)
    ok = sum(1 for s in results.simulations if s.reward is not None)
    row: dict[str, Any] = {
        "label": label, "sims": n, "graded": ok, "wall": wall, "per_min": n / wall * 60,
        "cpu_per_sim": (cpu1 - cpu0) / n, "server_cpu_per_sim": (srv1 - srv0) / n}
    print(f"{label:<22} {n:>5} sims  {wall:7.2f} s  {row['per_min']:8.1f} sims/min  "
          f"CPU/sim {row['cpu_per_sim'] * 1000:7.1f} ms (+ model servers "
          f"{row['server_cpu_per_sim'] * 1000:5.1f} ms)", flush=True)
    return row


def where_time_goes(profile: cProfile.Profile) -> None:
    stats = pstats.Stats(profile)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in entries.values())  # tottime over all functions
    buckets = {
        "grading (DB replay, hashes, checks)": ("agentkit/tau2/grading.py",
                                                "agentkit/tau2/cow.py"),
        "tau2 environments and tools": ("agentkit/tau2/environment.py",
                                        "agentkit/tau2/toolkit.py",
                                        "agentkit/tau2/domains/"),
        "agentkit loop, wire parsing, orchestrator": (
            "agentkit/loop.py", "agentkit/wire/", "agentkit/models/",
            "agentkit/tau2/orchestrator.py", "agentkit/tau2/participants.py"),
        "openai client + httpx (HTTP, SSE)": ("/openai/", "/httpx/", "/httpcore/", "/h11/"),
        "pydantic (validation, dumps)": ("/pydantic/", "/pydantic_core/"),
        "results file (JSON, atomic write)": ("agentkit/tau2/results.py",
                                              "agentkit/tau2/tau2format.py", "json/"),
        "asyncio / anyio / threads": ("/asyncio/", "/anyio/", "threading.py", "selectors.py"),
    }
    sums = dict.fromkeys(buckets, 0.0)
    other = 0.0
    for (filename, _, _), v in entries.items():
        for name, needles in buckets.items():
            if any(n in filename for n in needles):
                sums[name] += v[2]
                break
        else:
            other += v[2]
    print(f"\nwhere this process's time goes (local, 8 concurrent; own time of "
          f"{total:.2f} s profiled):")
    for name, t in sorted(sums.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<44} {t:6.2f} s  {100 * t / total:5.1f} %")
    print(f"  {'other (builtins, below)':<44} {other:6.2f} s  {100 * other / total:5.1f} %")
    builtins = sorted(((v[2], f"{fn}:{name}") for (fn, _, name), v in entries.items()
                       if fn == "~"), reverse=True)[:6]
    for t, name in builtins:
        print(f"    {name[:60]:<60} {t:6.2f} s")


def ray_cluster() -> Any:
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "include_dashboard": False, "node_ip_address": "127.0.0.1"})
    cluster.add_node(num_cpus=2, node_ip_address="127.0.0.1")
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sims", type=int, default=64, help="simulations per run")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    agent = LoopbackServer(responder="agentkit.tau2.scripted:scripted_agent", process=True,
                           record=False)
    user = LoopbackServer(responder="agentkit.tau2.scripted:scripted_user", process=True,
                          record=False)
    with agent, user:
        measure("warm-up (local, 8)", agent, user, 8, 8)
        rows: list[dict[str, Any]] = [measure("local, 1 concurrent", agent, user, args.sims, 1)]
        profile = None if args.no_profile else cProfile.Profile()
        rows.append(measure("local, 8 concurrent", agent, user, args.sims, 8, profile=profile))
        rows.append(measure("local, 64 concurrent", agent, user, args.sims, 64))
        if not args.no_ray:
            import ray

            from agentkit.tau2.ray_executor import RayExecutor

            cluster = ray_cluster()
            try:
                ex = RayExecutor(cluster.address, task_cpus=0.25)
                measure("ray warm-up (2 nodes)", agent, user, 16, 16, executor=ex)
                rows.append(measure("ray, 2 nodes, 64", agent, user, args.sims, 64,
                                    executor=RayExecutor(cluster.address, task_cpus=0.25)))
            finally:
                ray.shutdown()
                cluster.shutdown()
        base = rows[0]["per_min"]
        print("\nthroughput relative to local, 1 concurrent (same run):")
        for r in rows:
            print(f"  {r['label']:<22} x{r['per_min'] / base:5.2f}")
        if profile is not None:
            where_time_goes(profile)


if __name__ == "__main__":
    main()
