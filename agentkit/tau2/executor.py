"""Executors: where the attempts of a tau2 run execute.

The unit of work is one :class:`Attempt` at (domain, task, trial, seed): simulate the
conversation, grade it, retry the whole simulation on infrastructure errors (as tau2-bench
does), and return one :class:`SimulationResult`. An executor runs attempts and hands each
result to ``on_result`` in the caller's event loop, which is the single writer of the results
file; resume is by key (domain, task, trial).

- :class:`LocalExecutor` (the default): asyncio concurrency in this process.
- :class:`agentkit.tau2.ray_executor.RayExecutor`: Ray tasks across a Ray cluster, with
  per-provider caps held cluster-wide and lost attempts re-run.

Per-provider caps (``RunConfig.provider_limits``, e.g. ``{"127.0.0.1:8000": 4}``) bound the
simulations running at once against one provider; a simulation holds one slot of each
distinct provider its models use (see :func:`provider_of`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

import anyio

from .simulation import SimulationResult, TerminationReason

if TYPE_CHECKING:
    from .grading import EnvFactory, GoldCache
    from .judge import NLJudge
    from .runner import EventSink, RunConfig
    from .tasks import Task

__all__ = [
    "Attempt",
    "Executor",
    "Job",
    "LocalExecutor",
    "ResultSink",
    "infrastructure_error",
    "provider_of",
    "run_attempt",
]

ResultSink = Callable[[SimulationResult], Awaitable[None]]
"""Receives each finished attempt (in the caller's event loop: the single writer)."""


@dataclass(frozen=True)
class Attempt:
    """One attempt at (domain, task, trial) with the trial's seed."""

    domain: str
    task_id: str
    trial: int
    seed: int | None

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.domain, self.task_id, self.trial)


def provider_of(model: Any) -> str:
    """The provider a model talks to: its server's ``host:port``, else the model's name."""
    base_url = getattr(model, "base_url", None)
    if isinstance(base_url, str) and base_url:
        return urlparse(base_url).netloc or base_url
    return str(getattr(model, "name", model))


@dataclass
class Job:
    """Everything an attempt needs; picklable (models unused so far) for remote executors.

    The judge and the gold-hash cache are built lazily, once per process.
    """

    config: RunConfig
    tasks: dict[str, Task]
    env_factory: EnvFactory | None = None
    _judge: NLJudge | None = field(default=None, repr=False)
    _gold_cache: GoldCache = field(default_factory=dict, repr=False)
    _factory: EnvFactory | None = field(default=None, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_judge=None, _gold_cache={}, _factory=None)
        return state

    def factory(self) -> EnvFactory:
        if self._factory is None:
            from .runner import env_factory_for

            cfg = self.config
            self._factory = self.env_factory or env_factory_for(cfg.domain, cfg.data_dir,
                                                                **cfg.env_options)
        return self._factory

    def judge(self) -> NLJudge | None:
        from .runner import _as_model, needs_judge

        cfg = self.config
        if self._judge is None and cfg.judge_model is not None and needs_judge(
                list(self.tasks.values()), cfg.llm_free):
            from .judge import NLJudge

            self._judge = NLJudge(_as_model(cfg.judge_model), strict=cfg.strict_judge)
        return self._judge

    def providers(self) -> list[str]:
        """The distinct providers of the run's models (agent, user, judge)."""
        cfg = self.config
        models = [m for m in (cfg.agent_model, cfg.user_model, cfg.judge_model) if m is not None]
        return sorted({provider_of(m) for m in models})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def infrastructure_error(attempt: Attempt, errors: list[str], started: str,
                         attempts: int | None = None) -> SimulationResult:
    """The record of an attempt that never produced a gradable conversation."""
    n = len(errors) if attempts is None else attempts
    return SimulationResult(
        id=uuid.uuid4().hex, task_id=attempt.task_id, domain=attempt.domain,
        trial=attempt.trial, seed=attempt.seed,
        termination_reason=TerminationReason.INFRASTRUCTURE_ERROR, attempts=n,
        error=errors[-1] if errors else None, start_time=started, end_time=_now(),
        reward_info={"reward": 0.0, "info": {
            "errors": errors,
            "note": f"infrastructure error after {n} attempt(s): not graded, "
                    "excluded from pass^k"}})


async def run_attempt(job: Job, attempt: Attempt,
                      on_event: EventSink | None = None) -> SimulationResult:
    """Simulate and grade one attempt, retried whole on any failure (never raises)."""
    from .runner import run_simulation

    config = job.config
    task = job.tasks[attempt.task_id]
    errors: list[str] = []
    started = _now()
    for _ in range(config.max_retries + 1):
        try:
            sim = await run_simulation(task, config, trial=attempt.trial, seed=attempt.seed,
                                       env_factory=job.factory(), judge=job.judge(),
                                       gold_cache=job._gold_cache, on_event=on_event)
        except Exception as exc:  # any failure of the simulation is retried whole, as in tau2
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        sim.attempts = len(errors) + 1
        if errors:
            sim.error = f"succeeded after {len(errors)} failed attempt(s); last: {errors[-1]}"
        return sim
    return infrastructure_error(attempt, errors, started)


class Executor(Protocol):
    """Runs attempts; calls ``on_result`` exactly once per attempt, in the caller's loop."""

    async def run(self, job: Job, attempts: Sequence[Attempt], on_result: ResultSink) -> None:
        ...


class LocalExecutor:
    """asyncio concurrency in this process: ``config.concurrency`` attempts at once, and at
    most ``config.provider_limits[p]`` against provider ``p``."""

    def __init__(self, on_event: EventSink | None = None) -> None:
        self.on_event = on_event

    async def run(self, job: Job, attempts: Sequence[Attempt], on_result: ResultSink) -> None:
        limiter = anyio.CapacityLimiter(job.config.concurrency)
        caps = {p: anyio.CapacityLimiter(n) for p, n in job.config.provider_limits.items()}
        gates = [caps[p] for p in job.providers() if p in caps]

        async def one(attempt: Attempt) -> None:
            async with limiter:
                for gate in gates:
                    await gate.acquire()
                try:
                    sim = await run_attempt(job, attempt, self.on_event)
                finally:
                    for gate in reversed(gates):
                        gate.release()
            await on_result(sim)

        async with anyio.create_task_group() as tg:
            for attempt in attempts:
                tg.start_soon(one, attempt)
