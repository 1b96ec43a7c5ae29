"""`SandboxPool`: warm, started sandboxes that hide the cold start; refilled in the background.

Sandboxes are never reused: a released sandbox is closed (its state could leak between
sessions) and the pool starts a fresh one to replace it.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from .result import SandboxError
from .sandbox import DockerSandbox

__all__ = ["SandboxPool"]


class SandboxPool:
    """Keep `size` started `DockerSandbox(**sandbox_kwargs)` ready.

    Use as ``async with SandboxPool(size=2, memory="512m") as pool:`` then
    ``async with pool.sandbox() as sb: ...`` or ``sb = await pool.acquire()`` (the caller
    closes it). `acquire` waits for a fresh one when the pool is empty.
    """

    def __init__(self, size: int = 2, *, acquire_timeout: float = 120.0,
                 **sandbox_kwargs: Any) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self.acquire_timeout = acquire_timeout
        self._kwargs = sandbox_kwargs
        self._ready: deque[DockerSandbox] = deque()
        self._starting = 0
        self._changed = anyio.Event()
        self._wanted = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self._closed = False
        self.last_error: BaseException | None = None

    async def __aenter__(self) -> SandboxPool:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Start the background filler (must be closed from the same task)."""
        if self._tg is not None:
            return
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._fill)

    @property
    def ready(self) -> int:
        """Number of started sandboxes waiting to be acquired."""
        return len(self._ready)

    async def wait_ready(self, count: int | None = None) -> None:
        """Wait until `count` (default: `size`) sandboxes are ready."""
        target = min(self.size if count is None else count, self.size)
        while len(self._ready) < target:
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def _fill(self) -> None:
        backoff = 0.5
        while not self._closed:
            if len(self._ready) + self._starting >= self.size:
                await self._wanted.wait()
                self._wanted = anyio.Event()
                continue
            self._starting += 1
            sb = DockerSandbox(**self._kwargs)
            try:
                await sb.start()
            except Exception as exc:  # daemon trouble: remember, back off, retry
                self.last_error = exc
                await sb.close()
                self._notify()
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            finally:
                self._starting -= 1
            backoff = 0.5
            if self._closed:
                await sb.close()
                return
            self._ready.append(sb)
            self.last_error = None
            self._notify()

    async def acquire(self) -> DockerSandbox:
        """A started sandbox, owned by the caller from now on (close it when done)."""
        if self._tg is None or self._closed:
            raise SandboxError("the pool is not running (use `async with SandboxPool(...)`)")
        with anyio.move_on_after(self.acquire_timeout):
            while True:
                while self._ready:
                    sb = self._ready.popleft()
                    self._wanted.set()
                    if sb.running:
                        return sb
                    await sb.close()
                changed = self._changed
                self._wanted.set()
                await changed.wait()
        detail = f": {self.last_error}" if self.last_error else ""
        raise SandboxError(f"no sandbox became ready within {self.acquire_timeout:g} s{detail}")

    @contextlib.asynccontextmanager
    async def sandbox(self) -> AsyncIterator[DockerSandbox]:
        """``async with pool.sandbox() as sb``: acquire, then close on exit."""
        sb = await self.acquire()
        try:
            yield sb
        finally:
            await sb.close()

    async def close(self) -> None:
        """Stop refilling and close every idle sandbox. Idempotent."""
        if self._closed:
            return
        self._closed = True
        tg, self._tg = self._tg, None
        if tg is not None:
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)
        with anyio.CancelScope(shield=True):
            while self._ready:
                await self._ready.popleft().close()
