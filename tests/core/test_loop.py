"""The agent loop on in-process scripted models: tool flow, validation, errors, output."""

from __future__ import annotations

import json

import anyio
import pytest
from pydantic import BaseModel

from agentkit import (
    Agent,
    InvalidToolCallsExceeded,
    RunContext,
    StopRun,
    ToolMessage,
    UserMessage,
    dump_messages,
    load_messages,
    tool,
)
from agentkit.events import (
    InvalidToolCall,
    RunFinished,
    StepFinished,
    TextDelta,
    ThinkingDelta,
    ToolCallArgumentsDelta,
    ToolCallReady,
    ToolCallStarted,
    ToolResult,
)
from agentkit.testing import ScriptedModel, Step, call, reply, tool_step
from agentkit.wire import NUDGE_REASONING_ONLY

pytestmark = pytest.mark.anyio


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
async def slow_echo(text: str, delay: float = 0.05) -> str:
    """Echo after a delay."""
    await anyio.sleep(delay)
    return text


async def collect(agent: Agent, prompt: str, **kw: object) -> list[object]:
    return [e async for e in agent.stream(prompt, **kw)]


async def test_tool_round_trip_events_and_transcript() -> None:
    model = ScriptedModel([
        tool_step(call("add", {"a": 2, "b": 3}), thinking="I should add."),
        reply("The sum is 5.", thinking="Done."),
    ])
    agent = Agent(model, "You add.", [add])
    events = await collect(agent, "2+3?")
    kinds = [type(e) for e in events]
    assert kinds[0] is ThinkingDelta
    assert ToolCallStarted in kinds and ToolCallArgumentsDelta in kinds
    ready = next(e for e in events if isinstance(e, ToolCallReady))
    assert ready.arguments == {"a": 2, "b": 3}
    res = next(e for e in events if isinstance(e, ToolResult))
    assert res.content == "5" and not res.is_error and res.id == ready.id
    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "I should add.Done."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "The sum is 5."
    assert sum(isinstance(e, StepFinished) for e in events) == 2
    final = events[-1]
    assert isinstance(final, RunFinished)
    result = final.result
    assert result.output == "The sum is 5." and result.steps == 2
    assert [m.role for m in result.messages] == ["system", "user", "assistant", "tool",
                                                 "assistant"]
    assert result.tool_calls[0].name == "add" and result.tool_calls[0].result == "5"
    assert result.usage.requests == 2 and result.usage.output_tokens > 0
    # the model saw the tool result on its second request
    second = model.requests[1].messages
    assert isinstance(second[-1], ToolMessage) and second[-1].content == "5"
    model.assert_complete()
    # events serialise to JSON lines
    for e in events:
        assert json.loads(e.model_dump_json())["type"]


async def test_parallel_calls_run_concurrently_results_in_call_order() -> None:
    model = ScriptedModel([
        tool_step(call("slow_echo", {"text": "first", "delay": 0.3}),
                  call("slow_echo", {"text": "second", "delay": 0.01}),
                  call("slow_echo", {"text": "third", "delay": 0.15})),
        reply("ok"),
    ])
    agent = Agent(model, None, [slow_echo])
    t0 = anyio.current_time()
    result = await agent.run("go")
    elapsed = anyio.current_time() - t0
    assert elapsed < 0.42, "calls must run concurrently"
    tool_msgs = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert [m.content for m in tool_msgs] == ["first", "second", "third"]
    ids = [tc.id for tc in result.messages[1].tool_calls]  # type: ignore[union-attr]
    assert [m.tool_call_id for m in tool_msgs] == ids


async def test_tool_concurrency_cap() -> None:
    running = 0
    peak = 0

    @tool
    async def work(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.02)
        running -= 1
        return i

    model = ScriptedModel([tool_step(*[call("work", {"i": i}) for i in range(6)]), reply("ok")])
    await Agent(model, None, [work], tool_concurrency=2).run("go")
    assert peak == 2


async def test_invalid_calls_are_fed_back_not_run() -> None:
    ran: list[int] = []

    @tool
    def record(n: int) -> str:
        """Record n."""
        ran.append(n)
        return "ok"

    model = ScriptedModel([
        tool_step(call("record", {"n": "seven"}), call("nosuch", {}), call("record", '{"n": 1')),
        tool_step(call("record", {"n": 7})),
        reply("done"),
    ])
    events = await collect(Agent(model, None, [record]), "go")
    invalid = [e for e in events if isinstance(e, InvalidToolCall)]
    assert len(invalid) == 3
    assert "at n: 'seven' is not of type 'integer'" in invalid[0].error
    assert "unknown tool 'nosuch'" in invalid[1].error and "record" in invalid[1].error
    assert ran == [7]
    second_request = model.requests[1].messages
    tool_msgs = [m for m in second_request if isinstance(m, ToolMessage)]
    assert len(tool_msgs) == 2 and all(m.is_error for m in tool_msgs)
    assert "not of type 'integer'" in tool_msgs[0].content
    # the broken-JSON call is not replayed; the model is told about it in a user message
    assistant = next(m for m in second_request if m.role == "assistant")
    assert [tc.name for tc in assistant.tool_calls] == ["record", "nosuch"]
    assert isinstance(second_request[-1], UserMessage)
    assert "`record` was not run: arguments are not a JSON object" in second_request[-1].content


async def test_consecutive_invalid_budget_ends_run_with_last_problem() -> None:
    model = ScriptedModel([tool_step(call("add", {"a": 1})) for _ in range(3)])
    agent = Agent(model, None, [add])
    with pytest.raises(InvalidToolCallsExceeded) as err:
        await agent.run("go")
    assert "'b' is a required property" in err.value.last_problem
    msgs = err.value.messages
    assert isinstance(msgs[-1], ToolMessage) and msgs[-1].is_error
    model.assert_complete()


async def test_invalid_streak_resets_after_valid_call() -> None:
    bad, good = tool_step(call("add", {"a": 1})), tool_step(call("add", {"a": 1, "b": 1}))
    model = ScriptedModel([bad, bad, good, bad, bad, reply("ok")])
    result = await Agent(model, None, [add]).run("go")
    assert result.output == "ok"


async def test_tool_exception_becomes_error_result_and_run_goes_on() -> None:
    @tool
    def explode() -> str:
        """Always fails."""
        raise RuntimeError("disk on fire")

    model = ScriptedModel([tool_step(call("explode")), reply("recovered")])
    result = await Agent(model, None, [explode]).run("go")
    assert result.output == "recovered"
    assert result.tool_calls[0].is_error
    assert result.tool_calls[0].result == "Error: RuntimeError: disk on fire"


async def test_stop_run_from_tool() -> None:
    @tool
    def finish(answer: str) -> str:
        """End the run with an answer."""
        raise StopRun(output={"answer": answer})

    model = ScriptedModel([tool_step(call("finish", {"answer": "42"}))])
    result = await Agent(model, None, [finish]).run("go")
    assert result.output == {"answer": "42"}
    model.assert_complete()


async def test_sync_tool_runs_in_worker_thread_and_context_is_passed() -> None:
    import threading

    seen: dict[str, object] = {}

    @tool
    def who(ctx: RunContext[str]) -> str:
        """Report the thread."""
        seen["thread"] = threading.current_thread().name
        seen["deps"] = ctx.deps
        seen["step"] = ctx.step

        seen["call_id"] = ctx.tool_call_id
        return "ok"

    model = ScriptedModel([tool_step(call("who", id="call_who")), reply("done")])
    await Agent(model, None, [who]).run("go", deps="my-deps")
    assert seen["thread"] != threading.main_thread().name
    assert seen["deps"] == "my-deps" and seen["step"] == 1
    assert seen["call_id"] == "call_who"


async def test_tool_concurrency_one_runs_in_call_order() -> None:
    order: list[str] = []

    @tool
    async def note(name: str, delay: float) -> str:
        """Note a name after a delay."""
        await anyio.sleep(delay)
        order.append(name)
        return name

    model = ScriptedModel([tool_step(call("note", {"name": "a", "delay": 0.05}),
                                     call("note", {"name": "b", "delay": 0.0}),
                                     call("note", {"name": "c", "delay": 0.02})), reply("ok")])
    await Agent(model, None, [note], tool_concurrency=1).run("go")
    assert order == ["a", "b", "c"]


class City(BaseModel):
    name: str
    population: int


async def test_structured_output_through_final_tool() -> None:
    model = ScriptedModel([
        tool_step(call("final_result", {"name": "Paris", "population": "many"})),
        tool_step(call("final_result", {"name": "Paris", "population": 2100000})),
    ])
    agent = Agent(model, "Answer about cities.", [], output_type=City)
    result = await agent.run("Biggest French city?")
    assert result.output == City(name="Paris", population=2100000)
    spec_names = [t.name for t in model.requests[0].tools]
    assert spec_names == ["final_result"]
    assert "final_result" in model.requests[0].messages[0].content  # instructions mention it


async def test_structured_output_plain_json_text_and_scalar_types() -> None:
    model = ScriptedModel([reply('```json\n{"name": "Rome", "population": 2800000}\n```')])
    result = await Agent(model, None, [], output_type=City).run("x")
    assert result.output.name == "Rome"
    model2 = ScriptedModel([reply("not a number"), tool_step(call("final_result", {"result": 7}))])
    result2 = await Agent(model2, None, [], output_type=int).run("x")
    assert result2.output == 7


async def test_continue_conversation_with_history_and_json_round_trip() -> None:
    model = ScriptedModel([tool_step(call("add", {"a": 1, "b": 1})), reply("2"), reply("3")])
    agent = Agent(model, "sys", [add])
    first = await agent.run("1+1?")
    blob = json.dumps(dump_messages(first.messages))
    history = load_messages(blob)
    assert history == first.messages
    second = await agent.run("and +1?", history=history)
    sent = model.requests[2].messages
    assert [m.role for m in sent] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert second.output == "3"
    assert sum(1 for m in sent if m.role == "system") == 1


async def test_reasoning_only_reply_gets_one_nudge() -> None:
    from agentkit import ModelBehaviorError

    model = ScriptedModel([Step(thinking="I will call add..."), reply("5")])
    result = await Agent(model, None, [add]).run("go")
    assert result.output == "5"
    assert model.requests[1].messages[-1].content == NUDGE_REASONING_ONLY
    model2 = ScriptedModel([Step(thinking="hmm"), Step(thinking="hmm again")])
    with pytest.raises(ModelBehaviorError, match="reasoning only"):
        await Agent(model2, None, [add]).run("go")


async def test_agent_is_immutable_and_shared_by_concurrent_runs() -> None:
    from agentkit.testing import FunctionModel

    def respond(messages, request):  # type: ignore[no-untyped-def]
        last = messages[-1]
        if isinstance(last, ToolMessage):
            return reply(f"result {last.content}")
        n = int(last.content)
        return tool_step(call("add", {"a": n, "b": n}))

    agent = Agent(FunctionModel(respond), None, [add])
    with pytest.raises(AttributeError):
        agent.instructions = "changed"  # type: ignore[misc]
    results: dict[int, str] = {}

    async def one(i: int) -> None:
        results[i] = (await agent.run(str(i))).output

    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(one, i)
    assert results == {i: f"result {2 * i}" for i in range(50)}


def test_run_sync() -> None:
    model = ScriptedModel([reply("hello")])
    assert Agent(model).run_sync("hi").output == "hello"


async def test_run_sync_inside_loop_is_a_clear_error() -> None:
    from agentkit import UserError

    with pytest.raises(UserError, match="inside an event loop"):
        Agent(ScriptedModel([reply("x")])).run_sync("hi")


def test_unknown_setting_rejected() -> None:
    with pytest.raises(TypeError, match="max_stepz"):
        Agent(ScriptedModel([]), max_stepz=3)


async def test_unknown_tool_handler_answers_like_an_environment() -> None:
    seen: list[tuple[str, dict[str, object], str | None]] = []

    def env_answer(ctx: RunContext[None], name: str, arguments: dict[str, object]) -> str:
        seen.append((name, arguments, ctx.tool_call_id))
        return f"Error: Tool '{name}' not found."

    model = ScriptedModel([tool_step(call("teleport", {"to": "Mars"}, id="c1")), reply("sorry")])
    result = await Agent(model, None, [add], unknown_tool_handler=env_answer).run("go")
    assert seen == [("teleport", {"to": "Mars"}, "c1")]
    msg = model.requests[1].messages[-1]
    assert isinstance(msg, ToolMessage) and msg.is_error
    assert msg.content == "Error: Tool 'teleport' not found."
    assert result.tool_calls[0].is_error


async def test_reasoning_only_nudges_budget_zero() -> None:
    from agentkit import ModelBehaviorError

    model = ScriptedModel([Step(thinking="hmm")])
    with pytest.raises(ModelBehaviorError, match="1 time"):
        await Agent(model, None, [add], reasoning_only_nudges=0).run("go")


async def test_tool_raising_its_own_timeout_error_is_a_tool_error() -> None:
    @tool
    async def flaky() -> str:
        """Times out internally."""
        raise TimeoutError("upstream took too long")

    for timeout in (None, 5.0):
        model = ScriptedModel([tool_step(call("flaky")), reply("ok")])
        result = await Agent(model, None, [flaky], tool_timeout=timeout).run("go")
        assert result.tool_calls[0].result == "Error: TimeoutError: upstream took too long"


async def test_stop_run_cancels_sibling_tools() -> None:
    @tool
    def stop() -> str:
        """Stop."""
        raise StopRun(output="stopped")

    t0 = anyio.current_time()
    model = ScriptedModel([tool_step(call("slow_echo", {"text": "x", "delay": 5}), call("stop"))])
    result = await Agent(model, None, [slow_echo, stop]).run("go")
    assert result.output == "stopped" and anyio.current_time() - t0 < 2
    assert result.tool_calls[0].is_error and "stopped the run" in result.tool_calls[0].result


class Trip(BaseModel):
    from_: str = __import__("pydantic").Field(alias="from")
    to: str


async def test_structured_output_with_aliases_and_final_not_counted_as_tool_call() -> None:
    model = ScriptedModel([tool_step(call("add", {"a": 1, "b": 1})),
                           tool_step(call("final_result", {"from": "Paris", "to": "Rome"}))])
    result = await Agent(model, None, [add], output_type=Trip, max_tool_calls=1).run("x")
    assert result.output == Trip(**{"from": "Paris", "to": "Rome"})


async def test_invalid_budget_counts_replies_not_calls() -> None:
    bad3 = tool_step(call("add", {"a": 1}), call("add", {}), call("nosuch"))
    model = ScriptedModel([bad3, bad3, reply("ok")])
    assert (await Agent(model, None, [add]).run("go")).output == "ok"
