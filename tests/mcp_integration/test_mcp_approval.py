"""Human approval of an MCP server's tools: the run pauses before the server is called."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentkit import Agent, Approve, Deny, ToolMessage
from agentkit.mcp import MCPServer
from agentkit.testing import ScriptedModel, call, reply, tool_step

pytestmark = pytest.mark.anyio


async def test_an_mcp_server_with_needs_approval_pauses_then_runs_on_approval(
        http_server: Callable[..., MCPServer]) -> None:
    def only_loud(ctx: Any, args: dict[str, Any]) -> bool:
        return bool(args.get("text", "").isupper())

    server = http_server(needs_approval=only_loud)
    step = tool_step(call("echo", {"text": "quiet"}, id="q"), call("echo", {"text": "LOUD"},
                                                                   id="l"))
    for decision, loud_result in [(Approve(), "LOUD"), (Deny(message="no shouting"), None)]:
        model = ScriptedModel([step, reply("ok")])
        async with Agent(model, None, [server]) as agent:
            paused = await agent.run("echo")
            assert paused.status == "paused" and [p.id for p in paused.pending_approvals] == ["l"]
            done = await agent.resume(paused.state, decisions={"l": decision})
        results = {m.tool_call_id: m for m in done.messages if isinstance(m, ToolMessage)}
        assert results["q"].content == "quiet"  # ungated: run on resume, by the server
        if loud_result is None:
            assert results["l"].is_error and "no shouting" in results["l"].content
        else:
            assert results["l"].content == loud_result
