"""Conformance: every case in tests/wire/cases/, through the normalizer and over HTTP.

Over HTTP the chunks are replayed verbatim by the loopback server and read by
`OpenAICompatModel` through the real openai client.
"""

from __future__ import annotations

from typing import Any

import pytest

from agentkit.errors import ModelAPIError
from agentkit.messages import UserMessage
from agentkit.models import ModelRequest, ModelSettings, OpenAICompatModel
from agentkit.models.base import ModelStreamEvent
from agentkit.testing import Fault, LoopbackServer, RawStep, Step

from .helpers import CASES, STREAM_CASES, check, run_lines, sse_lines, tools_of


@pytest.mark.parametrize("name", STREAM_CASES)
def test_case_through_normalizer(name: str) -> None:
    case = CASES[name]
    events, error = run_lines(case, sse_lines(case))
    check(case, events, error)


def _step(case: dict[str, Any]) -> Step | RawStep:
    http = case.get("http")
    if http:
        return Step(fault=Fault.http_error(http["status"], http.get("body"),
                                           http.get("headers")))
    return RawStep(list(case["chunks"]), done=case.get("done", True))


@pytest.fixture(scope="module")
def server() -> Any:
    with LoopbackServer(strict=True) as srv:
        yield srv


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(CASES))
async def test_case_over_http(name: str, server: LoopbackServer) -> None:
    case = CASES[name]
    server.add_steps(_step(case))
    model = OpenAICompatModel("qwen3-max", base_url=server.base_url, api_key="test",
                              profile=case["profile"], thinking=case["thinking"])
    request = ModelRequest([UserMessage(content="go")], tools_of(case), ModelSettings())
    events: list[ModelStreamEvent] = []
    error: ModelAPIError | None = None
    try:
        async for event in model.stream(request):
            events.append(event)
    except ModelAPIError as exc:
        error = exc
    finally:
        await model.aclose()
    check(case, events, error)
    assert server.remaining == 0
