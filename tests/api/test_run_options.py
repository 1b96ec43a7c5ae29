"""Settings checked at construction, dynamic instructions, per-run overrides (items 6, 7, 9)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from agentkit import Agent, LimitExceeded, RunContext, SystemMessage, UserError, tool
from agentkit.agent import Limits
from agentkit.models import ModelSettings
from agentkit.settings import RunSettings
from agentkit.testing import ScriptedModel, call, reply, tool_step

pytestmark = pytest.mark.anyio


@tool
def noop() -> str:
    """Do nothing."""
    return "ok"


BAD: list[tuple[dict[str, Any], str]] = [
    ({"temperature": "hot"}, "temperature must be a number"),
    ({"temperature": 7}, "temperature must be <= 2"),
    ({"temperature": True}, "temperature must be a number"),
    ({"temperature": float("nan")}, "temperature must be a number"),
    ({"max_tokens": -5}, "max_tokens must be >= 1"),
    ({"max_tokens": 2.5}, "max_tokens must be an integer"),
    ({"top_p": 7}, "top_p must be <= 1"),
    ({"top_p": -0.1}, "top_p must be >= 0"),
    ({"thinking_budget": 0}, "thinking_budget must be >= 1"),
    ({"request_timeout": 0}, "request_timeout must be > 0"),
    ({"reasoning_effort": ""}, "reasoning_effort"),
    ({"parallel_tool_calls": "yes"}, "parallel_tool_calls"),
    ({"extra_body": [1]}, "extra_body"),
    ({"max_steps": 0}, "max_steps must be >= 1"),
    ({"max_steps": "10"}, "max_steps must be an integer"),
    ({"tool_concurrency": 0}, "tool_concurrency must be >= 1"),
    ({"max_invalid_calls": 0}, "max_invalid_calls must be >= 1"),
    ({"timeout": -1}, "timeout must be > 0"),
    ({"tool_timeout": 0}, "tool_timeout must be > 0"),
    ({"token_budget": 0}, "token_budget must be >= 1"),
    ({"max_tool_calls": -1}, "max_tool_calls must be >= 0"),
    ({"retry": 3}, "retry must be an agentkit.retry.RetryPolicy"),
    ({"thinking": "yes"}, "thinking must be True, False or None"),
]


@pytest.mark.parametrize(("kw", "message"), BAD)
def test_bad_settings_fail_at_construction_and_per_run(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        Agent(ScriptedModel([]), **kw)
    model = ScriptedModel([reply("never")])
    with pytest.raises(UserError, match=message):
        Agent(model).run_sync("hi", **kw)
    with pytest.raises(UserError, match=message):
        Agent(model).run_sync("hi", settings=kw)  # type: ignore[arg-type]
    assert model.requests == []  # nothing was sent


def test_settings_objects_are_checked_too() -> None:
    with pytest.raises(UserError, match="max_steps"):
        Limits(max_steps=0)
    with pytest.raises(UserError, match="temperature"):
        Agent(ScriptedModel([]), settings=ModelSettings(temperature=-1))


def test_unknown_settings_are_named() -> None:
    with pytest.raises(TypeError, match="temprature"):
        Agent(ScriptedModel([]), temprature=0.1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"max_step\b"):
        Agent(ScriptedModel([])).run_sync("hi", max_step=3)  # type: ignore[call-arg]


def test_good_settings_are_kept() -> None:
    agent = Agent(ScriptedModel([]), temperature=0, top_p=1, max_tokens=10, max_steps=1,
                  thinking=False, timeout=0.5)
    assert agent.settings.temperature == 0 and agent.limits.max_steps == 1
    assert agent.thinking is False


def test_run_settings_names_every_knob() -> None:
    from dataclasses import fields

    knobs = {f.name for f in fields(Limits)} | {f.name for f in fields(ModelSettings)}
    assert set(RunSettings.__annotations__) == knobs | {"thinking"}


@dataclass
class Deps:
    user: str


async def test_instructions_function_sync_and_async_per_run() -> None:
    seen: list[int] = []

    def sync_instructions(ctx: RunContext[Deps]) -> str:
        seen.append(ctx.step)
        return f"Help {ctx.deps.user}."

    async def async_instructions(ctx: RunContext[Deps]) -> str:
        return f"Async help for {ctx.deps.user}."

    for fn, expected in ((sync_instructions, "Help {}."),
                         (async_instructions, "Async help for {}.")):
        model = ScriptedModel([reply("a"), reply("b")])
        agent = Agent(model, fn)
        await agent.run("hi", deps=Deps("ann"))
        await agent.run("hi", deps=Deps("bob"))
        systems = [r.messages[0] for r in model.requests]
        assert all(isinstance(m, SystemMessage) for m in systems)
        assert [m.content for m in systems] == [expected.format("ann"), expected.format("bob")]
    assert seen == [0, 0]  # called once per run, before the first step


async def test_instructions_function_must_return_text() -> None:
    agent = Agent(ScriptedModel([reply("x")]), lambda ctx: 42)  # type: ignore[arg-type,return-value]
    with pytest.raises(UserError, match="returned int"):
        await agent.run("hi")
    with pytest.raises(UserError, match="instructions must be"):
        Agent(ScriptedModel([]), 42)  # type: ignore[arg-type]


async def test_per_run_overrides_reach_the_request_and_leave_the_agent_alone() -> None:
    model = ScriptedModel([reply("a"), reply("b"), reply("c")])
    agent = Agent(model, temperature=0.5, max_tokens=100)
    await agent.run("one", temperature=0.1, thinking=False)
    await agent.run("two", settings={"max_tokens": 7, "seed": 3})
    await agent.run("three")
    first, second, third = model.requests
    assert (first.settings.temperature, first.settings.max_tokens, first.thinking) == (
        0.1, 100, False)
    assert (second.settings.temperature, second.settings.max_tokens, second.settings.seed) == (
        0.5, 7, 3)
    assert (third.settings.temperature, third.settings.max_tokens) == (0.5, 100)
    assert agent.settings.temperature == 0.5 and agent.thinking is None


async def test_per_run_limit_override() -> None:
    steps = [tool_step(call("noop")), tool_step(call("noop")), reply("done")]
    agent = Agent(ScriptedModel(list(steps)), tools=[noop])
    with pytest.raises(LimitExceeded) as info:
        await agent.run("go", max_steps=1)
    assert info.value.limit == "max_steps"
    stream_agent = Agent(ScriptedModel(list(steps)), tools=[noop], max_steps=1)
    async with stream_agent.stream("go", settings={"max_steps": 5}) as stream:
        events = [e async for e in stream]
    assert events[-1].type == "run_finished"


def test_replace_makes_a_checked_copy() -> None:
    agent = Agent(ScriptedModel([]), "sys", [noop], temperature=0.3)
    other = agent.replace(instructions="other", max_steps=3)
    assert (other.instructions, other.limits.max_steps, other.settings.temperature) == (
        "other", 3, 0.3)
    assert agent.instructions == "sys" and agent.limits.max_steps == 50
    with pytest.raises(UserError, match="max_steps"):
        agent.replace(max_steps=0)
