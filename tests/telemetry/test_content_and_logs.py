"""No span, metric or log record carries message content unless asked, nor ever a secret;
the logging contract (levels, logger names, tracebacks)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from agentkit import Agent, tool
from agentkit.retry import RetryPolicy
from agentkit.testing import Fault, LoopbackServer, Step, call, reply, tool_step

from .conftest import Captured, ModelFactory

pytestmark = pytest.mark.anyio

API_KEY = "sk-FAKE-agentkit-3f9c1e0b7d"
PROMPT = "PROMPT-MARK-91 where is my parcel"
SYSTEM = "SYSTEM-MARK-17 you are a courier"
THINKING = "THINK-MARK-42 check the tracker"
ARGUMENT = "ARG-MARK-55"
RESULT = "RESULT-MARK-66"
ANSWER = "ANSWER-MARK-77 it is in Lyon"
CONTENT = (PROMPT, SYSTEM, THINKING, ARGUMENT, RESULT, ANSWER)


@tool
def track(parcel: str) -> str:
    """Track a parcel."""
    if parcel == "broken":
        raise LookupError("tracker offline")
    return f"{RESULT} for {parcel}"


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every record under `agentkit`, DEBUG and up."""
    got: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record)

    logger = logging.getLogger("agentkit")
    handler, level = Keep(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield got
    logger.removeHandler(handler)
    logger.setLevel(level)


def text_of(record: logging.LogRecord) -> str:
    out = record.getMessage()
    if record.exc_info:
        out += logging.Formatter().formatException(record.exc_info)
    return out


def telemetry_text(otel: Captured) -> str:
    """Everything the spans and metrics say, as one string."""
    parts: list[Any] = []
    for s in otel.spans():
        parts += [s.name, dict(s.attributes or {}), s.status.description,
                  [(e.name, dict(e.attributes or {})) for e in s.events],
                  dict(s.resource.attributes)]
    data = otel.reader.get_metrics_data()
    parts.append(data.to_json() if data is not None else "")
    return orjson.dumps(parts, default=str).decode()


async def run_once(server: LoopbackServer, http_model: ModelFactory) -> None:
    server.add_steps(
        Step(fault=Fault.http_error(429, headers={"Retry-After": "0"})),
        tool_step(call("track", {"parcel": ARGUMENT}), call("track", {"parcel": "broken"}),
                  call("track", {"parcel": 7}), thinking=THINKING),
        reply(ANSWER, thinking=THINKING))
    model = http_model(server, api_key=API_KEY)
    agent = Agent(model, SYSTEM, [track],
                  retry=RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.02))
    assert (await agent.run(PROMPT)).output == ANSWER
    assert server.requests[0].headers.get("authorization") == f"Bearer {API_KEY}"


async def test_nothing_carries_content_or_secrets_by_default(
        otel: Captured, records: list[logging.LogRecord], http_model: ModelFactory) -> None:
    async with LoopbackServer() as server:
        await run_once(server, http_model)
    said = telemetry_text(otel)
    assert "invoke_agent" in said and "execute_tool track" in said
    assert API_KEY not in said and "Bearer" not in said
    for mark in CONTENT:
        assert mark not in said, mark
    assert records, "the run logged nothing"
    for record in records:
        text = text_of(record)
        assert API_KEY not in text and "Bearer" not in text, text
        if record.levelno > logging.DEBUG:
            assert not any(m in text for m in CONTENT), text


async def test_content_only_when_asked_and_clipped(
        otel_content: Captured, records: list[logging.LogRecord],
        http_model: ModelFactory) -> None:
    async with LoopbackServer() as server:
        await run_once(server, http_model)
    said = telemetry_text(otel_content)
    assert API_KEY not in said and "Bearer" not in said
    for mark in CONTENT:
        assert mark in said, mark
    run = otel_content.one("invoke_agent")
    assert SYSTEM in str((run.attributes or {})["gen_ai.system_instructions"])
    ok = [s for s in otel_content.named("execute_tool") if "ARG" in str(
        (s.attributes or {}).get("gen_ai.tool.call.arguments"))]
    assert RESULT in str((ok[0].attributes or {})["gen_ai.tool.call.result"])
    chat = otel_content.named("chat")[-1]
    output = orjson.loads(str((chat.attributes or {})["gen_ai.output.messages"]))
    assert output[0]["role"] == "assistant"
    assert {"type": "text", "content": ANSWER} in output[0]["parts"]
    inputs = orjson.loads(str((chat.attributes or {})["gen_ai.input.messages"]))
    assert inputs[0] == {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}
    for record in records:
        assert API_KEY not in text_of(record)


async def test_content_is_clipped(otel_content: Captured) -> None:
    from agentkit import telemetry
    from agentkit.testing import ScriptedModel

    telemetry.instrument(otel_content.tracer_provider, capture_content=True, content_limit=50)
    long = "x" * 5000
    await Agent(ScriptedModel([reply(long)]), None).run("y" * 5000)
    for span in otel_content.spans():
        for key, value in (span.attributes or {}).items():
            if key.startswith("gen_ai.") and "messages" in key:
                assert len(str(value)) < 400, (key, len(str(value)))
                assert "more characters]" in str(value)


async def test_logging_levels_and_names(records: list[logging.LogRecord],
                                        http_model: ModelFactory) -> None:
    async with LoopbackServer() as server:
        server.add_steps(
            Step(thinking="only thinking"),  # reasoning only: nudged
            Step(fault=Fault.http_error(500)),  # retried
            tool_step(call("track", {"parcel": "broken"}), call("missing", {})),
            reply("done"))
        model = http_model(server, api_key=API_KEY)
        agent = Agent(model, None, [track],
                      retry=RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.02))
        await agent.run("go")

    def find(level: int, name: str, words: str) -> logging.LogRecord:
        found = [r for r in records if r.levelno == level and r.name == name
                 and words in r.getMessage()]
        assert found, (level, name, words, [(r.name, r.levelname, r.getMessage())
                                             for r in records])
        return found[0]

    raised = find(logging.WARNING, "agentkit.loop", "raised LookupError")
    assert raised.exc_info is not None and "tracker offline" in text_of(raised)
    assert "Traceback" in text_of(raised)
    find(logging.INFO, "agentkit.loop", "retry 1")
    find(logging.INFO, "agentkit.loop", "invalid call to 'missing'")
    find(logging.INFO, "agentkit.loop", "nudging")
    find(logging.DEBUG, "agentkit.models", "request to http://127.0.0.1")
    find(logging.DEBUG, "agentkit.models", "finish=stop")
    assert all(r.name.startswith("agentkit.") for r in records)
