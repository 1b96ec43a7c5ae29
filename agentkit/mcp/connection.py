"""One live MCP connection, owned by one task for its whole life.

The owner task enters the SDK's context managers (transport, `mcp.Client`, the
`subscriptions/listen` stream) and exits them itself, so shutdown never crosses tasks,
whoever asks for it (`aclose`, a finalizer after garbage collection, the event loop ending).
Runs send their requests through the SDK's session from their own tasks: its dispatcher is
the queue, and cancelling a waiting call sends `notifications/cancelled` to the server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio

__all__ = ["Connection", "StderrLogger"]

log = logging.getLogger("agentkit.mcp")


class StderrLogger:
    """A pipe for a server's stderr; a daemon thread logs each line. EOF means it exited."""

    def __init__(self, label: str, on_eof: Callable[[], None]) -> None:
        read_fd, write_fd = os.pipe()
        self.writer = os.fdopen(write_fd, "w")  # handed to the child process
        reader = os.fdopen(read_fd, "rb")
        self._thread = threading.Thread(target=self._pump, args=(reader, label, on_eof),
                                        daemon=True, name=f"mcp-stderr-{label}")
        self._thread.start()

    @staticmethod
    def _pump(reader: Any, label: str, on_eof: Callable[[], None]) -> None:
        with reader:
            for raw in reader:
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    log.info("%s: %s", label, line)
        on_eof()

    def close_writer(self) -> None:
        """Drop our copy of the write end (the child keeps its own)."""
        if not self.writer.closed:
            self.writer.close()


class Connection:
    """A connected `mcp.Client`; `open()` starts the owner task and waits for the handshake."""

    def __init__(self, enter: Callable[[AsyncExitStack, Connection], Awaitable[Any]],
                 label: str) -> None:
        self._enter = enter  # enters the transport and the client; returns the client
        self.label = label
        self.client: Any = None
        self.dead = False  # the server went away: the next call reconnects
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = anyio.Event()
        self._stop = anyio.Event()
        self._closed = anyio.Event()
        self.on_list_changed: Callable[[], None] = lambda: None

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    async def open(self) -> None:
        """Connect (in the owner task); raises what the connection failed with."""
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            from ..errors import UserError

            raise UserError("agentkit.mcp needs asyncio (the owner task is an asyncio task)") \
                from None
        self._task = self._loop.create_task(self._own(), name=f"mcp-owner {self.label}")
        try:
            await self._ready.wait()
        except BaseException:
            self.stop_soon()
            raise
        if self.error is not None:
            raise self.error

    def mark_dead(self) -> None:
        """The server is gone (crash, EOF, transport failure): stop the owner."""
        self.dead = True
        self.stop_soon()

    def stop_soon(self) -> None:
        """Ask the owner to exit; safe from any thread and from finalizers."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            if threading.get_ident() == getattr(loop, "_thread_id", None):
                self._stop.set()
            else:
                loop.call_soon_threadsafe(self._stop.set)
        except RuntimeError:  # the loop is shutting down: its task cancellation ends the owner
            pass

    async def close(self) -> None:
        """Stop the owner and wait until it has exited every context (bounded, shielded)."""
        self.stop_soon()
        task = self._task
        if task is None or task.done():
            return
        if self._loop is not asyncio.get_running_loop():
            return  # another event loop's task: its loop ends it
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(10):
                await self._closed.wait()
            if not task.done():  # a transport that will not let go
                task.cancel()
                await asyncio.wait([task], timeout=5)

    async def _own(self) -> None:
        try:
            async with AsyncExitStack() as stack:
                self.client = await self._enter(stack, self)
                async with anyio.create_task_group() as tg:
                    await self._watch_list_changes(tg)
                    self._ready.set()
                    await self._stop.wait()
                    tg.cancel_scope.cancel()
        except BaseException as exc:  # recorded for open(); later failures are logged
            if not self._ready.is_set():
                self.error = exc
            elif not isinstance(exc, (asyncio.CancelledError, anyio.get_cancelled_exc_class())):
                log.warning("%s: the connection ended with %s: %s", self.label,
                            type(exc).__name__, exc)
            if isinstance(exc, asyncio.CancelledError) and not self._ready.is_set():
                self.error = ConnectionError(f"{self.label}: connecting was cancelled")
        finally:
            self.dead = True
            self.client = None
            self._ready.set()
            self._closed.set()

    async def _watch_list_changes(self, tg: Any) -> None:
        """On 2026-07-28 connections, listen for tool-list changes (legacy ones push them)."""
        client = self.client
        caps = client.server_capabilities.tools
        if not (caps and caps.list_changed):
            return
        from mcp_types.version import MODERN_PROTOCOL_VERSIONS

        if client.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            return
        started = anyio.Event()

        async def listen() -> None:
            try:
                async with client.listen(tools_list_changed=True) as sub:
                    started.set()
                    async for _ in sub:
                        self.on_list_changed()
            except Exception as exc:
                log.info("%s: tool-list subscription ended (%s); tools are re-listed each run",
                         self.label, exc)
            finally:
                self.on_list_changed()  # without a live subscription, the cache is not trusted
                started.set()

        tg.start_soon(listen)
        with anyio.move_on_after(10):
            await started.wait()
