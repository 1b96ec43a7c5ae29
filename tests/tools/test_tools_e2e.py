"""End to end: a scripted Thinking-mode model (real openai client, loopback DashScope-style
server) uses fetch_url, the file tools and code execution in one task."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from agentkit.sandbox.container import list_sandboxes
from agentkit.tools import demo_tools

from agentkit import Agent
from agentkit.models import OpenAICompatModel
from agentkit.testing import LoopbackServer, Step, call, reply

pytestmark = pytest.mark.docker

CODE = """import csv, os
rows = list(csv.DictReader(open('jars.csv')))
mean = sum(int(r['seconds']) for r in rows) / len(rows)
os.makedirs('out', exist_ok=True)
_ = open('out/mean.txt', 'w').write(f'{mean:.1f}')
mean"""

SUMMARY = "# Octopus jars\n\nScrew-top lids took 54 s; the mean over both lid types is 117 s.\n"
FINAL = "Octopuses opened screw-top jars in 54 seconds; the mean over both lid types is 117 s."


def tool_messages(body: dict[str, Any]) -> list[str]:
    return [str(m.get("content")) for m in body["messages"] if m.get("role") == "tool"]


@pytest.mark.anyio
async def test_thinking_model_fetches_computes_and_writes(site: Any, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "jars.csv").write_text("lid,seconds\nscrew,54\nlatch,180\n")
    tag = f"agentkit.e2e={uuid.uuid4().hex}"
    key, _, value = tag.partition("=")
    tools = demo_tools(work, timeout=30, labels={key: value})
    steps = [
        Step(thinking="The user wants facts from the article. Fetch it first.",
             tool_calls=[call("fetch_url", {"url": site.url("/article")})]),
        Step(thinking="Now look at the local data, both calls at once.",
             tool_calls=[call("list_files", {}), call("read_file", {"path": "jars.csv"})]),
        Step(thinking="Compute the mean time in Python.",
             tool_calls=[call("code_interpreter", {"code": CODE})]),
        Step(thinking="Write the summary file.",
             tool_calls=[call("write_file", {"path": "out/summary.md", "content": SUMMARY})]),
        Step(thinking="Check both files from the shell.",
             tool_calls=[call("shell", {"command": "cat out/mean.txt; echo; "
                                                   "wc -l < out/summary.md"})]),
        reply(FINAL, thinking="Everything is done; answer briefly."),
    ]
    async with LoopbackServer(steps) as server:
        model = OpenAICompatModel(model="qwen3-max", base_url=server.base_url, api_key="x")
        try:
            agent = Agent(model, "Use the tools.", tools, max_steps=10)
            result = await agent.run("What did the octopus study find, and what is the mean "
                                     "jar time in jars.csv? Save a summary to out/summary.md.")
        finally:
            await model.aclose()
        requests = [r.body for r in server.requests]
        assert server.errors == []

    assert result.output == FINAL
    assert [c.name for c in result.tool_calls] == [
        "fetch_url", "list_files", "read_file", "code_interpreter", "write_file", "shell"]
    assert not any(c.is_error for c in result.tool_calls), [c.result for c in result.tool_calls]
    by_name = {c.name: c.result for c in result.tool_calls}
    assert "Octopuses solve puzzles faster than expected" in by_name["fetch_url"]
    assert "TRACKER-SCRIPT-TEXT" not in by_name["fetch_url"]
    assert "jars.csv (" in by_name["list_files"]
    assert "     2\tscrew,54" in by_name["read_file"]
    assert by_name["code_interpreter"] == (
        "result: 117.0\nfiles created or changed (in /workspace): out/mean.txt")
    assert by_name["shell"] == "stdout:\n117.0\n3"

    # the model received every tool result, in order, over the wire
    assert len(requests) == 6
    assert "Octopuses solve puzzles" in tool_messages(requests[1])[0]
    assert any("result: 117.0" in t for t in tool_messages(requests[3]))
    assert "stdout:\n117.0" in tool_messages(requests[5])[-1]
    assert all(r["model"] == "qwen3-max" and r["stream"] is True for r in requests)
    assert {t["function"]["name"] for t in requests[0]["tools"]} == {
        "read_file", "write_file", "edit_file", "list_files", "glob", "grep", "fetch_url",
        "code_interpreter", "shell"}

    # the host sees the sandbox's files and vice versa; the run's sandbox is gone
    assert (work / "out/summary.md").read_text() == SUMMARY
    assert (work / "out/mean.txt").read_text() == "117.0"
    # closed when the run ended: at most Docker is still finishing the removal
    assert all(c["State"] in ("removing", "exited", "dead") for c in list_sandboxes(tag))
    for _ in range(100):
        if not list_sandboxes(tag):
            break
        await anyio.sleep(0.2)
    assert list_sandboxes(tag) == []
    assert [r.path for r in site.requests] == ["/article"]
