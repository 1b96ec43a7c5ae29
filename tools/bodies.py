"""Read an HTTP response body under a byte cap that holds after decompression.

httpx decodes `Content-Encoding` chunk by chunk before a caller can count bytes, so a small
gzip "bomb" can expand to gigabytes in one synchronous call. Here the raw bytes are read
(`aiter_raw`) and inflated with `zlib`, never producing more output than the room left under
the cap. Only gzip and deflate are accepted (and asked for), and only one coding at a time:
stacked codings (`gzip, gzip`) multiply the expansion and have no legitimate use.
"""

from __future__ import annotations

import zlib
from typing import Any

__all__ = ["ACCEPT_ENCODING", "BodyError", "Inflater", "content_codings", "read_body"]

ACCEPT_ENCODING = "gzip, deflate"
"""The `Accept-Encoding` to send: the codings `read_body` can decode under a cap."""

_GZIP = ("gzip", "x-gzip")


class BodyError(ValueError):
    """A response body was refused (its encoding); the message says why."""


def content_codings(headers: Any) -> list[str]:
    """The content codings applied to a response, in order (`identity` left out)."""
    values = headers.get_list("content-encoding") if hasattr(headers, "get_list") else \
        [headers.get("content-encoding", "")]
    codings = [c.strip().lower() for v in values for c in str(v).split(",")]
    return [c for c in codings if c and c != "identity"]


class Inflater:
    """Incremental gzip/deflate decoding that never returns more than it is given room for.

    `over` becomes True when decoded output was left behind because the room ran out.
    """

    def __init__(self, coding: str) -> None:
        if coding not in (*_GZIP, "deflate"):
            raise BodyError(f"unsupported content encoding {coding!r}")
        self.coding = coding
        self.over = False
        self._d: Any = None
        self._pending = b""
        self._done = False

    def _start(self, head: bytes) -> Any:
        if self.coding == "deflate":  # RFC 9110 says zlib-wrapped; some servers send raw
            wrapped = head[0] & 0x0F == 8 and ((head[0] << 8) | head[1]) % 31 == 0
            return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes, room: int) -> bytes:
        """Decode `data`, returning at most `room` bytes."""
        data, self._pending = self._pending + data, b""
        out: list[bytes] = []
        while data and room > 0 and not self._done:
            if self._d is None:
                if len(data) < 2:
                    self._pending = data
                    break
                self._d = self._start(data)
            try:
                piece = self._d.decompress(data, room)  # room > 0: a real limit
            except zlib.error as exc:
                raise BodyError(f"the body is not valid {self.coding} data ({exc})") from None
            out.append(piece)
            room -= len(piece)
            if self._d.unconsumed_tail:  # stopped at the limit with input left
                self.over = True
                break
            data = b""
            if self._d.eof:
                rest = self._d.unused_data
                if self.coding not in _GZIP or rest[:2] not in (b"", b"\x1f", b"\x1f\x8b"):
                    self._done = True  # trailing bytes after the stream are ignored
                elif rest:  # another gzip member follows
                    self._d, data = None, rest
                else:  # a member ended with this chunk; another may follow
                    self._d = None
        if data and room <= 0:
            self.over = True
        return b"".join(out)


async def read_body(resp: Any, max_bytes: int) -> tuple[bytes, bool]:
    """The (decoded) body of a streamed httpx response, at most `max_bytes`; and whether
    it was cut. Raises `BodyError` for stacked or unsupported content codings."""
    codings = content_codings(resp.headers)
    if len(codings) > 1:
        raise BodyError(f"the response uses more than one content encoding "
                        f"({', '.join(codings)}); refused, as stacked compression is a "
                        "decompression-bomb technique")
    inflater = Inflater(codings[0]) if codings else None
    chunks: list[bytes] = []
    size = raw_size = 0
    async for raw in resp.aiter_raw():
        raw_size += len(raw)
        room = max_bytes - size
        if inflater is None:
            piece, over = raw[:room], len(raw) > room
        else:
            piece = inflater.feed(raw, room)
            over = inflater.over or raw_size > 2 * max_bytes + 65536
        chunks.append(piece)
        size += len(piece)
        if over or size >= max_bytes:
            return b"".join(chunks), True
    return b"".join(chunks), False
