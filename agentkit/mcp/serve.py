"""`agentkit mcp serve`: the built-in tools (code sandbox, confined files, web) as an MCP server.

Safe by default: file tools read-only unless `write=True`, HTTP bound to 127.0.0.1, one
sandbox per client session (created on first use) removed when the session ends. A session
is the stdio connection, or an HTTP session (`Mcp-Session-Id`, handshake-era clients;
closed after `idle` seconds without calls); a 2026-07-28 HTTP client has no session, so
each of its calls gets a fresh sandbox, removed after the call.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio

from ..context import RunContext
from ..tooldef import Tool, ToolArgumentsError
from ..usage import Usage

__all__ = ["Sessions", "build_server", "serve", "served_tools"]

log = logging.getLogger("agentkit.mcp")
TOOL_SETS = ("code", "files", "web")


def served_tools(names: Sequence[str], *, root: str | Path = ".", write: bool = False,
                 sandbox_options: dict[str, Any] | None = None) -> list[Tool]:
    """The built-in tools named in `names` (code, files, web)."""
    unknown = sorted(set(names) - set(TOOL_SETS))
    if unknown:
        raise ValueError(f"unknown tool set(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(TOOL_SETS)}")
    from agentkit.tools import code_tools, file_tools, web_tools

    tools: list[Tool] = []
    if "code" in names:
        tools += code_tools(**(sandbox_options or {}))
    if "files" in names:
        tools += file_tools(root, read_only=not write)
    if "web" in names:
        tools += web_tools()
    return tools


class Sessions:
    """One `RunContext` (and so one sandbox) per client session; closed when it ends."""

    def __init__(self, idle: float) -> None:
        self.idle = idle
        self._open: dict[str, tuple[RunContext[Any], float]] = {}

    @staticmethod
    def _new() -> RunContext[Any]:
        return RunContext(deps=None, run_id=uuid.uuid4().hex, messages=[], usage=Usage())

    def context(self, key: str | None) -> RunContext[Any]:
        """The session's context (a fresh one for `None`: the caller closes it)."""
        if key is None:
            return self._new()
        ctx = self._open[key][0] if key in self._open else self._new()
        self._open[key] = (ctx, time.monotonic())
        return ctx

    async def close(self, ctx: RunContext[Any]) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await ctx.exit_stack.aclose()
            except Exception as exc:  # cleanup must go on for the others
                log.warning("closing a session failed: %s", exc)

    async def reap(self) -> None:
        """Close the sessions idle for longer than `idle` (every few seconds)."""
        while True:
            await anyio.sleep(min(5.0, self.idle))
            now = time.monotonic()
            for key, (ctx, used) in list(self._open.items()):
                if now - used > self.idle:
                    del self._open[key]
                    await self.close(ctx)

    async def close_all(self) -> None:
        opened, self._open = list(self._open.values()), {}
        for ctx, _ in opened:
            await self.close(ctx)


def _session_key(ctx: Any) -> tuple[str | None, bool]:
    """(key, shared): stdio is one session; HTTP by `Mcp-Session-Id`; none: per call."""
    request = getattr(ctx, "request", None)
    if request is None:
        return "stdio", True
    sid = request.headers.get("mcp-session-id")
    return (sid, True) if sid else (None, False)


def build_server(tools: Sequence[Tool], *, idle: float = 1800.0) -> Any:
    """A low-level `mcp.server.Server` serving `tools`."""
    from mcp import MCPError
    from mcp.server import Server
    from mcp.types import (
        INVALID_PARAMS,
        CallToolResult,
        ListToolsResult,
        TextContent,
    )
    from mcp.types import Tool as WireTool

    by_name = {t.name: t for t in tools}
    listing = ListToolsResult(tools=[
        WireTool(name=t.name, description=t.description, input_schema=t.parameters)
        for t in tools])

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[Sessions]:
        sessions = Sessions(idle)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(sessions.reap)
                try:
                    yield sessions
                finally:
                    tg.cancel_scope.cancel()
        finally:
            await sessions.close_all()

    async def list_tools(ctx: Any, params: Any) -> ListToolsResult:
        return listing

    async def call_tool(ctx: Any, params: Any) -> CallToolResult:
        tool = by_name.get(params.name)
        if tool is None:
            raise MCPError(INVALID_PARAMS, f"Unknown tool: {params.name}")
        try:
            kwargs = tool.validate(dict(params.arguments or {}))
        except ToolArgumentsError as exc:
            return CallToolResult(content=[TextContent(type="text", text=str(exc))],
                                  is_error=True)
        sessions: Sessions = ctx.lifespan_context
        key, shared = _session_key(ctx)
        run_ctx = sessions.context(key)
        try:
            value = await tool.call(replace(run_ctx, tool_call_id=str(ctx.request_id)), kwargs)
            text, failed = Tool.format_result(value), False
        except Exception as exc:  # the client's model reads the failure
            text, failed = f"Error: {type(exc).__name__}: {exc}", True
        finally:
            if not shared:
                await sessions.close(run_ctx)
        return CallToolResult(content=[TextContent(type="text", text=text)], is_error=failed)

    return Server("agentkit", lifespan=lifespan, on_list_tools=list_tools,
                  on_call_tool=call_tool,
                  instructions="agentkit's built-in tools: Python and shell in a locked-down "
                               "Docker sandbox, files confined to one directory, web fetch.")


async def serve(tools: Sequence[Tool], *, transport: str = "stdio", host: str = "127.0.0.1",
                port: int = 8000) -> None:
    """Serve `tools` over stdio or Streamable HTTP until the client (or a signal) ends it."""
    server = build_server(tools)
    if transport == "stdio":
        from mcp import stdio_server

        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
        return
    import uvicorn

    app = server.streamable_http_app(host=host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    await uvicorn.Server(config).serve()
