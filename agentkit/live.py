"""Events from inside running tools (`ctx.emit(...)`), streamed while the tools still run.

The loop runs a step's tools through `LiveEvents.during`: the tools run in a task of their
own, and the loop's generator yields what they emit as it arrives, so it never yields with
a cancel scope or task group of its own open. Leaving the stream early, or cancelling it,
cancels the tools and waits for them. Off asyncio (trio) the tools run inline and their
events follow when they finish.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Awaitable
from typing import Any, Generic, TypeVar

import anyio

__all__ = ["LiveEvents"]

T = TypeVar("T")
_DONE = object()


class LiveEvents(Generic[T]):
    """A per-run sink for tool events; `during(work)` streams them while `work` runs."""

    def __init__(self) -> None:
        self._buffer: list[Any] | None = None
        self._send: Any = None
        self.result: T | None = None

    def emit(self, event: Any) -> None:
        """Queue `event` for the stream (never blocks; dropped when no tools are running)."""
        if self._send is not None:
            self._send.send_nowait(event)
        elif self._buffer is not None:
            self._buffer.append(event)

    async def during(self, work: Awaitable[T]) -> AsyncGenerator[Any, None]:
        """Yield the events emitted while `work` runs; then `self.result` is its value."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not asyncio: run inline, deliver the events afterwards
            self._buffer = []
            try:
                self.result = await work
            finally:
                events, self._buffer = self._buffer, None
            for event in events:
                yield event
            return
        send, receive = anyio.create_memory_object_stream[Any](math.inf)
        task = asyncio.ensure_future(work)
        task.add_done_callback(lambda _: _wake(send))
        self._send = send
        try:
            while True:
                event = await receive.receive()
                if event is _DONE:
                    break
                yield event
            self.result = task.result()
        finally:
            self._send = None
            if not task.done():
                task.cancel()
                with anyio.CancelScope(shield=True):
                    await asyncio.wait([task])
            elif not task.cancelled():
                task.exception()  # retrieved: no "never retrieved" warning
            send.close()
            receive.close()


def _wake(send: Any) -> None:
    """Tell `during` the work is done (unless it stopped listening: then nobody waits)."""
    try:
        send.send_nowait(_DONE)
    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
        pass
