"""Tool retries (item 8) and tool results emitted as parallel calls complete (item 10)."""

from __future__ import annotations

import anyio
import pytest

from agentkit import Agent, ToolMessage, ToolRetriesExceeded, ToolRetry, tool
from agentkit.events import ToolResult
from agentkit.testing import ScriptedModel, call, reply, tool_step

pytestmark = pytest.mark.anyio


@tool(retries=2)
def sqrt(n: float) -> float:
    """Square root of a non-negative number."""
    if n < 0:
        raise ToolRetry("n must not be negative")
    return float(n) ** 0.5


@tool
def broken() -> str:
    """Always fails (an ordinary error, not a retry)."""
    raise RuntimeError("disk on fire")


async def test_tool_retry_tells_the_model_and_counts_per_tool() -> None:
    model = ScriptedModel([
        tool_step(call("sqrt", {"n": -4})),
        tool_step(call("sqrt", {"n": -4})),
        tool_step(call("sqrt", {"n": 4})),
        reply("2"),
    ])
    result = await Agent(model, tools=[sqrt]).run("root of -4?")
    assert result.output == "2"
    answers = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert [a.is_error for a in answers] == [True, True, False]
    assert answers[0].content.startswith("n must not be negative")
    assert "call 'sqrt' again" in answers[0].content


async def test_too_many_retries_in_a_row_end_the_run_with_the_transcript() -> None:
    model = ScriptedModel([tool_step(call("sqrt", {"n": -1})) for _ in range(3)])
    with pytest.raises(ToolRetriesExceeded) as info:
        await Agent(model, tools=[sqrt]).run("go")
    err = info.value
    assert err.tool == "sqrt" and "n must not be negative" in err.last_problem
    assert sum(isinstance(m, ToolMessage) for m in err.messages) == 3
    assert err.usage.requests == 3


async def test_retries_are_counted_apart_from_other_errors() -> None:
    # ordinary exceptions never end the run through the retry budget (retries=1 default)
    @tool
    def picky(x: int) -> int:
        """Retry once, then succeed."""
        if x < 0:
            raise ToolRetry("x must be >= 0")
        return x

    model = ScriptedModel([
        tool_step(call("broken"), call("picky", {"x": -1})),
        tool_step(call("broken"), call("picky", {"x": 1})),
        tool_step(call("broken"), call("picky", {"x": -1})),
        reply("gave up on broken"),
    ])
    result = await Agent(model, tools=[broken, picky]).run("go")
    assert result.output == "gave up on broken"
    contents = [m.content for m in result.messages if isinstance(m, ToolMessage)]
    assert contents.count("Error: RuntimeError: disk on fire") == 3


def test_retries_must_be_a_count() -> None:
    with pytest.raises(ValueError, match="retries"):
        tool(retries=-1)(lambda: None)


@tool
async def wait(seconds: float, label: str) -> str:
    """Sleep, then return the label."""
    await anyio.sleep(seconds)
    return label


async def test_results_are_emitted_as_calls_finish_and_kept_in_call_order() -> None:
    model = ScriptedModel([
        tool_step(call("wait", {"seconds": 0.6, "label": "slow"}),
                  call("wait", {"seconds": 0.0, "label": "fast"})),
        reply("done"),
    ])
    agent = Agent(model, tools=[wait])
    seen: list[tuple[str, float]] = []
    start = anyio.current_time()
    async with agent.stream("go") as stream:
        async for event in stream:
            if isinstance(event, ToolResult):
                seen.append((event.content, anyio.current_time() - start))
    assert [label for label, _ in seen] == ["fast", "slow"]  # completion order
    assert seen[0][1] < 0.4 <= seen[1][1]  # the fast one did not wait for the slow one
    assert stream.result is not None
    answers = [m.content for m in stream.result.messages if isinstance(m, ToolMessage)]
    assert answers == ["slow", "fast"]  # the transcript keeps call order
    assert [r.result for r in stream.result.tool_calls] == ["slow", "fast"]


async def test_leaving_during_parallel_tools_cancels_them_and_answers_every_call() -> None:
    cancelled: list[str] = []

    @tool
    async def hang(label: str) -> str:
        """Wait forever."""
        try:
            await anyio.sleep(30)
        except anyio.get_cancelled_exc_class():
            cancelled.append(label)
            raise
        return label

    model = ScriptedModel([tool_step(call("hang", {"label": "a"}), call("hang", {"label": "b"}),
                                     call("wait", {"seconds": 0, "label": "quick"}))])
    agent = Agent(model, tools=[hang, wait])
    async with agent.stream("go") as stream:
        async for event in stream:
            if isinstance(event, ToolResult):
                break  # the quick one arrived; the others are still running
    assert sorted(cancelled) == ["a", "b"]
    answers = {m.tool_call_id: m.content for m in stream.messages if isinstance(m, ToolMessage)}
    assert len(answers) == 3
