"""Bytes that are not UTF-8 never kill a run (issue 9, item 16).

A file name with a byte that is not UTF-8 (Python keeps it as a lone surrogate), or an
exception message holding one, used to make the next request fail with "cannot be sent as
JSON" and `event.model_dump_json()` raise. Everything that becomes text for the model or
an event is made valid UTF-8 at one place (the loop's `append_results`), shown visibly.
The run goes through the real openai client against the loopback server (real HTTP).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agentkit.tools import file_tools
from pydantic import BaseModel

from agentkit import Agent, tool
from agentkit.models import OpenAICompatModel
from agentkit.testing import LoopbackServer, call, reply, tool_step
from agentkit.textsafe import quote_name, terminal_text, valid_utf8

pytestmark = pytest.mark.anyio
BAD = b"report-\xff\xfe.txt".decode("utf-8", "surrogateescape")  # as os.listdir returns it


class Listing(BaseModel):
    names: list[str]


@tool
def names_as_text() -> str:
    """Names."""
    return f"found {BAD}"


@tool
def names_as_dict() -> dict[str, Any]:
    """Names."""
    return {"names": [BAD, "ok.txt"]}


@tool
def names_as_model() -> Listing:
    """Names."""
    return Listing(names=[BAD])


@tool
def fails() -> str:
    """Fails."""
    raise OSError(f"cannot open {BAD}: \ud800 broken")


_open: list[OpenAICompatModel] = []


@pytest.fixture(autouse=True)
async def close_models() -> AsyncIterator[None]:
    yield
    while _open:
        await _open.pop().aclose()


def model_for(server: LoopbackServer) -> OpenAICompatModel:
    model = OpenAICompatModel("qwen3-max", base_url=server.base_url, api_key="test",
                              profile="dashscope")
    _open.append(model)
    return model


async def run_events(tools: list[Any], calls: list[Any]) -> tuple[list[Any], LoopbackServer]:
    steps = [tool_step(*calls), reply("done")]
    async with LoopbackServer(steps) as server:
        agent = Agent(model_for(server), "sys", tools)
        events = []
        async with agent.stream("go") as stream:
            async for ev in stream:
                events.append(ev)
        return events, server


def results(events: list[Any]) -> list[str]:
    """Tool results in call order (the events come as each call completes)."""
    order = [ev.id for ev in events if ev.type == "tool_call_ready"]
    by_id = {ev.id: ev.content for ev in events if ev.type == "tool_result"}
    return [by_id[i] for i in order]


async def test_tool_results_and_errors_with_undecodable_bytes_reach_the_model() -> None:
    tools = [names_as_text, names_as_dict, names_as_model, fails]
    events, server = await run_events(tools, [call(t.name) for t in tools])
    assert events[-1].type == "run_finished" and events[-1].result.output == "done"
    for ev in events:  # the SSE example and --json serialise every event
        json.loads(ev.model_dump_json())
    text, as_dict, as_model, error = results(events)
    assert text == "found report-\\xff\\xfe.txt"
    assert "report-" in as_dict and "ok.txt" in as_dict and "\\udcff" in as_dict
    assert "report-" in as_model
    assert error == "Error: OSError: cannot open report-\\xff\\xfe.txt: \\ud800 broken"
    sent = json.dumps(server.requests[-1].body)  # what the second request carried
    assert "report-\\\\xff\\\\xfe.txt" in sent
    for content in (text, as_dict, as_model, error):
        content.encode("utf-8")  # strict: no surrogates left


async def test_list_files_on_a_non_utf8_name_through_the_loop(tmp_path: Path) -> None:
    os.close(os.open(os.fsencode(tmp_path) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY))
    (tmp_path / "fine.txt").write_text("x")
    tools = file_tools(tmp_path, read_only=True)
    events, _ = await run_events(tools, [call("list_files"), call("glob", {"pattern": "*"})])
    assert events[-1].type == "run_finished"
    listing, globbed = results(events)
    assert '"caf\\xe9.txt" (0 bytes)' in listing and "fine.txt (1 bytes)" in listing
    assert '"caf\\xe9.txt"' in globbed.splitlines()
    json.loads(events[-1].model_dump_json())


async def test_the_helpers() -> None:
    assert valid_utf8("plain ü ✓") == "plain ü ✓"
    assert valid_utf8(BAD) == "report-\\xff\\xfe.txt"
    assert valid_utf8("a\udfffb") == "a\\udfffb"
    assert quote_name("two\nlines.txt") == '"two\\nlines.txt"'
    assert quote_name('q"\\') == '"q\\"\\\\"'
    assert quote_name("normal name.txt") == "normal name.txt"
    assert terminal_text("a\x1b]52;c;ZXZpbA==\x07b\nc\td\r\x9b2J\u202e") == \
        "a\\x1b]52;c;ZXZpbA==\\x07b\nc\td\\r\\x9b2J\\u202e"
