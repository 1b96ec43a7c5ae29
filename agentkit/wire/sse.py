"""Server-sent events: `data:` lines of a Chat Completions stream to chunk dicts.

`SSEDecoder` takes whole lines (bytes or str, with or without the line ending) and
returns a parsed chunk, the `DONE` marker, or `None` for lines that carry no chunk
(blank lines, comments, `event:`/`id:`/`retry:` fields). A JSON payload split over
several `data:` lines (allowed by the SSE spec) is joined at the blank line that ends
the event. `split_lines` turns arbitrary byte blocks into lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import orjson

__all__ = ["DONE", "SSEDecoder", "split_lines"]


class _Done:
    __slots__ = ()

    def __repr__(self) -> str:
        return "DONE"


DONE: Final = _Done()


class SSEDecoder:
    """Turns SSE lines into chunk dicts. Not thread-safe; one per stream."""

    __slots__ = ("_pending", "pending")

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        #: Non-empty (truthy) while a multi-line `data:` payload is incomplete.
        self.pending = self._pending

    def decode(self, line: bytes | str) -> dict[str, Any] | _Done | None:
        if isinstance(line, str):
            line = line.encode()
        if not line.startswith(b"data:"):
            line = line.rstrip(b"\r\n")
            if not line:
                return self._flush()
            return None  # comment (":"), event:, id:, retry: — nothing to parse
        data = line[5:].strip()
        if self._pending:
            self._pending.append(data)
            return self._try_pending()
        if data == b"[DONE]":
            return DONE
        if not data:
            return None
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            self._pending.append(data)  # maybe continued on the next data: line
            return None
        return _object(value)

    def _try_pending(self) -> dict[str, Any] | None:
        try:
            value = orjson.loads(b"\n".join(self._pending))
        except orjson.JSONDecodeError:
            return None
        self._pending.clear()
        return _object(value)

    def _flush(self) -> dict[str, Any] | _Done | None:
        if not self._pending:
            return None
        joined = b"\n".join(self._pending)
        self._pending.clear()
        if joined == b"[DONE]":
            return DONE
        try:
            value = orjson.loads(joined)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"malformed SSE data: {joined[:200]!r}") from exc
        return _object(value)

    def close(self) -> dict[str, Any] | _Done | None:
        """End of body: whatever is still pending (raises ValueError if it is garbage)."""
        return self._flush()


def split_lines(blocks: Iterable[bytes]) -> Iterable[bytes]:
    """Lines from arbitrary byte blocks (handles `\\n` and `\\r\\n`; a lone `\\r` is rare)."""
    rest = b""
    for block in blocks:
        if rest:
            block = rest + block
        lines = block.split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest



def _object(value: Any) -> dict[str, Any]:
    """A chunk must be a JSON object; any other JSON value is garbage in the stream."""
    if type(value) is not dict:
        raise ValueError(f"malformed SSE data: a chunk must be a JSON object, "
                         f"not {type(value).__name__} {str(value)[:80]!r}")
    return value
