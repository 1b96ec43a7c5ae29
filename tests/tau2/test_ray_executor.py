"""The Ray executor on a real local two-node Ray cluster (a head node and a second node, all
on 127.0.0.1), scripted agent and user over loopback model servers (real HTTP), the
mock domain's real environments and grading.

The cluster is started by this module and shut down by it (only the processes it started;
never ``ray stop``, which would end every Ray on the machine). It never skips: without Ray
these tests fail.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentkit.models import OpenAICompatModel
from agentkit.tau2.executor import Attempt, Job
from agentkit.tau2.ray_executor import RayExecutor
from agentkit.tau2.runner import RunConfig, run_benchmark
from agentkit.tau2.scripted import scripted_agent, scripted_user
from agentkit.tau2.simulation import SimulationResult, TerminationReason
from agentkit.testing import LoopbackServer, Step

pytestmark = pytest.mark.anyio

TASKS = ["create_task_1", "update_task_1", "create_task_1_with_env_assertions"]
RAY = str(Path(sys.executable).with_name("ray"))
LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _ancestors(pid: int) -> set[int]:
    out: set[int] = set()
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        out.add(pid)
    return out


class RayCluster:
    """A real two-node Ray cluster on this machine (Ray's ``cluster_utils.Cluster``: a head
    node and a second node, each its own GCS/raylet processes), all on 127.0.0.1."""

    def __init__(self) -> None:
        # single-machine mode: every Ray process binds to and dials 127.0.0.1 only (else
        # Ray swaps 127.0.0.1 for the machine's own network address)
        os.environ[LOOPBACK_ONLY] = "0"
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
        os.environ.pop("RAY_ADDRESS", None)
        import ray
        from ray.cluster_utils import Cluster

        self.cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 2, "include_dashboard": False, "node_ip_address": "127.0.0.1"})
        try:
            self.cluster.add_node(num_cpus=2, node_ip_address="127.0.0.1")
            self.cluster.wait_for_nodes()
            self.address = self.cluster.address
            ray.init(address=self.address, log_to_driver=False, configure_logging=False)
            assert sum(1 for node in ray.nodes() if node["Alive"]) == 2
            assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
        except BaseException:
            self.stop()
            raise

    def worker_pids(self) -> list[int]:
        """This cluster's workers running an attempt right now (they descend from us)."""
        me = os.getpid()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(b"ray::_run_remote") and me in _ancestors(int(entry.name)):
                pids.append(int(entry.name))
        return pids

    def stop(self) -> None:
        import ray

        ray.shutdown()
        self.cluster.shutdown()  # ends the processes it started
        os.environ.pop(LOOPBACK_ONLY, None)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    c = RayCluster()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    with LoopbackServer(responder=scripted_agent) as agent_srv, \
            LoopbackServer(responder=scripted_user) as user_srv:
        yield agent_srv, user_srv


def config(servers: tuple[LoopbackServer, LoopbackServer], **kw: Any) -> RunConfig:
    agent_srv, user_srv = servers
    base: dict[str, Any] = {
        "domain": "mock",
        "agent_model": OpenAICompatModel("qwen3-max", base_url=agent_srv.base_url,
                                         api_key="k"),
        "user_model": OpenAICompatModel("qwen3-max", base_url=user_srv.base_url, api_key="k"),
        "trials": 2, "task_ids": TASKS, "concurrency": 4, "progress": False, "max_retries": 0}
    base.update(kw)
    return RunConfig(**base)


def comparable(sim: SimulationResult) -> dict[str, Any]:
    """What must not depend on where a simulation ran (no ids, times or durations)."""
    def message(m: Any) -> dict[str, Any]:
        return {"role": m.role, "content": m.content, "error": m.error,
                "calls": [(c.name, c.arguments) for c in m.tool_calls or []]}

    info = dict(sim.reward_info or {})
    return {"reason": sim.termination_reason, "seed": sim.seed, "reward": sim.reward,
            "breakdown": info.get("reward_breakdown"), "db": info.get("db_check"),
            "messages": [message(m) for m in sim.messages], "steps": sim.steps}


async def test_ray_results_equal_a_local_run_with_the_same_seeds(
        cluster: RayCluster, servers: tuple[LoopbackServer, LoopbackServer],
        tmp_path: Path) -> None:
    local = await run_benchmark(config(servers), tmp_path / "local.json")
    executor = RayExecutor(cluster.address)
    remote = await run_benchmark(
        config(servers, provider_limits={servers[0].base_url.split("/")[2]: 2}),
        tmp_path / "ray.json", executor=executor)
    by_key = {(s.task_id, s.trial): comparable(s) for s in local.simulations}
    assert len(by_key) == len(TASKS) * 2
    assert {(s.task_id, s.trial): comparable(s) for s in remote.simulations} == by_key
    assert {s.reward for s in remote.simulations} == {0.0, 1.0}
    # the per-provider cap was held cluster-wide: never more than 2 at once
    assert executor.gate_stats is not None
    assert max(executor.gate_stats["peak"].values()) <= 2
    assert executor.lost == []
    # the same results file: resuming it with the local executor has nothing left to do
    again = await run_benchmark(config(servers), tmp_path / "ray.json")
    assert len(again.simulations) == len(TASKS) * 2


async def test_a_worker_killed_mid_run_reruns_its_attempts_once(cluster: RayCluster) -> None:
    killed: list[int] = []

    def killing_agent(body: dict[str, Any]) -> Step:
        # the first time any conversation gets here, end every worker running an attempt
        if not killed:
            killed.extend(cluster.worker_pids())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
        return scripted_agent(body)

    with LoopbackServer(responder=killing_agent) as agent_srv, \
            LoopbackServer(responder=scripted_user) as user_srv:
        cfg = config((agent_srv, user_srv), trials=1, concurrency=2)
        job = Job(config=cfg, tasks={t.id: t for t in _tasks()})
        attempts = [Attempt("mock", t, 0, 7) for t in TASKS]
        delivered: list[SimulationResult] = []

        async def on_result(sim: SimulationResult) -> None:
            delivered.append(sim)

        executor = RayExecutor(cluster.address, lost_retries=1)
        await executor.run(job, attempts, on_result)
    assert killed, "no worker was running an attempt"
    lost_keys = [key for key, _ in executor.lost]
    assert lost_keys and len(lost_keys) == len(set(lost_keys)) <= len(killed)  # once each
    # every attempt delivered exactly once, graded once, none an infrastructure error
    assert sorted(s.task_id for s in delivered) == sorted(TASKS)
    assert all(s.termination_reason == TerminationReason.USER_STOP for s in delivered)
    assert all(s.attempts == 1 and s.reward_info is not None for s in delivered)


def _tasks() -> list[Any]:
    from agentkit.tau2.registry import get_domain

    return get_domain("mock").load_tasks(task_ids=TASKS)
