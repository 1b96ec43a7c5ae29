"""Running a tau2 run's attempts as Ray tasks across a Ray cluster (``agentkit[ray]``).

- Each attempt is one Ray task (``max_retries=0``: Ray does not re-run it behind our back).
  The worker simulates and grades it and returns the result; this process stays the single
  writer of the results file.
- At most ``config.concurrency`` attempts are in flight cluster-wide; per-provider caps
  (``config.provider_limits``) are held by one Ray actor, so they hold across every node.
  A lease is released by the worker when the attempt ends, and by this process when the
  attempt is lost.
- A lost attempt (its worker or node died, its result object was lost) is submitted again,
  up to ``lost_retries`` times, then recorded as an infrastructure error. Only an attempt that
  returned is recorded, so nothing is graded twice.

The job (run configuration, tasks) is shipped once with ``ray.put``; its models must pickle
(``OpenAICompatModel`` does until first used; the CLI builds fresh ones).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import anyio

from .executor import Attempt, Job, ResultSink, infrastructure_error, run_attempt
from .simulation import SimulationResult

__all__ = ["RayExecutor"]

_JOBS: dict[str, Job] = {}  # per worker process: the unpickled job, with its caches


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RuntimeError("--executor ray needs Ray: pip install 'agentkit[ray]'") from None
    return ray


class _Gate:
    """Per-provider slots, cluster-wide (runs as an async Ray actor)."""

    def __init__(self, caps: dict[str, int]) -> None:
        self.caps = dict(caps)
        self.held: dict[str, list[str]] = {}
        self.in_use = dict.fromkeys(caps, 0)
        self.peak = dict.fromkeys(caps, 0)
        self.changed = asyncio.Condition()

    async def acquire(self, holder: str, providers: list[str]) -> None:
        wanted = [p for p in providers if p in self.caps]
        async with self.changed:
            await self.changed.wait_for(
                lambda: all(self.in_use[p] < self.caps[p] for p in wanted))
            for p in wanted:
                self.in_use[p] += 1
                self.peak[p] = max(self.peak[p], self.in_use[p])
            self.held[holder] = wanted

    async def release(self, holder: str) -> bool:
        async with self.changed:
            wanted = self.held.pop(holder, None)
            if wanted is None:
                return False
            for p in wanted:
                self.in_use[p] -= 1
            self.changed.notify_all()
            return True

    async def stats(self) -> dict[str, dict[str, int]]:
        return {"in_use": dict(self.in_use), "peak": dict(self.peak)}


def _run_remote(job_key: str, job_blob: bytes, attempt: Attempt, gate: Any,
                holder: str) -> dict[str, Any]:
    """The Ray task: one attempt in this worker (a fresh event loop per attempt)."""
    job = _JOBS.get(job_key)
    if job is None:
        from ray import cloudpickle

        while len(_JOBS) >= 4:  # keep the few latest runs' jobs (and their caches)
            _JOBS.pop(next(iter(_JOBS)))
        job = _JOBS[job_key] = cloudpickle.loads(job_blob)

    async def main() -> SimulationResult:
        if gate is not None:
            await gate.acquire.remote(holder, job.providers())
        try:
            return await run_attempt(job, attempt)
        finally:
            if gate is not None:
                await gate.release.remote(holder)

    return anyio.run(main).model_dump(mode="json")


def _wait(ray: Any, refs: list[Any], timeout: float) -> list[Any]:
    ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
    return list(ready)


class RayExecutor:
    """Attempts as Ray tasks on the cluster at ``address`` (None: ``$RAY_ADDRESS``, or a new
    local cluster). ``task_cpus``: the CPU share one attempt reserves (attempts mostly wait
    on model servers). ``lost_retries``: re-runs of an attempt whose worker was lost."""

    def __init__(self, address: str | None = None, *, task_cpus: float = 0.25,
                 lost_retries: int = 1, poll: float = 0.5) -> None:
        self.address = address
        self.task_cpus = task_cpus
        self.lost_retries = max(0, lost_retries)
        self.poll = poll
        self.lost: list[tuple[tuple[str, str, int], str]] = []  # (key, error), for reports
        self.gate_stats: dict[str, dict[str, int]] | None = None

    def _connect(self) -> Any:
        address = self.address or os.environ.get("RAY_ADDRESS")
        if not address:  # a new local cluster: bound to loopback, not the machine's address
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        ray = _ray()
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            else:
                ray.init(log_to_driver=False, include_dashboard=False,
                         configure_logging=False)
        return ray

    async def run(self, job: Job, attempts: Sequence[Attempt], on_result: ResultSink) -> None:
        if not attempts:
            return
        from ray import cloudpickle

        ray = await anyio.to_thread.run_sync(self._connect)
        remote = ray.remote(max_retries=0, num_cpus=self.task_cpus)(_run_remote)
        caps = {p: n for p, n in job.config.provider_limits.items() if p in job.providers()}
        gate = ray.remote(_Gate).options(max_concurrency=1000).remote(caps) if caps else None
        job_key = f"{id(job)}-{time.time_ns()}"
        blob = ray.put(cloudpickle.dumps(job))
        queue = list(attempts)
        lost_count: dict[tuple[str, str, int], int] = {}
        pending: dict[Any, tuple[Attempt, str]] = {}
        started = {a.key: datetime.now(timezone.utc).isoformat() for a in attempts}
        serial = 0

        def submit(attempt: Attempt) -> None:
            nonlocal serial
            serial += 1
            holder = f"{attempt.domain}/{attempt.task_id}#{attempt.trial}@{serial}"
            pending[remote.remote(job_key, blob, attempt, gate, holder)] = (attempt, holder)

        try:
            while queue or pending:
                while queue and len(pending) < job.config.concurrency:
                    submit(queue.pop(0))
                ready = await anyio.to_thread.run_sync(_wait, ray, list(pending), self.poll)
                for ref in ready:
                    attempt, holder = pending.pop(ref)
                    try:
                        data = await anyio.to_thread.run_sync(ray.get, ref)
                    except Exception as exc:  # lost: worker/node died, object lost, ...
                        if gate is not None:
                            await anyio.to_thread.run_sync(
                                ray.get, gate.release.remote(holder))
                        error = f"{type(exc).__name__}: {str(exc)[:500]}"
                        self.lost.append((attempt.key, error))
                        n = lost_count[attempt.key] = lost_count.get(attempt.key, 0) + 1
                        if n <= self.lost_retries:
                            queue.insert(0, attempt)
                        else:
                            await on_result(infrastructure_error(
                                attempt, [f"attempt lost {n} time(s); last: {error}"],
                                started[attempt.key], attempts=n))
                        continue
                    await on_result(SimulationResult.model_validate(data))
        finally:
            if pending:
                for ref in pending:
                    ray.cancel(ref, force=True)
            if gate is not None:
                self.gate_stats = await anyio.to_thread.run_sync(ray.get, gate.stats.remote())
                ray.kill(gate)
