"""`MCPServer`: an MCP server's tools in an agent (a toolset for `Agent(tools=[...])`)."""

from __future__ import annotations

import asyncio
import os
import shlex
import weakref
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import anyio

from ..context import RunContext
from ..errors import AgentError, UserError
from ..events import ToolProgress
from ..models.base import Model
from ..retry import RetryPolicy
from ..tooldef import Tool
from .callbacks import ElicitationCallback
from .connection import Connection, log
from .convert import check_name, copy_schema, resource_text, result_text
from .transports import ServerSpec, enter_client

__all__ = ["MCPConnectionError", "MCPServer", "MCPToolError", "MCPToolResult"]


class MCPConnectionError(AgentError):
    """The server could not be reached (or was restarted too often)."""


class MCPToolError(Exception):
    """An MCP tool call failed; the message is what the model reads."""


@dataclass(frozen=True)
class MCPToolResult:
    """One tool call's outcome: `text` is what a model reads; `raw` is the SDK's result."""

    text: str
    is_error: bool = False
    structured: Any = None
    raw: Any = None


class _Cache:
    """The tool list, invalidated by list-changed notifications (shared with the owner)."""

    def __init__(self) -> None:
        self.tools: list[Tool] | None = None
        self.version = 0

    def invalidate(self) -> None:
        self.tools = None
        self.version += 1

    async def on_message(self, message: Any) -> None:
        if isinstance(message, Exception):
            log.debug("transport error: %s", message)
        elif getattr(message, "method", None) == "notifications/tools/list_changed":
            self.invalidate()


class MCPServer:
    """An MCP server: connects on first use, lists its tools, stays connected until `aclose`.

    Build one with `MCPServer.stdio(...)` or `MCPServer.http(...)`; put it in
    `Agent(tools=[...])`. Concurrent runs share the connection.
    """

    def __init__(self, spec: ServerSpec, *, prefix: str | None, timeout: float | None,
                 max_restarts: int, retry: RetryPolicy, resources_as_tools: bool,
                 needs_approval: Any, connect_timeout: float | None) -> None:
        self._spec = spec
        self.connect_timeout = connect_timeout
        self.prefix = prefix or ""
        self.timeout = timeout
        self.max_restarts = max_restarts
        self.retry = retry
        self.resources_as_tools = resources_as_tools
        self.needs_approval = needs_approval  # set on each tool (human approval, when supported)
        self._cache = _Cache()
        self._conn: Connection | None = None
        self._lock: tuple[asyncio.AbstractEventLoop, anyio.Lock] | None = None
        self.restarts = 0

    @classmethod
    def stdio(cls, command: str, args: tuple[str, ...] | list[str] = (), *,
              env: dict[str, str] | None = None, cwd: str | None = None,
              prefix: str | None = None, timeout: float | None = 60.0,
              max_restarts: int = 3, sampling_model: Model | None = None,
              elicitation: ElicitationCallback | None = None, resources_as_tools: bool = False,
              needs_approval: Any = None, mode: str = "auto",
              connect_timeout: float | None = 60.0) -> MCPServer:
        """A server run as a subprocess, spoken to over its stdin/stdout.

        It gets PATH, HOME, LANG (and the SDK's short allow-list) plus `env`, never this
        process's whole environment; its stderr goes to the `agentkit.mcp` logger. A crash
        fails the call in flight; the next call restarts it, at most `max_restarts` times.
        """
        label = f"MCPServer.stdio({shlex.join([os.path.basename(command), *args])!r})"
        spec = ServerSpec("stdio", label, command=command, args=tuple(args), env=env,
                          cwd=None if cwd is None else str(cwd), mode=mode,
                          sampling_model=sampling_model, elicitation=elicitation)
        return cls(spec, prefix=prefix, timeout=timeout, max_restarts=max_restarts,
                   retry=RetryPolicy(), resources_as_tools=resources_as_tools,
                   needs_approval=needs_approval, connect_timeout=connect_timeout)

    @classmethod
    def http(cls, url: str, *, headers: dict[str, str] | None = None, prefix: str | None = None,
             timeout: float | None = 60.0, transport: str = "streamable-http",
             retry: RetryPolicy | None = None, sampling_model: Model | None = None,
             elicitation: ElicitationCallback | None = None, resources_as_tools: bool = False,
             needs_approval: Any = None, mode: str = "auto",
             connect_timeout: float | None = 60.0) -> MCPServer:
        """A server over Streamable HTTP (`transport="sse"`: the legacy SSE transport).

        A server that cannot be reached is retried with `retry`'s backoff (like a model
        request), then the call is an error result.
        """
        if transport not in ("streamable-http", "sse"):
            raise UserError(f"transport must be 'streamable-http' or 'sse', not {transport!r}")
        spec = ServerSpec("http" if transport == "streamable-http" else "sse",
                          f"MCPServer.http({url!r})", url=url, headers=dict(headers or {}),
                          mode=mode, sampling_model=sampling_model, elicitation=elicitation)
        return cls(spec, prefix=prefix, timeout=timeout, max_restarts=0,
                   retry=retry or RetryPolicy(), resources_as_tools=resources_as_tools,
                   needs_approval=needs_approval, connect_timeout=connect_timeout)

    def __repr__(self) -> str:
        return self._spec.label

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> MCPServer:
        await self._connected()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Disconnect (stop the server process); a later use connects again."""
        conn, self._conn = self._conn, None
        self._cache.invalidate()
        self.restarts = 0
        if conn is not None:
            await conn.close()

    @property
    def protocol_version(self) -> str | None:
        """The negotiated protocol version (None before connecting)."""
        conn = self._conn
        return None if conn is None or conn.client is None else str(conn.client.protocol_version)

    def _alive(self, loop: asyncio.AbstractEventLoop) -> Connection | None:
        conn = self._conn
        if conn is not None and not conn.dead and conn.loop is loop and conn.client is not None:
            return conn
        return None

    async def _connected(self) -> Connection:
        """The live connection, (re)connecting first: stdio restarts are capped, HTTP retried."""
        loop = asyncio.get_running_loop()
        conn = self._alive(loop)
        if conn is not None:
            return conn
        if self._lock is None or self._lock[0] is not loop:
            self._lock = (loop, anyio.Lock())
        async with self._lock[1]:
            conn = self._alive(loop)
            if conn is not None:
                return conn
            old, self._conn = self._conn, None
            if old is not None:
                await old.close()
                self._cache.invalidate()
                if old.loop is loop and self._spec.kind == "stdio":
                    if self.restarts >= self.max_restarts:
                        raise MCPConnectionError(
                            f"{self!r} exited {self.restarts + 1} times; not restarted again "
                            f"(max_restarts={self.max_restarts})")
                    self.restarts += 1
                    log.warning("%s exited; restarting it (%d of %d)", self,
                                self.restarts, self.max_restarts)
            self._conn = await self._connect()
            weakref.finalize(self, self._conn.stop_soon)
            return self._conn

    async def _connect(self) -> Connection:
        spec, cache = self._spec, self._cache
        attempt = 0
        while True:
            async def enter(stack: AsyncExitStack, conn: Connection) -> Any:
                return await enter_client(spec, stack, conn, cache.on_message)

            conn = Connection(enter, spec.label)
            conn.on_list_changed = cache.invalidate
            try:
                with anyio.fail_after(self.connect_timeout):
                    await conn.open()
                return conn
            except (UserError, anyio.get_cancelled_exc_class()):
                raise
            except BaseException as exc:
                reason = _reason(exc) if not isinstance(exc, TimeoutError) else (
                    f"no handshake within connect_timeout={self.connect_timeout:g}s")
                attempt += 1
                delay = self.retry.delay(attempt, None) if spec.kind != "stdio" else None
                if delay is None:
                    raise MCPConnectionError(f"{self!r}: could not connect: {reason}") from exc
                log.info("%s: connect failed (%s); retry %d in %.1fs", self, reason, attempt,
                         delay)
                await anyio.sleep(delay)

    # -- tools ---------------------------------------------------------------------------------

    async def list_tools(self) -> list[Tool]:
        """The server's tools as agentkit `Tool`s (cached; refreshed on list_changed)."""
        conn = await self._connected()
        tools = self._cache.tools
        if tools is not None:
            return list(tools)
        version = self._cache.version
        listed: list[Any] = []
        cursor: str | None = None
        while True:
            page = await conn.client.list_tools(cursor=cursor)
            listed.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        tools = [self._make_tool(t) for t in listed]
        if self.resources_as_tools:
            tools += self._resource_tools()
        if self._cache.version == version:
            self._cache.tools = tools
        return list(tools)

    def _make_tool(self, remote: Any) -> Tool:
        name = self.prefix + remote.name
        check_name(name, repr(self))
        remote_name = remote.name

        async def call(ctx: RunContext[Any], /, **arguments: Any) -> str:
            result = await self._call(remote_name, arguments, ctx)
            if result.is_error:
                raise MCPToolError(result.text)
            return result.text

        try:
            tool = Tool.from_schema(name, remote.description or remote.title or "",
                                    copy_schema(remote.input_schema), call, takes_context=True)
        except Exception as exc:  # jsonschema.SchemaError
            raise UserError(f"{self!r}: the tool {remote.name!r} has an invalid input schema: "
                            f"{getattr(exc, 'message', exc)}") from exc
        return self._mark(tool)

    def _mark(self, tool: Tool) -> Tool:
        if self.needs_approval is not None:  # the attribute human approval reads
            object.__setattr__(tool, "needs_approval", self.needs_approval)
        return tool

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None
                        ) -> MCPToolResult:
        """Call the server's tool `name` (its own name, without the prefix) directly."""
        return await self._call(name, dict(arguments or {}), None)

    async def _call(self, name: str, arguments: dict[str, Any],
                    ctx: RunContext[Any] | None) -> MCPToolResult:
        from mcp import MCPError
        from mcp_types.jsonrpc import CONNECTION_CLOSED

        progress = None
        if ctx is not None and ctx.tool_call_id is not None:
            call_id, step = ctx.tool_call_id, ctx.step

            async def progress(value: float, total: float | None, message: str | None) -> None:
                ctx.emit(ToolProgress(id=call_id, progress=value, total=total,
                                      message=message, step=step))

        attempt = 0
        while True:
            try:
                conn = await self._connected()
            except MCPConnectionError as exc:
                return MCPToolResult(str(exc), is_error=True)
            try:
                with anyio.fail_after(self.timeout):
                    result = await conn.client.call_tool(name, arguments,
                                                         progress_callback=progress)
            except TimeoutError:
                return MCPToolResult(
                    f"{self!r} did not answer the call to {name!r} within {self.timeout:g}s; "
                    "the call was cancelled.", is_error=True)
            except MCPError as exc:
                if exc.code != CONNECTION_CLOSED:
                    return MCPToolResult(f"{self!r} refused the call: {exc.error.message}",
                                         is_error=True)
                conn.mark_dead()
                if self._spec.kind == "stdio":
                    return MCPToolResult(
                        f"{self!r} exited during the call to {name!r}; it is restarted on "
                        "the next call.", is_error=True)
                reason = "the connection closed"
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as exc:
                if not _is_transport_error(exc):
                    return MCPToolResult(f"{self!r}: {type(exc).__name__}: {_reason(exc)}",
                                         is_error=True)
                conn.mark_dead()
                reason = _reason(exc)
            else:
                return MCPToolResult(result_text(result), is_error=bool(result.is_error),
                                     structured=result.structured_content, raw=result)
            attempt += 1
            delay = self.retry.delay(attempt, None)
            if delay is None:
                return MCPToolResult(f"{self!r} is unreachable ({reason}); gave up after "
                                     f"{attempt} attempts.", is_error=True)
            await anyio.sleep(delay)

    # -- resources and prompts -----------------------------------------------------------------

    async def list_resources(self) -> list[Any]:
        """The server's resources (the SDK's `Resource` objects), all pages."""
        conn = await self._connected()
        out: list[Any] = []
        cursor: str | None = None
        while True:
            page = await conn.client.list_resources(cursor=cursor)
            out.extend(page.resources)
            cursor = page.next_cursor
            if not cursor:
                return out

    async def read_resource(self, uri: str) -> Any:
        """The SDK's `ReadResourceResult` for `uri`."""
        conn = await self._connected()
        return await conn.client.read_resource(uri)

    async def list_prompts(self) -> list[Any]:
        """The server's prompts (the SDK's `Prompt` objects), all pages."""
        conn = await self._connected()
        out: list[Any] = []
        cursor: str | None = None
        while True:
            page = await conn.client.list_prompts(cursor=cursor)
            out.extend(page.prompts)
            cursor = page.next_cursor
            if not cursor:
                return out

    async def get_prompt(self, name: str, arguments: dict[str, str] | None = None) -> Any:
        """The SDK's `GetPromptResult` (its `messages`) for the prompt `name`."""
        conn = await self._connected()
        return await conn.client.get_prompt(name, arguments)

    def _resource_tools(self) -> list[Tool]:
        async def list_resources() -> str:
            items = await self.list_resources()
            lines = [f"{r.uri} - {r.name}" + (f": {r.description}" if r.description else "")
                     for r in items]
            return "\n".join(lines) or "(no resources)"

        async def read_resource(uri: str) -> str:
            result = await self.read_resource(uri)
            return "\n".join(resource_text(c) for c in result.contents) or "(empty)"

        tools = [
            Tool.from_schema(f"{self.prefix}list_resources",
                             f"List the resources of {self!r} (URI, name, description).",
                             {"type": "object", "properties": {}}, list_resources),
            Tool.from_schema(f"{self.prefix}read_resource",
                             f"Read one resource of {self!r} by its URI.",
                             {"type": "object", "properties": {"uri": {"type": "string"}},
                              "required": ["uri"]}, read_resource),
        ]
        for t in tools:
            check_name(t.name, repr(self))
        return [self._mark(t) for t in tools]


def _leaves(exc: BaseException) -> list[BaseException]:
    group = getattr(exc, "exceptions", None)  # an exception group (no builtin on 3.10)
    if isinstance(group, (list, tuple)):
        return [leaf for e in group for leaf in _leaves(e)]
    return [exc]


def _reason(exc: BaseException) -> str:
    leaves = _leaves(exc)
    return "; ".join(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__ for e in leaves)


def _is_transport_error(exc: BaseException) -> bool:
    import httpx2

    return any(isinstance(e, (OSError, httpx2.TransportError)) for e in _leaves(exc))
