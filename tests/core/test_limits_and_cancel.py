"""Limits, retries and cancellation on in-process scripted models."""

from __future__ import annotations

import anyio
import pytest

from agentkit import Agent, LimitExceeded, ModelAPIError, ToolMessage, tool
from agentkit.events import RequestRetry, ToolCallReady
from agentkit.retry import RetryPolicy
from agentkit.testing import Fault, ScriptedModel, Step, call, reply, tool_step

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(max_retries=3, base_delay=0.001, max_delay=0.01)


@tool
def ping() -> str:
    """Ping."""
    return "pong"


@tool
async def sleepy(seconds: float) -> str:
    """Sleep."""
    await anyio.sleep(seconds)
    return "woke"


async def test_max_steps() -> None:
    model = ScriptedModel([tool_step(call("ping")) for _ in range(3)])
    with pytest.raises(LimitExceeded) as err:
        await Agent(model, None, [ping], max_steps=2).run("go")
    assert err.value.limit == "max_steps"
    assert [m.role for m in err.value.messages][-2:] == ["assistant", "tool"]


async def test_max_tool_calls_answers_every_call() -> None:
    model = ScriptedModel([tool_step(call("ping"), call("ping")), tool_step(call("ping"))])
    with pytest.raises(LimitExceeded) as err:
        await Agent(model, None, [ping], max_tool_calls=2).run("go")
    assert err.value.limit == "max_tool_calls"
    last = err.value.messages[-1]
    assert isinstance(last, ToolMessage) and last.is_error and "limit" in last.content


async def test_token_budget() -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 60}
    model = ScriptedModel([Step(tool_calls=[call("ping")], usage=usage) for _ in range(3)])
    with pytest.raises(LimitExceeded) as err:
        await Agent(model, None, [ping], token_budget=250).run("go")
    assert err.value.limit == "token_budget"
    assert err.value.usage is not None and err.value.usage.total_tokens == 320


async def test_wall_clock_timeout_during_model_stream() -> None:
    model = ScriptedModel([Step(text="slow", delay=5.0)])
    t0 = anyio.current_time()
    with pytest.raises(LimitExceeded) as err:
        await Agent(model, None, [], timeout=0.2).run("go")
    assert err.value.limit == "timeout" and anyio.current_time() - t0 < 2.0


async def test_wall_clock_timeout_during_tool() -> None:
    model = ScriptedModel([tool_step(call("sleepy", {"seconds": 5}))])
    with pytest.raises(LimitExceeded) as err:
        await Agent(model, None, [sleepy], timeout=0.3).run("go")
    assert err.value.limit == "timeout"
    assert isinstance(err.value.messages[-1], ToolMessage)


async def test_tool_timeout_is_an_error_result() -> None:
    model = ScriptedModel([tool_step(call("sleepy", {"seconds": 5})), reply("gave up")])
    result = await Agent(model, None, [sleepy], tool_timeout=0.1).run("go")
    assert result.output == "gave up"
    assert result.tool_calls[0].is_error and "timed out after 0.1s" in result.tool_calls[0].result


async def test_retries_on_retryable_faults_then_success() -> None:
    model = ScriptedModel([
        Step(fault=Fault.http_error(429, headers={"Retry-After": "0"})),
        Step(fault=Fault.http_error(500)),
        Step(text="partial answer", fault=Fault.cut_after(3)),
        reply("finally"),
    ])
    events = [e async for e in Agent(model, None, [], retry=FAST).stream("go")]
    retries = [e for e in events if isinstance(e, RequestRetry)]
    assert [r.attempt for r in retries] == [1, 2, 3]
    assert retries[0].delay == 0
    result = events[-1].result  # type: ignore[union-attr]
    assert result.output == "finally" and result.usage.requests == 4


async def test_non_retryable_error_raises_with_transcript() -> None:
    model = ScriptedModel([tool_step(call("ping")), Step(fault=Fault.http_error(400))])
    with pytest.raises(ModelAPIError) as err:
        await Agent(model, None, [ping], retry=FAST).run("go")
    assert err.value.status_code == 400 and not err.value.retryable
    assert [m.role for m in err.value.messages] == ["user", "assistant", "tool"]


async def test_retries_exhausted() -> None:
    model = ScriptedModel([Step(fault=Fault.http_error(503)) for _ in range(4)])
    with pytest.raises(ModelAPIError) as err:
        await Agent(model, None, [], retry=FAST).run("go")
    assert err.value.status_code == 503
    model.assert_complete()


async def test_leaving_stream_early_mid_model_stream() -> None:
    model = ScriptedModel([Step(thinking="a long thought " * 50, text="x", chunk_delay=0.01)])
    stream = Agent(model).stream("go")
    async with stream:
        async for _ in stream:
            break
    # the run stopped; nothing hangs and the transcript is consistent
    assert [m.role for m in stream.messages] == ["user"]


async def test_cancel_mid_tool_leaves_consistent_transcript() -> None:
    started = anyio.Event()
    cancelled = anyio.Event()

    @tool
    async def hang() -> str:
        """Hang."""
        started.set()
        try:
            await anyio.sleep(30)
        finally:
            cancelled.set()
        return "never"

    model = ScriptedModel([tool_step(call("hang"))])
    stream = Agent(model, None, [hang]).stream("go")
    with anyio.move_on_after(5):
        async with anyio.create_task_group() as tg:
            async def consume() -> None:
                async for _ in stream:
                    pass

            tg.start_soon(consume)
            await started.wait()
            tg.cancel_scope.cancel()
    assert cancelled.is_set()
    roles = [m.role for m in stream.messages]
    assert roles == ["user", "assistant", "tool"]
    assert "interrupted" in stream.messages[-1].content  # type: ignore[union-attr]


async def test_break_after_tool_call_ready_answers_the_call() -> None:
    model = ScriptedModel([tool_step(call("ping"))])
    stream = Agent(model, None, [ping]).stream("go")
    async with stream:
        async for event in stream:
            if isinstance(event, ToolCallReady):
                break
    assert [m.role for m in stream.messages] == ["user", "assistant", "tool"]
