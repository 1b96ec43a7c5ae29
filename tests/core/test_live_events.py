"""Events emitted from inside running tools (`ctx.emit`) reach the stream while they run."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from agentkit import Agent, RunContext, tool
from agentkit.events import ToolProgress, ToolResult
from agentkit.testing import ScriptedModel, call, reply, tool_step

pytestmark = pytest.mark.anyio


async def test_progress_is_streamed_before_the_tool_finishes() -> None:
    gate = anyio.Event()

    @tool
    async def work(ctx: RunContext[Any]) -> str:
        """Report, then wait until the consumer has seen the report."""
        ctx.emit(ToolProgress(id=ctx.tool_call_id or "", progress=1, total=2, message="half"))
        await gate.wait()  # only the consumer can open it: proves the event was live
        return "finished"

    model = ScriptedModel([tool_step(call("work", id="w"), call("work", id="w2")), reply("ok")])
    seen: list[Any] = []
    with anyio.fail_after(10):
        async for event in Agent(model, tools=[work]).stream("go"):
            seen.append(event)
            if isinstance(event, ToolProgress) and sum(
                    isinstance(e, ToolProgress) for e in seen) == 2:
                gate.set()
    progress = [(e.id, e.progress, e.total, e.message) for e in seen
                if isinstance(e, ToolProgress)]
    assert sorted(progress) == [("w", 1, 2, "half"), ("w2", 1, 2, "half")]
    results = [e.content for e in seen if isinstance(e, ToolResult)]
    assert results == ["finished", "finished"]


async def test_leaving_the_stream_during_a_tool_cancels_it() -> None:
    state: dict[str, bool] = {}

    @tool
    async def forever(ctx: RunContext[Any]) -> str:
        """Report once, then never finish."""
        ctx.emit(ToolProgress(id=ctx.tool_call_id or "", progress=0))
        try:
            await anyio.sleep_forever()
        finally:
            state["cancelled"] = True
        return "never"

    stream = Agent(ScriptedModel([tool_step(call("forever")), reply("x")]),
                   tools=[forever]).stream("go")
    async with stream:
        async for event in stream:
            if isinstance(event, ToolProgress):
                break
    assert state == {"cancelled": True}
    assert stream.messages[-1].content.startswith("Error: not run")  # the call is answered


async def test_emit_outside_a_tool_phase_is_dropped() -> None:
    from agentkit.live import LiveEvents

    live: LiveEvents[int] = LiveEvents()
    live.emit("lost")  # nobody streams: dropped, never raises

    async def work() -> int:
        live.emit("kept")
        return 7

    got = [e async for e in live.during(work())]
    assert (got, live.result) == (["kept"], 7)
