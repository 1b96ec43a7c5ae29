"""A sandbox execution inside a tool call is a child span of its `execute_tool` span, with
the container id and the outcome (real Docker; spans read through the SDK's in-memory
exporter)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from agentkit.tools import code_tools
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentkit import Agent, telemetry
from agentkit.testing import ScriptedModel, call, reply, tool_step

pytestmark = [pytest.mark.docker, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exp = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exp))
    telemetry.instrument(provider)
    yield exp
    telemetry.uninstrument()


async def test_sandbox_exec_is_a_child_of_the_tool_span(
        make_sandbox: Any, exporter: InMemorySpanExporter,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="agentkit.sandbox")
    sb = make_sandbox(timeout=20)
    model = ScriptedModel([
        tool_step(call("code_interpreter", {"code": "SECRET_CODE_MARK = 6 * 7\nSECRET_CODE_MARK"}),
                  call("shell", {"command": "exit 3"})),
        reply("42")])
    result = await Agent(model, None, code_tools(sandbox=sb)).run("compute")
    assert result.output == "42"
    spans = {s.name: s for s in exporter.get_finished_spans()}
    for tool_name, op in (("code_interpreter", "python"), ("shell", "shell")):
        tool_span, exec_span = spans[f"execute_tool {tool_name}"], spans[f"sandbox.exec {op}"]
        assert exec_span.parent is not None
        assert exec_span.parent.span_id == tool_span.context.span_id
        a = exec_span.attributes or {}
        assert a["container.id"] == sb.container_id and len(str(a["container.id"])) == 64
        assert a["agentkit.sandbox.op"] == op and a["container.image.name"] == sb.image
        assert float(a["agentkit.sandbox.duration"]) > 0  # type: ignore[arg-type]
    assert (spans["sandbox.exec python"].attributes or {})["agentkit.sandbox.exit_code"] == 0
    assert (spans["sandbox.exec shell"].attributes or {})["agentkit.sandbox.exit_code"] == 3
    assert not any("SECRET_CODE_MARK" in str(dict(s.attributes or {}))
                   for s in exporter.get_finished_spans())
    said = [r.getMessage() for r in caplog.records if r.name == "agentkit.sandbox"]
    assert f"sandbox container {sb.container_id} started (image {sb.image})" in said
    assert any(m.startswith(f"sandbox shell {sb.container_id}: exit 3") for m in said)
    assert not any("SECRET_CODE_MARK" in m for m in said)
