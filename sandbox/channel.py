"""The host end of the JSON-lines channel over a container's attached stdin/stdout.

The attach is a raw HTTP upgrade on a fresh connection to the Docker daemon (no thread, no
connection-pool sharing): after ``101 UPGRADED`` the connection carries the container's
stdin one way and, since the container has no TTY, Docker's multiplexed stdout/stderr frames
(8-byte header: stream type, 3 zero bytes, big-endian payload length) the other way.
"""

from __future__ import annotations

import json
import os
import struct
from collections import deque
from typing import Any
from urllib.parse import urlparse

import anyio
import anyio.abc

from .result import SandboxError

__all__ = ["Channel", "ChannelClosed", "open_channel"]

_HEADER = struct.Struct(">BxxxL")
_STDERR_TAIL = 16 << 10


class ChannelClosed(SandboxError):
    """The container's side of the channel went away (container stopped or killed)."""


def _endpoint() -> tuple[str, str | int]:
    """(unix path, "") or (host, port) of the daemon, from DOCKER_HOST like the Docker SDK."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    url = urlparse(host)
    if url.scheme in ("unix", ""):
        return "unix", url.path or host
    if url.scheme in ("tcp", "http") and os.environ.get("DOCKER_TLS_VERIFY", "") in ("", "0"):
        return url.hostname or "127.0.0.1", url.port or 2375
    raise SandboxError(f"DOCKER_HOST={host!r}: only unix:// and plain tcp:// are supported")


async def open_channel(container_id: str, api_version: str) -> Channel:
    """Attach to the container's stdin/stdout/stderr (call this before starting it)."""
    kind, where = _endpoint()
    stream: anyio.abc.ByteStream
    if kind == "unix":
        stream = await anyio.connect_unix(str(where))
    else:
        stream = await anyio.connect_tcp(kind, int(where))
    request = (
        f"POST /v{api_version}/containers/{container_id}/attach"
        "?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
        "Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    )
    await stream.send(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        try:
            head += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError) as exc:
            await stream.aclose()
            raise SandboxError("the Docker daemon closed the attach connection") from exc
        if len(head) > 65536:
            await stream.aclose()
            raise SandboxError("bad attach response from the Docker daemon")
    head, _, rest = head.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    if " 101 " not in status and " 200 " not in status:
        await stream.aclose()
        raise SandboxError(f"attach failed: {status} {rest[:500]!r}")
    return Channel(stream, rest)


class Channel:
    """Send JSON requests; receive JSON replies demultiplexed from Docker's stream frames."""

    def __init__(self, stream: anyio.abc.ByteStream, initial: bytes = b"") -> None:
        self._stream = stream
        self._frames = bytearray(initial)
        self._line = bytearray()
        self._messages: deque[dict[str, Any]] = deque()
        self.stderr_tail = bytearray()
        self.closed = False

    async def send(self, message: dict[str, Any]) -> None:
        try:
            await self._stream.send(json.dumps(message).encode() + b"\n")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            self.closed = True
            raise ChannelClosed("the sandbox container is gone") from exc

    async def receive(self) -> dict[str, Any]:
        """Next message from the executor; raises ChannelClosed at end of stream."""
        while not self._messages:
            if self.closed:
                raise ChannelClosed(self._closed_reason())
            try:
                data = await self._stream.receive(1 << 20)
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError,
                    OSError):
                self.closed = True
                continue
            self._frames += data
            self._parse()
        return self._messages.popleft()

    def _parse(self) -> None:
        buf = self._frames
        pos = 0
        while len(buf) - pos >= 8:
            kind, size = _HEADER.unpack_from(buf, pos)
            if len(buf) - pos - 8 < size:
                break
            payload = buf[pos + 8 : pos + 8 + size]
            pos += 8 + size
            if kind == 1:
                self._line += payload
            elif kind == 2:
                self.stderr_tail += payload
                del self.stderr_tail[:-_STDERR_TAIL]
        del buf[:pos]
        while (nl := self._line.find(b"\n")) >= 0:
            raw = bytes(self._line[:nl])
            del self._line[: nl + 1]
            try:
                msg = json.loads(raw)
            except ValueError as exc:
                self.closed = True
                raise ChannelClosed(f"protocol error: undecodable message {raw[:200]!r}") from exc
            if isinstance(msg, dict):
                self._messages.append(msg)

    def _closed_reason(self) -> str:
        tail = self.stderr_tail.decode("utf-8", "replace").strip()
        return "the sandbox container stopped" + (f": {tail[-2000:]}" if tail else "")

    async def aclose(self) -> None:
        self.closed = True
        with anyio.CancelScope(shield=True):
            await self._stream.aclose()
