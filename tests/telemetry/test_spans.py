"""Span trees, attributes and metrics of real runs (loopback HTTP server, real openai
client), read back through the OpenTelemetry SDK's in-memory exporter and metric reader."""

from __future__ import annotations

import anyio
import pytest
from opentelemetry.trace import StatusCode
from pydantic import BaseModel

from agentkit import Agent, telemetry, tool
from agentkit.events import ThinkingDelta
from agentkit.retry import RetryPolicy
from agentkit.testing import Fault, LoopbackServer, ScriptedModel, Step, call, reply, tool_step

from .conftest import Captured, ModelFactory

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.02)
class Inside:
    """Tools that say, from inside, which span is current (one per parallel call)."""

    @staticmethod
    async def lookup(city: str) -> str:
        """Look a city up."""
        await anyio.sleep(0.05)  # both calls are in flight at once
        telemetry.annotate({"test.city": city})
        telemetry.add_event("test.looked_up", {"test.city": city})
        return f"{city}: sunny"

    @staticmethod
    def explode(reason: str) -> str:
        """Always fails."""
        raise RuntimeError("the tool broke")


def usage(prompt: int, completion: int, reasoning: int, cached: int = 0) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "reasoning_tokens": reasoning, "cached_tokens": cached}


async def test_multi_step_run_with_parallel_calls_retry_raise_and_invalid_call(
        otel: Captured, http_model: ModelFactory) -> None:
    steps = [
        Step(fault=Fault.http_error(503)),  # the first attempt fails, the retry succeeds
        Step(thinking="two lookups and a risky one",
             tool_calls=[call("lookup", {"city": "Paris"}), call("lookup", {"city": "Rome"}),
                         call("explode", {"reason": "x"}), call("lookup", {"town": "Oslo"})],
             usage=usage(100, 40, 25, cached=60)),
        Step(thinking="answer", text="Paris and Rome are sunny.", usage=usage(300, 10, 5)),
    ]
    async with LoopbackServer(steps) as server:
        agent = Agent(http_model(server), "Be brief.", [tool(Inside.lookup), tool(Inside.explode)],
                      name="weather", retry=FAST, temperature=0.3, max_tokens=512,
                      thinking_budget=2048)
        result = await agent.run("Weather?")
    assert result.output == "Paris and Rome are sunny."

    run = otel.one("invoke_agent")
    assert run.name == "invoke_agent weather" and run.parent is None
    assert run.status.status_code is StatusCode.UNSET
    chats = sorted(otel.named("chat "), key=lambda s: s.start_time or 0)
    tools = otel.named("execute_tool ")
    assert {s.context.span_id for s in otel.children(run)} == {
        s.context.span_id for s in chats + tools}
    assert len(otel.spans()) == 1 + 3 + 3  # the invalid call is not executed: no span

    # the chat spans: a failed attempt, its retry, the last step
    failed, retried, last = chats
    for span in chats:
        a = span.attributes or {}
        assert span.name == "chat qwen3-max"
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.provider.name"] == "dashscope" and a["agentkit.profile"] == "dashscope"
        assert a["gen_ai.request.model"] == "qwen3-max"
        assert a["gen_ai.request.temperature"] == 0.3 and a["gen_ai.request.max_tokens"] == 512
        assert a["agentkit.request.thinking"] is True
        assert a["agentkit.request.thinking_budget"] == 2048
    fa = failed.attributes or {}
    assert failed.status.status_code is StatusCode.ERROR
    assert fa["error.type"] == "503" and fa["http.response.status_code"] == 503
    assert fa["agentkit.request.retries"] == 0 and fa["agentkit.request.retryable"] is True
    assert [e.name for e in failed.events] == ["exception"]
    assert "gen_ai.usage.input_tokens" not in fa
    ra = retried.attributes or {}
    assert retried.status.status_code is StatusCode.UNSET
    assert ra["agentkit.request.retries"] == 1 and ra["agentkit.step"] == 1
    assert ra["gen_ai.response.model"] == "qwen3-max"
    assert str(ra["gen_ai.response.id"]).startswith("chatcmpl-")
    assert ra["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert (ra["gen_ai.usage.input_tokens"], ra["gen_ai.usage.output_tokens"],
            ra["gen_ai.usage.reasoning.output_tokens"],
            ra["gen_ai.usage.cache_read.input_tokens"]) == (100, 40, 25, 60)
    la = last.attributes or {}
    assert la["agentkit.step"] == 2 and la["agentkit.request.retries"] == 0
    assert la["gen_ai.response.finish_reasons"] == ("stop",)

    # the tool spans: parallel lookups each current inside their own tool; the raise
    by_city = {(s.attributes or {}).get("test.city"): s for s in tools if s.name.endswith("lookup")}
    assert set(by_city) == {"Paris", "Rome"}
    ids = {r.name + str(r.arguments): r.id for r in result.tool_calls}
    for city, span in by_city.items():
        a = span.attributes or {}
        assert a["gen_ai.tool.name"] == "lookup" and a["gen_ai.operation.name"] == "execute_tool"
        assert a["gen_ai.tool.call.id"] == ids["lookup" + str({"city": city})]
        assert a["agentkit.tool.is_error"] is False
        assert [e.name for e in span.events] == ["test.looked_up"]
        assert "gen_ai.tool.call.arguments" not in a and "gen_ai.tool.call.result" not in a
    paris, rome = by_city["Paris"], by_city["Rome"]
    assert paris.start_time < rome.end_time and rome.start_time < paris.end_time  # type: ignore[operator]
    boom = otel.one("execute_tool explode")
    ba = boom.attributes or {}
    assert boom.status.status_code is StatusCode.ERROR
    assert ba["error.type"] == "RuntimeError" and ba["agentkit.tool.is_error"] is True
    (exc_event,) = boom.events
    ea = exc_event.attributes or {}
    assert exc_event.name == "exception" and ea["exception.type"] == "RuntimeError"
    assert ea["exception.message"] == "the tool broke"
    assert "in explode" in str(ea["exception.stacktrace"])

    # the invalid call, and the run's own totals (apart from per-request usage)
    (invalid,) = [e for e in run.events if e.name == "agentkit.invalid_tool_call"]
    assert (invalid.attributes or {})["gen_ai.tool.name"] == "lookup"
    assert "agentkit.invalid_call.reason" not in (invalid.attributes or {})
    a = run.attributes or {}
    assert a["gen_ai.operation.name"] == "invoke_agent" and a["gen_ai.agent.name"] == "weather"
    assert a["agentkit.run.id"] == result.run_id
    assert (a["agentkit.run.steps"], a["agentkit.run.requests"]) == (2, 3)
    assert (a["agentkit.run.input_tokens"], a["agentkit.run.output_tokens"],
            a["agentkit.run.reasoning_tokens"], a["agentkit.run.cached_tokens"]) == (
        400, 50, 30, 60)
    assert (a["agentkit.run.tool_calls"], a["agentkit.run.tool_errors"],
            a["agentkit.run.invalid_calls"]) == (4, 1, 1)
    assert not any(k.startswith("gen_ai.usage.") for k in a)  # no double counting

    # the record keeps the exception type
    assert [r.error_type for r in result.tool_calls] == [None, None, "RuntimeError", None]

    # metrics
    m = otel.metrics()
    tokens = {(p.attributes["gen_ai.token.type"]): p.sum for p in m["gen_ai.client.token.usage"]}
    assert tokens == {"input": 400, "output": 50}
    durations = m["gen_ai.client.operation.duration"]
    by_op: dict[tuple[str, str | None], int] = {}
    for p in durations:
        key = (p.attributes["gen_ai.operation.name"], p.attributes.get("error.type"))
        by_op[key] = by_op.get(key, 0) + p.count
    assert by_op == {("chat", "503"): 1, ("chat", None): 2, ("invoke_agent", None): 1}
    tool_counts = {(p.attributes["gen_ai.tool.name"], p.attributes.get("error.type")): p.count
                   for p in m["agentkit.tool.duration"]}
    assert tool_counts == {("lookup", None): 2, ("explode", "RuntimeError"): 1}
    (errors,) = m["agentkit.tool.errors"]
    assert errors.value == 1 and errors.attributes["error.type"] == "RuntimeError"


class Answer(BaseModel):
    city: str
    degrees: int


async def test_structured_output(otel: Captured) -> None:
    model = ScriptedModel([reply("no json here"),
                           tool_step(call("final_result", {"city": "Oslo", "degrees": 3}))])
    result = await Agent(model, "Answer in JSON.", output_type=Answer).run("Weather?")
    assert result.output == Answer(city="Oslo", degrees=3)
    run = otel.one("invoke_agent")
    a = run.attributes or {}
    assert a["agentkit.run.output_type"] == "Answer"
    assert a["agentkit.run.steps"] == 2 and run.status.status_code is StatusCode.UNSET
    assert len(otel.named("chat ")) == 2 and otel.named("execute_tool") == []
    assert "gen_ai.output.messages" not in a


async def test_cancelled_run_ends_its_spans_with_error_status(otel: Captured) -> None:
    async def slow(seconds: float) -> str:
        """Sleeps."""
        await anyio.sleep(seconds)
        return "woke"

    model = ScriptedModel([tool_step(call("slow", {"seconds": 30}))])
    with anyio.move_on_after(0.3) as scope:
        await Agent(model, None, [tool(slow)]).run("go")
    assert scope.cancelled_caught
    run, tool_span, chat = otel.one("invoke_agent"), otel.one("execute_tool"), otel.one("chat")
    assert chat.status.status_code is StatusCode.UNSET  # it had finished
    for span in (run, tool_span):
        assert span.end_time is not None
        assert span.status.status_code is StatusCode.ERROR
        assert (span.attributes or {})["error.type"] == "cancelled"
    assert (otel.metrics()["agentkit.tool.errors"][0].attributes["error.type"]) == "cancelled"


async def test_leaving_the_stream_midway_ends_the_chat_span(otel: Captured,
                                                           http_model: ModelFactory) -> None:
    step = Step(thinking="slow thought " * 40, text="never seen", chunk_delay=0.02)
    async with LoopbackServer([step]) as server:
        stream = Agent(http_model(server)).stream("go")
        async with stream:
            async for event in stream:
                if isinstance(event, ThinkingDelta):
                    break
    chat, run = otel.one("chat"), otel.one("invoke_agent")
    for span in (chat, run):
        assert span.status.status_code is StatusCode.ERROR
        assert (span.attributes or {})["error.type"] == "cancelled"
    assert chat.parent is not None and chat.parent.span_id == run.context.span_id


async def test_failed_run_records_the_error(otel: Captured) -> None:
    model = ScriptedModel([tool_step(call("nope", {}))] * 3)
    with pytest.raises(Exception, match="invalid tool calls"):
        await Agent(model, None, [], max_invalid_calls=3).run("go")
    run = otel.one("invoke_agent")
    a = run.attributes or {}
    assert run.status.status_code is StatusCode.ERROR
    assert a["error.type"] == "agentkit.errors.InvalidToolCallsExceeded"
    assert a["agentkit.run.invalid_calls"] == 3
    assert [e.name for e in run.events].count("agentkit.invalid_tool_call") == 3


async def test_off_switches(otel: Captured) -> None:
    quiet = Agent(ScriptedModel([reply("hi")]), instrument=False)
    assert (await quiet.run("x")).output == "hi"
    assert quiet.replace(name="other").instrument is False
    assert otel.spans() == []
    telemetry.uninstrument()
    assert not telemetry.is_instrumented()
    assert (await Agent(ScriptedModel([reply("hi")])).run("x")).output == "hi"
    assert otel.spans() == []
    with telemetry.span("nothing") as span:  # the helpers are harmless while off
        span.set_attribute("a", 1)
        telemetry.annotate({"a": 1})
        telemetry.add_event("e")
    assert otel.spans() == []


async def test_span_helper_nests_and_records_errors(otel: Captured) -> None:
    with pytest.raises(KeyError), telemetry.span("outer", {"k": "v"}), \
            telemetry.span("inner") as inner:
        inner.set_attribute("x", 1)
        raise KeyError("missing")
    outer_s, inner_s = otel.one("outer"), otel.one("inner")
    assert inner_s.parent is not None and inner_s.parent.span_id == outer_s.context.span_id
    assert (inner_s.attributes or {})["error.type"] == "KeyError"
    assert inner_s.status.status_code is StatusCode.ERROR
    assert (outer_s.attributes or {})["k"] == "v"


async def test_timeouts_and_runs_started_while_handling_an_exception(otel: Captured) -> None:
    async def slow() -> str:
        """Too slow."""
        await anyio.sleep(5)
        return "late"

    def fine() -> str:
        """Quick."""
        return "ok"

    model = ScriptedModel([tool_step(call("slow", {}), call("fine", {})), reply("done")])
    try:
        raise KeyError("an exception the caller is handling")
    except KeyError:  # a run inside an except block: its calls must not look failed
        result = await Agent(model, None, [tool(slow), tool(fine)], tool_timeout=0.1,
                               tool_concurrency=1).run("go")
    assert [(r.name, r.is_error, r.error_type) for r in result.tool_calls] == [
        ("slow", True, "TimeoutError"), ("fine", False, None)]
    slow_span, fine_span = otel.one("execute_tool slow"), otel.one("execute_tool fine")
    assert slow_span.status.status_code is StatusCode.ERROR
    assert (slow_span.attributes or {})["error.type"] == "TimeoutError"
    assert fine_span.status.status_code is StatusCode.UNSET
    assert "error.type" not in (fine_span.attributes or {})
    assert otel.one("invoke_agent").status.status_code is StatusCode.UNSET
