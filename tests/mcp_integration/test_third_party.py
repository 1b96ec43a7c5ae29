"""Third-party MCP servers from registries, started the way their users start them.

`scripts/setup.sh` installs them (pinned) into `.cache/mcp-servers`; a missing one FAILS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from agentkit import Agent
from agentkit.events import ToolProgress
from agentkit.mcp import MCPServer
from agentkit.testing import ScriptedModel, call, reply, tool_step

from .helpers import SERVERS_DIR

pytestmark = pytest.mark.anyio
NODE_BIN = SERVERS_DIR / "node" / "node_modules" / ".bin"


def installed(path: Path) -> str:
    assert path.exists(), f"{path} is missing: run `bash scripts/setup.sh` (it installs it)"
    return str(path)


def everything() -> MCPServer:
    return MCPServer.stdio(installed(NODE_BIN / "mcp-server-everything"), ["stdio"])


async def test_server_everything_npm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKIT_TEST_SECRET", "s3cret")
    async with everything() as server:
        assert server.protocol_version == "2025-11-25"  # a handshake-era server
        assert (await server.call_tool("echo", {"message": "hi"})).text == "Echo: hi"
        image = await server.call_tool("get-tiny-image", {})
        assert "[image content: image/png," in image.text and "base64" not in image.text
        assert len(image.text) < 300
        structured = await server.call_tool("get-structured-content", {"location": "New York"})
        assert orjson.loads(structured.text) == structured.structured
        env = orjson.loads((await server.call_tool("get-env", {})).text)
        assert "AGENTKIT_TEST_SECRET" not in env and "PATH" in env
        tools = {t.name: t for t in await server.list_tools()}
        assert tools["get-sum"].validate({"a": 1, "b": 2}) == {"a": 1, "b": 2}


async def test_server_everything_progress_in_an_agent_run() -> None:
    model = ScriptedModel([
        tool_step(call("trigger-long-running-operation", {"duration": 0.3, "steps": 3}, id="op")),
        reply("done")])
    events: list[Any] = []
    async with Agent(model, tools=[everything()]) as agent:
        async for event in agent.stream("run it"):
            events.append(event)
    progress = [e for e in events if isinstance(e, ToolProgress)]
    assert [(p.id, p.progress, p.total) for p in progress] == [
        ("op", 1, 3), ("op", 2, 3), ("op", 3, 3)]
    assert events[-1].result.tool_calls[0].is_error is False


async def test_server_filesystem_npm_stays_in_its_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("TOPSECRET")
    cmd = installed(NODE_BIN / "mcp-server-filesystem")
    async with MCPServer.stdio(cmd, [str(root)], prefix="fs_") as server:
        inside = await server.call_tool("read_text_file", {"path": str(root / "a.txt")})
        assert (inside.text, inside.is_error) == ("inside", False)
        outside = await server.call_tool("read_text_file", {"path": str(tmp_path / "secret.txt")})
        assert outside.is_error and "TOPSECRET" not in outside.text


async def test_mcp_server_time_pypi() -> None:
    cmd = installed(SERVERS_DIR / "time-venv" / "bin" / "mcp-server-time")
    model = ScriptedModel([tool_step(call("get_current_time", {"timezone": "UTC"})),
                           reply("it is now")])
    async with Agent(model, tools=[MCPServer.stdio(cmd)]) as agent:
        result = await agent.run("time?")
    record = result.tool_calls[0]
    assert not record.is_error
    assert orjson.loads(record.result)["timezone"] == "UTC"
