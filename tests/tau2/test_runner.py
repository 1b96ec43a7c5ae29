"""The runner: tasks x trials, concurrency, retries, resumable results file, summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit.errors import ModelAPIError
from agentkit.messages import SystemMessage, ToolMessage, UserMessage
from agentkit.models.base import ModelRequest
from agentkit.tau2.results import load_results
from agentkit.tau2.runner import (
    AGENT_INSTRUCTION,
    RunConfig,
    agent_system_prompt,
    regrade,
    run_benchmark,
    summary,
    trial_seeds,
)
from agentkit.tau2.simulation import TerminationReason
from agentkit.tau2.tasks import EnvAssertion, Task
from agentkit.testing import FunctionModel, Step, call, reply, tool_step

pytestmark = pytest.mark.anyio


def agent_fn(messages: list[Any], request: ModelRequest) -> Step:
    """Creates the task the user asks for, then confirms."""
    last = messages[-1]
    if isinstance(last, ToolMessage):
        return reply("The task was created.")
    if isinstance(last, UserMessage) and "Important Meeting" in str(last.content):
        return tool_step(call("create_task", {"user_id": "user_1", "title": "Important Meeting"}))
    return reply("Anything else?")


def user_fn(messages: list[Any], request: ModelRequest) -> Step:
    system = messages[0]
    assert isinstance(system, SystemMessage) and "<scenario>" in system.content
    turns = sum(1 for m in messages if isinstance(m, UserMessage))
    if turns == 1:
        return reply("Create a task called 'Important Meeting' for user_1.")
    return reply("Thanks! ###STOP###")


class Flaky:
    """A user model failing the first `failures` requests (non-retryable server errors)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.inner = FunctionModel(user_fn)
        self.requests = 0

    @property
    def name(self) -> str:
        return "flaky"

    @property
    def thinking(self) -> bool | None:
        return True

    async def stream(self, request: ModelRequest) -> Any:
        self.requests += 1
        if self.requests <= self.failures:
            raise ModelAPIError("upstream exploded", status_code=400, retryable=False)
        async for event in self.inner.stream(request):
            yield event


def config(**kw: Any) -> RunConfig:
    base: dict[str, Any] = {
        "domain": "mock", "agent_model": FunctionModel(agent_fn, name="agent-fn"),
        "user_model": FunctionModel(user_fn, name="user-fn"), "trials": 2,
        "task_ids": ["create_task_1", "update_task_1"], "concurrency": 3, "progress": False}
    base.update(kw)
    return RunConfig(**base)


async def test_runs_tasks_times_trials_and_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    cfg = config()
    results = await run_benchmark(cfg, out)
    assert len(results.simulations) == 4
    by_task = {(s.task_id, s.trial): s for s in results.simulations}
    assert all(by_task[("create_task_1", t)].reward == 1.0 for t in (0, 1))
    assert all(by_task[("update_task_1", t)].reward == 0.0 for t in (0, 1))
    seeds = trial_seeds(300, 2)
    assert {s.seed for s in results.simulations} == set(seeds)
    on_disk = load_results(out)
    assert len(on_disk.simulations) == 4 and {t.id for t in on_disk.tasks} == {
        "create_task_1", "update_task_1"}
    assert on_disk.info["agent_model"] == "agent-fn" and on_disk.info["trials"] == 2
    text = summary(on_disk)
    assert "pass^1" in text and "pass^2" in text and "0.5000" in text
    assert "user_stop=4" in text
    # the agent got tau2's system prompt and the trial seed
    agent_model = cfg.agent_model
    assert isinstance(agent_model, FunctionModel)
    first = agent_model.requests[0]
    from agentkit.tau2.registry import get_domain

    policy = get_domain("mock").policy()
    assert first.messages[0].content == agent_system_prompt(policy)
    assert first.messages[0].content == (
        f"<instructions>\n{AGENT_INSTRUCTION}\n</instructions>\n<policy>\n{policy}\n</policy>")
    assert [t.name for t in first.tools] == [
        "create_task", "get_users", "update_task_status", "transfer_to_human_agents"]
    assert first.settings.seed in seeds


async def test_resume_runs_only_what_is_missing(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    await run_benchmark(config(), out)
    data = json.loads(out.read_text())
    dropped = data["simulations"].pop(0)
    out.write_text(json.dumps(data))
    cfg = config()
    results = await run_benchmark(cfg, out)
    assert len(results.simulations) == 4
    agent_model = cfg.agent_model
    assert isinstance(agent_model, FunctionModel)
    user_model = cfg.user_model
    assert isinstance(user_model, FunctionModel)
    assert len(user_model.requests) == 2  # one conversation: greeting answer + stop
    rerun = [s for s in results.simulations
             if (s.task_id, s.trial) == (dropped["task_id"], dropped["trial"])]
    assert len(rerun) == 1 and rerun[0].id != dropped["id"]
    # nothing left to do: no model call at all
    cfg2 = config()
    await run_benchmark(cfg2, out)
    assert isinstance(cfg2.user_model, FunctionModel) and cfg2.user_model.requests == []


async def test_resume_refuses_a_different_configuration(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    await run_benchmark(config(trials=1, task_ids=["create_task_1"]), out)
    with pytest.raises(ValueError, match="trials"):
        await run_benchmark(config(trials=3, task_ids=["create_task_1"]), out)


@pytest.mark.parametrize("change", [
    {"agent_settings": {"temperature": 0.7}},
    {"user_settings": {"max_tokens": 256}},
    {"judge_model": "some-judge"},
    {"timeout": 30.0},
    {"env_options": {"variant": "x"}},
    {"agent_thinking": False},
], ids=lambda c: next(iter(c)))
async def test_resume_refuses_changed_experiment_settings(tmp_path: Path,
                                                          change: dict[str, Any]) -> None:
    out = tmp_path / "r.json"
    base = {"trials": 1, "task_ids": ["create_task_1"],
            "agent_settings": {"temperature": 0.0}, "user_settings": {"temperature": 0.0}}
    await run_benchmark(config(**base), out)
    key = next(iter(change))
    with pytest.raises(ValueError, match=rf"cannot resume .*{key}"):
        await run_benchmark(config(**{**base, **change}), out)
    # the same settings resume (nothing left to run)
    again = config(**base)
    await run_benchmark(again, out)
    assert isinstance(again.user_model, FunctionModel) and again.user_model.requests == []


async def test_empty_replies_are_infrastructure_errors_excluded_from_pass_k(
        tmp_path: Path) -> None:
    def thinking_only(messages: list[Any], request: ModelRequest) -> Step:
        return Step(thinking="I will answer later.")

    agent_model = FunctionModel(thinking_only, name="thinker")
    results = await run_benchmark(config(agent_model=agent_model, trials=1,
                                         task_ids=["create_task_1"], max_retries=1),
                                  tmp_path / "r.json")
    (sim,) = results.simulations
    assert sim.termination_reason == TerminationReason.INFRASTRUCTURE_ERROR
    assert sim.attempts == 2 and len(agent_model.requests) == 2  # no nudge, retried whole
    assert sim.error is not None and "EmptyReplyError" in sim.error
    assert "assistant sent an empty message" in sim.error
    assert "pass^1" not in summary(results)


def broken_assertion_task() -> Task:
    from agentkit.tau2.registry import get_domain

    (t,) = get_domain("mock").load_tasks(task_ids=["create_task_1_with_env_assertions"])
    assert t.evaluation_criteria is not None
    broken = EnvAssertion(env_type="assistant", func_name="assert_task_status",
                          arguments={"task_id": "task_2"}, assert_value=True)
    criteria = t.evaluation_criteria.model_copy(update={"env_assertions": [broken]})
    return t.model_copy(update={"evaluation_criteria": criteria})


async def test_an_env_assertion_that_raises_makes_an_infrastructure_error(
        tmp_path: Path) -> None:
    t = broken_assertion_task()
    results = await run_benchmark(config(trials=1, max_retries=1), tmp_path / "r.json",
                                  tasks=[t])
    (sim,) = results.simulations
    assert sim.termination_reason == TerminationReason.INFRASTRUCTURE_ERROR
    assert sim.attempts == 2 and sim.error is not None
    assert sim.error.startswith("EnvAssertionError: env assertion assert_task_status")
    assert sim.reward_info is not None
    assert "infrastructure error" in sim.reward_info["info"]["note"]
    # re-grading a finished run whose assertion raises records it the same way
    ok = await run_benchmark(config(trials=1), tmp_path / "ok.json",
                             tasks=[broken_assertion_task().model_copy(
                                 update={"evaluation_criteria": None})])
    assert ok.simulations[0].termination_reason == TerminationReason.USER_STOP
    ok.tasks = [t]
    regraded = await regrade(ok)
    (again,) = regraded.simulations
    assert again.termination_reason == TerminationReason.INFRASTRUCTURE_ERROR
    assert again.error is not None and "EnvAssertionError" in again.error


async def test_infrastructure_errors_are_retried_whole_then_excluded(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    flaky = Flaky(failures=1)
    results = await run_benchmark(
        config(user_model=flaky, trials=1, task_ids=["create_task_1"], max_retries=1), out)
    (sim,) = results.simulations
    assert sim.termination_reason == TerminationReason.USER_STOP and sim.reward == 1.0
    assert sim.attempts == 2 and sim.error is not None and "upstream exploded" in sim.error

    dead = Flaky(failures=10**6)
    out2 = tmp_path / "r2.json"
    results = await run_benchmark(
        config(user_model=dead, trials=1, task_ids=["create_task_1", "update_task_1"],
               max_retries=2), out2)
    assert all(s.termination_reason == TerminationReason.INFRASTRUCTURE_ERROR
               for s in results.simulations)
    assert all(s.attempts == 3 for s in results.simulations)
    assert dead.requests == 6
    text = summary(load_results(out2))
    assert "2 simulation(s) failed with infrastructure errors" in text
    assert "infrastructure_error=2" in text


async def test_infra_errors_are_rerun_on_resume(
        tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    first = await run_benchmark(config(user_model=Flaky(10**6), trials=2,
                                       task_ids=["create_task_1"], max_retries=0), out)
    assert [s.termination_reason for s in first.simulations] == [
        TerminationReason.INFRASTRUCTURE_ERROR] * 2
    assert "pass^1" not in summary(first)  # nothing graded: no pass^k at all
    healed = Flaky(0)
    results = await run_benchmark(config(user_model=healed, trials=2,
                                         task_ids=["create_task_1"]), out)
    assert [s.termination_reason for s in results.simulations] == [
        TerminationReason.USER_STOP] * 2
    assert healed.requests == 4
    assert "1.0000" in summary(results)


async def test_concurrency_limit_is_respected(tmp_path: Path) -> None:
    active = 0
    peak = 0

    async def slow_user(messages: list[Any], request: ModelRequest) -> Step:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await anyio.sleep(0.02)
        active -= 1
        return user_fn(messages, request)

    await run_benchmark(config(user_model=FunctionModel(slow_user), trials=3, concurrency=2),
                        tmp_path / "r.json")
    assert peak == 2


async def test_nl_tasks_need_a_judge_unless_llm_free(tmp_path: Path) -> None:
    from agentkit.tau2.registry import get_domain

    retail_nl = [next(t.id for t in get_domain("retail").load_tasks()
                      if t.evaluation_criteria and t.evaluation_criteria.nl_assertions)]
    with pytest.raises(ValueError, match="judge"):
        await run_benchmark(config(domain="retail", task_ids=retail_nl, trials=1),
                            tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_trial_seeds_are_deterministic() -> None:
    assert trial_seeds(300, 4) == trial_seeds(300, 4)
    assert len(set(trial_seeds(300, 4))) == 4
    assert trial_seeds(None, 2) == [None, None]


async def test_telecom_user_simulator_gets_the_phone_tools(tmp_path: Path) -> None:
    def phone_user(messages: list[Any], request: ModelRequest) -> Step:
        if not any(isinstance(m, ToolMessage) for m in messages):
            return tool_step(call("check_status_bar", {}))
        return reply("My phone says what it says. ###STOP###")

    user_model = FunctionModel(phone_user, name="phone-user")
    from agentkit.tau2.registry import get_domain

    task = get_domain("telecom").load_tasks(split="base")[0]
    results = await run_benchmark(config(domain="telecom", user_model=user_model, trials=1,
                                         task_ids=[task.id]), tmp_path / "t.json")
    (sim,) = results.simulations
    assert sim.termination_reason == TerminationReason.USER_STOP
    tools = {t.name for t in user_model.requests[0].tools}
    assert {"check_status_bar", "toggle_airplane_mode", "reboot_device"} <= tools
    system = user_model.requests[0].messages[0].content
    assert "You have some tools to perform the actions on your end" in str(system)
    user_results = [m for m in sim.messages if m.role == "tool"]
    assert len(user_results) == 1 and user_results[0].requestor == "user"
    assert sim.reward_info is not None and sim.reward_info["reward"] == 0.0  # nothing fixed


async def test_progress_display_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = await run_benchmark(config(trials=1, task_ids=["create_task_1"], progress=True),
                                  tmp_path / "p.json")
    assert len(results.simulations) == 1
    captured = capsys.readouterr()
    assert "1/1 done, 1 passed, 0 infra errors" in captured.out + captured.err
