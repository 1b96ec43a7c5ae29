"""How to reach a server (stdio, Streamable HTTP, SSE), entered inside the owner task."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from .callbacks import ElicitationCallback, make_elicitation_callback, make_sampling_callback
from .connection import Connection, StderrLogger, log

__all__ = ["ServerSpec", "enter_client", "minimal_env"]


@dataclass(frozen=True)
class ServerSpec:
    """Everything needed to (re)connect; holds no reference to the `MCPServer` object."""

    kind: str  # "stdio" | "http" | "sse"
    label: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: dict[str, str] | None = None
    cwd: str | None = None
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    mode: str = "auto"  # the SDK's negotiation: auto (2026-07-28, else handshake) | legacy
    sampling_model: Any = None
    elicitation: ElicitationCallback | None = None


def minimal_env(extra: dict[str, str] | None) -> dict[str, str]:
    """PATH, HOME and LANG of this process, plus `extra` (the SDK adds its own short allow-list:
    LOGNAME, SHELL, TERM, USER); never the whole environment with its API keys."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(extra or {})
    return env


async def enter_client(spec: ServerSpec, stack: AsyncExitStack, conn: Connection,
                       on_message: Callable[[Any], Any]) -> Any:
    """Enter the transport and an `mcp.Client` on `stack` (in the owner task); the client."""
    from importlib.metadata import version

    from mcp import Client, StdioServerParameters, stdio_client
    from mcp.types import Implementation

    transport: Any
    errlog: StderrLogger | None = None
    if spec.kind == "stdio":
        errlog = StderrLogger(spec.label, on_eof=conn.mark_dead)
        stack.callback(errlog.close_writer)
        params = StdioServerParameters(command=spec.command, args=list(spec.args),
                                       env=minimal_env(spec.env), cwd=spec.cwd)
        transport = stdio_client(params, errlog=errlog.writer)
    elif spec.kind == "http":
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        http = await stack.enter_async_context(httpx2.AsyncClient(
            headers=spec.headers, timeout=httpx2.Timeout(30.0, read=300.0)))
        transport = streamable_http_client(spec.url, http_client=http)
    else:
        from mcp.client.sse import sse_client

        transport = sse_client(spec.url, headers=spec.headers or None)
    sampling: Any = (None if spec.sampling_model is None
                     else make_sampling_callback(spec.sampling_model))
    elicitation: Any = make_elicitation_callback(spec.elicitation)
    client = Client(
        transport, mode=spec.mode, cache=None, message_handler=on_message,  # type: ignore[arg-type]
        client_info=Implementation(name="agentkit", version=version("agentkit")),
        sampling_callback=sampling, elicitation_callback=elicitation)
    await stack.enter_async_context(client)
    if errlog is not None:
        errlog.close_writer()  # the child holds its own copy: EOF now means it exited
    log.debug("%s: connected, protocol %s", spec.label, client.protocol_version)
    return client
