"""Streams left unclosed, and cancelled runs keeping their transcript (items 3 and 11).

Real HTTP: the real openai client against the loopback server.
"""

from __future__ import annotations

import gc
import warnings

import anyio
import pytest

from agentkit import Agent, ToolMessage, UserError, UserMessage, tool
from agentkit.events import ThinkingDelta
from agentkit.models import OpenAICompatModel
from agentkit.testing import (
    LoopbackServer,
    ScriptedModel,
    ScriptExhaustedError,
    Step,
    call,
    tool_step,
)

pytestmark = pytest.mark.anyio


async def wait_outcome(server: LoopbackServer, outcome: str, within: float) -> None:
    with anyio.fail_after(within):
        while server.requests[0].outcome != outcome:  # noqa: ASYNC110
            await anyio.sleep(0.02)


async def test_dropping_a_started_stream_warns_and_stops_the_request() -> None:
    step = Step(thinking="slow thought " * 200, text="never seen", chunk_delay=0.05)
    async with LoopbackServer([step]) as server:
        model = OpenAICompatModel("qwen3-max", base_url=server.base_url, api_key="k",
                                  profile="dashscope")
        try:
            stream = Agent(model).stream("go")
            async for event in stream:
                if isinstance(event, ThinkingDelta):
                    break  # Python cannot see this break; the stream is still open
            with pytest.warns(ResourceWarning, match="async with agent.stream"):
                del stream
                gc.collect()
            # stopped at once, not after the ~10 s the server would still have streamed
            await wait_outcome(server, "client_disconnected", within=3)
        finally:
            await model.aclose()


async def test_the_context_manager_form_does_not_warn() -> None:
    model = ScriptedModel([Step(thinking="a b c d e f", text="x")])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        async with Agent(model).stream("go") as stream:
            async for _ in stream:
                break
        del stream
        gc.collect()


@tool
async def sleepy() -> str:
    """Sleep a long time."""
    await anyio.sleep(30)
    return "late"


async def test_a_cancelled_run_keeps_its_transcript_in_the_callers_list() -> None:
    agent = Agent(ScriptedModel([tool_step(call("sleepy"))]), tools=[sleepy])
    transcript: list = []
    with anyio.move_on_after(0.3) as scope:
        await agent.run("go", transcript=transcript)
    assert scope.cancelled_caught
    assert isinstance(transcript[0], UserMessage)
    assert transcript[1].role == "assistant" and transcript[1].tool_calls[0].name == "sleepy"
    assert isinstance(transcript[2], ToolMessage) and transcript[2].is_error  # answered


async def test_script_exhausted_is_an_agent_error_with_the_transcript() -> None:
    agent = Agent(ScriptedModel([tool_step(call("sleepy"))]), tools=[tool(lambda: "x",
                                                                         name="sleepy")])
    with pytest.raises(ScriptExhaustedError) as info:
        await agent.run("go")
    from agentkit import AgentError

    assert isinstance(info.value, AgentError) and isinstance(info.value, AssertionError)
    assert [m.role for m in info.value.messages] == ["user", "assistant", "tool"]
    assert info.value.usage.requests == 1


async def test_missing_key_user_error_has_an_empty_transcript_and_usage(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DASHSCOPE_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(UserError, match="No API key") as info:
        await Agent().run("hi")
    assert info.value.messages == [] and info.value.usage is not None
    assert info.value.usage.requests == 0
