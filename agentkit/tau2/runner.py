"""Running tau2 tasks: tasks x trials, concurrently, retried, graded, saved as they finish.

- :func:`run_simulation` wires one task: a fresh environment with the task's initial state,
  the agent (tau2's system prompt: instructions + ``<policy>``; the domain tools run through
  the environment), the user simulator, then the generic conversation
  (:func:`agentkit.tau2.orchestrator.simulate`), then grading.
- :func:`run_benchmark` runs every (task, trial) with a concurrency limit. A simulation that
  raises (model server down after the core loop's retries, malformed tool-call JSON, a replay
  mismatch, an empty model reply, an env assertion that raises, an unusable judge answer...)
  is retried whole, up to ``max_retries`` more times;
  if it still fails it is recorded as ``infrastructure_error``, excluded from pass^k and
  reported. Results go to a JSON file after every simulation; rerunning with the same file
  resumes (finished simulations are kept, infrastructure errors are run again).

Prompts and defaults follow tau2-bench (MIT, Sierra Research).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import anyio

from ..agent import Agent
from ..models.base import Model
from ..modes import policy_named
from ..telemetry import hooks as telemetry
from .environment import Environment, ToolCallRecord
from .executor import Attempt, Executor, Job, LocalExecutor
from .grading import EnvAssertionError, EnvFactory, GoldCache, evaluate
from .judge import NLJudge
from .orchestrator import ConversationEvent, SimulationConfig, SimulationFinished, simulate
from .participants import LoopParticipant
from .progress import Progress, simulation_cost
from .results import Results, compute_metrics, format_summary, load_results, save_results
from .simulation import SimMessage, SimToolCall, SimulationResult, TerminationReason
from .tasks import RewardType, Task
from .tau2format import git_commit, tau2_info
from .user import llm_user

__all__ = [
    "AGENT_INSTRUCTION",
    "EnvExecutor",
    "RunConfig",
    "agent_system_prompt",
    "history_of",
    "needs_judge",
    "regrade",
    "run_benchmark",
    "run_simulation",
    "summary",
    "trial_seeds",
]

AGENT_INSTRUCTION = """
You are a customer service agent that helps the user according to the <policy> provided below.
In each turn you can either:
- Send a message to the user.
- Make a tool call.
You cannot do both at the same time.

Try to be helpful and always follow the policy. Always make sure you generate valid JSON only.
""".strip()

AGENT_SYSTEM_PROMPT = """
<instructions>
{agent_instruction}
</instructions>
<policy>
{domain_policy}
</policy>
""".strip()

EventSink = Callable[[str, int, ConversationEvent], None]
"""Called with (task id, trial, event) for every conversation event."""


def agent_system_prompt(policy: str) -> str:
    """tau2's agent system prompt: the fixed instructions, then the domain policy."""
    return AGENT_SYSTEM_PROMPT.format(agent_instruction=AGENT_INSTRUCTION, domain_policy=policy)


def trial_seeds(seed: int | None, trials: int) -> list[int | None]:
    """One seed per trial, derived from ``seed`` (None: no seeding)."""
    if seed is None:
        return [None] * trials
    rng = random.Random(seed)
    return [rng.randint(0, 1_000_000) for _ in range(trials)]


class EnvExecutor:
    """Runs tool calls in an :class:`Environment` (in a worker thread), tau2's way."""

    def __init__(self, env: Environment) -> None:
        self.env = env

    async def __call__(self, call: SimToolCall) -> SimMessage:
        record = ToolCallRecord(call.id, call.name, dict(call.arguments), call.requestor)
        result = await anyio.to_thread.run_sync(self.env.get_response, record)
        return SimMessage(role="tool", id=call.id, content=result.content, error=result.error,
                          requestor=call.requestor)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def history_of(task: Task) -> list[SimMessage]:
    """The task's recorded message history as trajectory messages."""
    state = task.initial_state
    if state is None or not state.message_history:
        return []
    out = []
    for m in state.message_history:
        data = m.model_dump(exclude_none=True)
        if m.role in ("assistant", "user") and m.tool_calls:
            for c in data["tool_calls"]:
                c["requestor"] = m.role
        out.append(SimMessage.model_validate(data))
    return out


@dataclass
class RunConfig:
    """Everything a tau2 run needs. Models are `Model` objects or model names.

    ``agent_settings`` / ``user_settings``: `Agent` keyword settings (temperature, max_tokens,
    thinking_budget...); a trial's seed is added as ``seed``. ``judge_model`` grades
    NL_ASSERTION (required unless ``llm_free`` or no task needs it).
    """

    domain: str
    agent_model: Model | str
    user_model: Model | str
    judge_model: Model | str | None = None
    trials: int = 1
    split: str | None = None
    task_ids: list[str] | None = None
    num_tasks: int | None = None
    concurrency: int = 4
    seed: int | None = 300
    max_steps: int = 200
    max_errors: int = 10
    max_retries: int = 3
    timeout: float | None = None
    llm_free: bool = False
    strict_judge: bool = False
    provider_limits: dict[str, int] = field(default_factory=dict)
    price_per_mtok: tuple[float, float] | None = None
    data_dir: str | Path | None = None
    env_options: dict[str, Any] = field(default_factory=dict)
    agent_settings: dict[str, Any] = field(default_factory=dict)
    user_settings: dict[str, Any] = field(default_factory=dict)
    agent_thinking: bool | None = None
    #: A mode policy by name (`agentkit.modes.policy_named`): "always", "plan-then-act", ...
    agent_mode: str | None = None
    progress: bool = True

    def info(self) -> dict[str, Any]:
        def name(m: Model | str | None) -> str | None:
            return m if isinstance(m, str) or m is None else m.name

        return {
            "domain": self.domain, "agent_model": name(self.agent_model),
            "user_model": name(self.user_model), "judge_model": name(self.judge_model),
            "trials": self.trials, "split": self.split, "task_ids": self.task_ids,
            "num_tasks": self.num_tasks, "seed": self.seed, "max_steps": self.max_steps,
            "max_errors": self.max_errors, "max_retries": self.max_retries,
            "timeout": self.timeout,
            "llm_free": self.llm_free, "strict_judge": self.strict_judge,
            "env_options": self.env_options,
            "agent_settings": self.agent_settings, "user_settings": self.user_settings,
            "agent_thinking": self.agent_thinking,
            "agent_mode": self.agent_mode,
        }


def _as_model(model: Model | str) -> Model:
    if isinstance(model, str):
        from ..models.openai_compat import OpenAICompatModel

        return cast(Model, OpenAICompatModel(model))
    return model


def env_factory_for(domain: str, data_dir: str | Path | None = None,
                    **env_options: Any) -> EnvFactory:
    from .registry import get_domain

    spec = get_domain(domain)
    return lambda: spec.build_env(data_dir, **env_options)


async def run_simulation(
    task: Task,
    config: RunConfig,
    *,
    trial: int = 0,
    seed: int | None = None,
    env_factory: EnvFactory | None = None,
    judge: NLJudge | None = None,
    gold_cache: GoldCache | None = None,
    on_event: EventSink | None = None,
) -> SimulationResult:
    """Simulate and grade one trial of ``task``; exceptions propagate (see run_benchmark).

    With telemetry on, the simulation is one span (domain, task id, trial, seed, then the
    reward and how it ended), the parent of the agent's runs.
    """
    attrs: dict[str, Any] = {"agentkit.tau2.domain": config.domain,
                             "agentkit.tau2.task_id": task.id, "agentkit.tau2.trial": trial}
    if seed is not None:
        attrs["agentkit.tau2.seed"] = seed
    with telemetry.span(f"tau2.simulation {config.domain}", attrs) as span:
        result = await _simulate(task, config, trial, seed, env_factory, judge, gold_cache,
                                 on_event)
        span.set_attributes({"agentkit.tau2.reward": result.reward or 0.0,
                             "agentkit.tau2.termination_reason": result.termination_reason.value,
                             "agentkit.tau2.steps": result.steps})
        return result


async def _simulate(task: Task, config: RunConfig, trial: int, seed: int | None,
                    env_factory: EnvFactory | None, judge: NLJudge | None,
                    gold_cache: GoldCache | None, on_event: EventSink | None,
                    ) -> SimulationResult:
    factory = env_factory or env_factory_for(config.domain, config.data_dir,
                                             **config.env_options)
    state = task.initial_state

    def build() -> Environment:
        env = factory()
        if state is not None:
            env.set_state(state.initialization_data, state.initialization_actions,
                          state.message_history or [])
        return env

    env = await anyio.to_thread.run_sync(build)
    seeded = {"seed": seed} if seed is not None else {}
    agent = LoopParticipant(
        Agent(model=_as_model(config.agent_model), instructions=agent_system_prompt(env.policy),
              name="agent", thinking=config.agent_thinking,
              mode=None if config.agent_mode is None else policy_named(config.agent_mode),
              **{**config.agent_settings, **seeded}),
        "assistant", env.tool_schemas())
    user = llm_user(_as_model(config.user_model), str(task.user_scenario),
                    tool_schemas=env.user_tool_schemas(task.user_tools),
                    data_dir=config.data_dir, **{**config.user_settings, **seeded})
    sim_config = SimulationConfig(max_steps=config.max_steps, max_errors=config.max_errors,
                                  timeout=config.timeout)
    result: SimulationResult | None = None
    async for event in simulate(agent, user, EnvExecutor(env), task_id=task.id,
                                history=history_of(task), config=sim_config):
        if on_event is not None:
            on_event(task.id, trial, event)
        if isinstance(event, SimulationFinished):
            result = event.result
    assert result is not None
    result.domain, result.trial, result.seed = config.domain, trial, seed
    reward = await evaluate(task, result, factory, judge=judge, llm_free=config.llm_free,
                            strict_replay=True, gold_cache=gold_cache)
    result.reward_info = reward.model_dump(mode="json")
    costs = simulation_cost(result, config.price_per_mtok)
    if costs is not None:  # tau2-bench's cost fields
        result.agent_cost, result.user_cost = costs
    return result


def needs_judge(tasks: Sequence[Task], llm_free: bool) -> bool:
    """Whether grading these tasks calls the NL judge."""
    if llm_free:
        return False
    return any(t.evaluation_criteria is not None
               and RewardType.NL_ASSERTION in t.evaluation_criteria.reward_basis
               and t.evaluation_criteria.nl_assertions for t in tasks)


async def run_benchmark(
    config: RunConfig,
    out: str | Path | None = None,
    *,
    tasks: Sequence[Task] | None = None,
    on_event: EventSink | None = None,
    env_factory: EnvFactory | None = None,
    executor: Executor | None = None,
) -> Results:
    """Run every (task, trial) not yet in ``out``; save after each; return all results.

    ``executor``: where the attempts run (default :class:`LocalExecutor`; ``on_event`` is
    only seen by the local one). This coroutine is the single writer of ``out``.
    """
    from .registry import get_domain

    if config.trials < 1 or config.concurrency < 1 or config.max_retries < 0:
        raise ValueError("trials and concurrency must be >= 1, max_retries >= 0")
    if any(n < 1 for n in config.provider_limits.values()):
        raise ValueError("provider limits must be >= 1")
    if tasks is None:
        tasks = get_domain(config.domain).load_tasks(config.data_dir, split=config.split,
                                                     task_ids=config.task_ids)
        if config.num_tasks is not None:
            tasks = tasks[: config.num_tasks]
    tasks = list(tasks)
    if needs_judge(tasks, config.llm_free) and config.judge_model is None:
        raise ValueError(
            "these tasks are graded on NL_ASSERTION: pass a judge model (--judge-model) "
            "or grade without an LLM (--llm-free)")

    results = Results(info=config.info(), tasks=tasks, timestamp=_now())
    exists = out is not None and await anyio.Path(out).exists()
    if out is not None and exists:
        previous = load_results(out)
        _check_resumable(previous.info, results.info, out)
        results.simulations = list(previous.simulations)
        results.timestamp = previous.timestamp or results.timestamp
        known = {t.id for t in tasks}
        results.tasks = tasks + [t for t in previous.tasks if t.id not in known]
    job = Job(config=config, tasks={t.id: t for t in tasks}, env_factory=env_factory)
    policy = (await anyio.to_thread.run_sync(job.factory())).policy
    commit = await anyio.to_thread.run_sync(git_commit)
    results.info = tau2_info(results.info, policy, commit=commit)
    done = results.completed()
    seeds = trial_seeds(config.seed, config.trials)
    attempts = [Attempt(config.domain, task.id, trial, seeds[trial])
                for task in tasks for trial in range(config.trials)
                if (config.domain, task.id, trial) not in done]
    lock = anyio.Lock()
    progress = Progress(len(attempts), config.progress, config.price_per_mtok)
    finished: set[tuple[str, str, int]] = set()

    async def on_result(sim: SimulationResult) -> None:
        async with lock:
            key = (sim.domain, sim.task_id, sim.trial)
            if key in finished:  # an executor must not deliver twice: never record twice
                return
            finished.add(key)
            results.upsert(sim)
            if out is not None:
                await anyio.to_thread.run_sync(save_results, results, out)
            progress.update(sim)

    try:
        if out is not None and not attempts:
            save_results(results, out)
        await (executor or LocalExecutor(on_event)).run(job, attempts, on_result)
    finally:
        progress.close()
    return results


_MUST_MATCH = ("domain", "agent_model", "user_model", "judge_model", "trials", "seed",
               "max_steps", "max_errors", "timeout", "llm_free", "strict_judge", "env_options",
               "agent_settings", "user_settings", "agent_thinking", "agent_mode")
"""What defines the experiment: a results file is only resumed with the same values.
(The task selection may change: new tasks are added to the file.)"""


_ADDED_LATER: dict[str, Any] = {"strict_judge": False}
"""Settings newer than some results files, with the value those files were run with."""


def _check_resumable(old: dict[str, Any], new: dict[str, Any], path: str | Path) -> None:
    # compare as the file stores them (JSON), so tuples, None-valued keys etc. do not differ
    stored = json.loads(Results(info=new).model_dump_json(exclude_none=True))["info"]
    old = {**_ADDED_LATER, **old}
    diffs = [f"{k}: {old.get(k)!r} in the file, {stored.get(k)!r} now" for k in _MUST_MATCH
             if old.get(k) != stored.get(k)]
    if diffs:
        raise ValueError(f"cannot resume {path}: the run configuration differs ("
                         + "; ".join(diffs) + "). Use another --out file.")


async def regrade(
    results: Results,
    *,
    judge_model: Model | str | None = None,
    llm_free: bool = False,
    data_dir: str | Path | None = None,
    strict_replay: bool = False,
    strict_judge: bool = False,
) -> Results:
    """Grade every simulation of ``results`` again (lenient replay by default).

    Infrastructure errors stay as they are. Tasks come from the file (or, when missing there,
    from the data directory). Returns a new :class:`Results`; the input is not changed.
    """
    from .registry import get_domain

    out = results.model_copy(deep=True)
    tasks = out.task_map()
    sims = [s for s in out.simulations
            if s.termination_reason != TerminationReason.INFRASTRUCTURE_ERROR]
    for s in sims:
        if s.task_id not in tasks:
            domain = s.domain or out.info.get("domain", "")
            for t in get_domain(domain).load_tasks(data_dir, task_ids=[s.task_id]):
                tasks[t.id] = t
    judge = None
    if needs_judge([tasks[s.task_id] for s in sims], llm_free):
        if judge_model is None:
            raise ValueError("grading NL_ASSERTION needs a judge model (--judge-model), "
                             "or grade with --llm-free")
        judge = NLJudge(_as_model(judge_model), strict=strict_judge)
    env_opts = dict(out.info.get("env_options") or {})
    factories: dict[str, EnvFactory] = {}
    caches: dict[str, GoldCache] = {}
    for s in sims:
        domain = s.domain or out.info.get("domain", "")
        if domain not in factories:
            factories[domain] = env_factory_for(domain, data_dir, **env_opts)
            caches[domain] = {}
        try:
            reward = await evaluate(tasks[s.task_id], s, factories[domain], judge=judge,
                                    llm_free=llm_free, strict_replay=strict_replay,
                                    gold_cache=caches[domain])
        except EnvAssertionError as exc:  # as a live run records it: an infrastructure error
            s.termination_reason = TerminationReason.INFRASTRUCTURE_ERROR
            s.error = f"{type(exc).__name__}: {exc}"
            s.reward_info = {"reward": 0.0, "info": {"errors": [s.error], "note": (
                "infrastructure error while grading: not graded, excluded from pass^k")}}
            continue
        s.reward_info = reward.model_dump(mode="json")
    out.info["regraded"] = {"llm_free": llm_free, "strict_judge": strict_judge,
                            "judge_model": None if judge is None else judge.model.name}
    return out


def summary(results: Results) -> str:
    """The per-domain summary table of a results object."""
    return format_summary(compute_metrics(results), results.info.get("agent_mode"))
