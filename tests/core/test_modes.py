"""Mode policies: the thinking switch and model of every request, asserted from the loopback
server's request log (real HTTP, the real openai client, DashScope's wire format)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from agentkit import Agent, StepFinished, StepMode, UserError, tool
from agentkit.messages import AssistantMessage
from agentkit.models import OpenAICompatModel
from agentkit.modes import Always, Escalate, PlanThenAct, StepInfo
from agentkit.testing import LoopbackServer, Step, call, reply, tool_step

pytestmark = pytest.mark.anyio
_open: list[OpenAICompatModel] = []


@pytest.fixture(autouse=True)
async def close_models() -> AsyncIterator[None]:
    yield
    while _open:
        await _open.pop().aclose()


def model_for(server: LoopbackServer, **kw: Any) -> OpenAICompatModel:
    model = OpenAICompatModel("qwen3-max", base_url=server.base_url, api_key="test",
                              profile="dashscope", **kw)
    _open.append(model)
    return model


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@tool
def explode() -> str:
    """Always fails."""
    raise RuntimeError("boom")


def switches(server: LoopbackServer) -> list[bool | None]:
    return [r.body.get("enable_thinking") for r in server.requests]


def models(server: LoopbackServer) -> list[str]:
    return [r.body["model"] for r in server.requests]


async def test_always_instruct_with_a_separate_instruct_model() -> None:
    steps = [tool_step(call("add", {"a": 1, "b": 2})), reply("3")]
    async with LoopbackServer(steps, models=("qwen3-max", "qwen3-max-instruct")) as server:
        model = model_for(server, instruct_model="qwen3-max-instruct")
        agent = Agent(model, "sys", [add], mode=Always(thinking=False))
        result = await agent.run("1+2?")
    assert result.output == "3"
    assert switches(server) == [False, False]
    assert models(server) == ["qwen3-max-instruct", "qwen3-max-instruct"]
    assert all(r.body["stream"] is True for r in server.requests)
    assert result.usage.by_mode["instruct"].requests == 2
    assert "thinking" not in result.usage.by_mode


async def test_default_mode_is_recorded_as_thinking() -> None:
    steps = [tool_step(call("add", {"a": 1, "b": 2}), thinking="plan"), reply("3", thinking="ok")]
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server), "sys", [add])
        events = [e async for e in agent.stream("1+2?")]
    assert switches(server) == [True, True]
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert [e.mode for e in finished] == ["thinking", "thinking"]
    result = events[-1].result  # type: ignore[union-attr]
    assert [m.mode for m in result.messages if isinstance(m, AssistantMessage)] == [
        "thinking", "thinking"]
    by_mode = result.usage.by_mode["thinking"]
    assert by_mode.requests == 2
    assert by_mode.reasoning_tokens == result.usage.reasoning_tokens > 0


async def test_plan_then_act_replans_after_a_tool_error() -> None:
    steps = [tool_step(call("add", {"a": 1, "b": 2}), thinking="the plan"),
             tool_step(call("explode")),
             tool_step(call("add", {"a": 2, "b": 2}), thinking="new plan"),
             reply("4")]
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server), "sys", [add, explode], mode=PlanThenAct())
        result = await agent.run("go")
    assert switches(server) == [True, False, True, False]
    assert result.usage.by_mode["thinking"].requests == 2
    assert result.usage.by_mode["instruct"].requests == 2


async def test_plan_then_act_plan_steps_and_budget() -> None:
    steps = [tool_step(call("add", {"a": 1, "b": 2})), tool_step(call("add", {"a": 1, "b": 3})),
             reply("done")]
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server), "sys", [add],
                      mode=PlanThenAct(plan_steps=2, thinking_budget=1234))
        await agent.run("go")
    assert switches(server) == [True, True, False]
    assert [r.body.get("thinking_budget") for r in server.requests] == [1234, 1234, None]


async def test_escalate_on_invalid_call_and_reasoning_only() -> None:
    steps = [tool_step(call("add", '{"a": "x"}')),          # instruct: invalid arguments
             Step(thinking="hmm, only thinking"),           # thinking: reasoning only
             tool_step(call("add", {"a": 1, "b": 2}), thinking="call it"),  # still thinking
             reply("3")]                                    # instruct again
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server), "sys", [add], mode=Escalate(cooldown=1))
        events = [e async for e in agent.stream("1+2?")]
    assert switches(server) == [False, True, True, False]
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert [e.mode for e in finished] == ["instruct", "thinking", "thinking", "instruct"]
    assert not any(e.thinking_ignored for e in finished)
    nudge = server.requests[2].body["messages"][-1]
    assert nudge["role"] == "user" and "only thinking" in nudge["content"]


async def test_escalate_cooldown_steps_down_after_clean_steps() -> None:
    steps = [tool_step(call("explode")), tool_step(call("add", {"a": 1, "b": 1})),
             tool_step(call("add", {"a": 1, "b": 2})), tool_step(call("add", {"a": 1, "b": 3})),
             reply("done")]
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server), "sys", [add, explode], mode=Escalate(cooldown=2))
        await agent.run("go")
    assert switches(server) == [False, True, True, False, False]


async def test_escalate_on_bad_final_output() -> None:
    class Answer(BaseModel):
        value: int

    steps = [reply("the answer is three"),
             tool_step(call("final_result", {"value": 3}), thinking="use the tool")]
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server), "sys", output_type=Answer, mode=Escalate())
        result = await agent.run("1+2?")
    assert result.output == Answer(value=3)
    assert switches(server) == [False, True]


async def test_escalate_on_a_repeated_identical_call_only_when_triggered() -> None:
    steps = [tool_step(call("add", {"a": 1, "b": 2})), tool_step(call("add", {"b": 2, "a": 1})),
             reply("3", thinking="stop repeating")]
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server), "sys", [add],
                      mode=Escalate(triggers=frozenset({"repeated_call"})))
        await agent.run("1+2?")
    assert switches(server) == [False, False, True]


async def test_escalate_on_an_empty_reply_nudges_and_thinks() -> None:
    steps = [Step(), reply("fine", thinking="think")]
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server), "sys", mode=Escalate())
        result = await agent.run("hi")
    assert result.output == "fine"
    assert switches(server) == [False, True]
    last_user = server.requests[1].body["messages"][-1]
    assert last_user["role"] == "user" and "empty" in last_user["content"]


async def test_custom_async_policy_sees_step_info_and_picks_models() -> None:
    seen: list[tuple[int, int, frozenset[str]]] = []

    async def policy(info: StepInfo) -> StepMode:
        seen.append((info.step, info.usage.requests, info.last_problems))
        assert info.ctx.run_id
        return StepMode(thinking=info.step % 2 == 1,
                        model="qwen3-max" if info.step % 2 else "qwen-flash")

    steps = [tool_step(call("explode")), tool_step(call("add", {"a": 1, "b": 2})), reply("3")]
    async with LoopbackServer(steps, models=("qwen3-max", "qwen-flash")) as server:
        agent = Agent(model_for(server), "sys", [add, explode], mode=policy)
        events = [e async for e in agent.stream("go")]
    assert models(server) == ["qwen3-max", "qwen-flash", "qwen3-max"]
    assert switches(server) == [True, False, True]
    assert seen == [(1, 0, frozenset()), (2, 1, frozenset({"tool_error"})), (3, 2, frozenset())]
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert [e.model for e in finished] == ["qwen3-max", "qwen-flash", "qwen3-max"]


async def test_ignored_switch_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    steps = [tool_step(call("add", {"a": 1, "b": 2}), thinking="I think anyway"),
             reply("3", thinking="and again")]
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server, instruct_model="qwen-ignores-switch"), "sys", [add],
                      mode=Always(thinking=False))
        with caplog.at_level(logging.WARNING, logger="agentkit.loop"):
            result = await agent.run("1+2?")
    assert result.usage.by_mode["instruct"].thinking_ignored == 2
    warnings = [r for r in caplog.records if "ignored 'thinking off'" in r.getMessage()]
    assert len(warnings) == 1


async def test_policy_errors_are_user_errors_with_the_transcript() -> None:
    def bad(info: StepInfo) -> Any:
        return "thinking please"

    async with LoopbackServer([]) as server:
        agent = Agent(model_for(server), "sys", mode=bad)
        with pytest.raises(UserError, match="not a StepMode") as err:
            await agent.run("hi")
    assert [m.role for m in err.value.messages] == ["system", "user"]
    with pytest.raises(UserError, match="mode must be"):
        Agent("qwen3-max", mode=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown triggers"):
        Escalate(triggers=frozenset({"oops"}))  # type: ignore[arg-type]
