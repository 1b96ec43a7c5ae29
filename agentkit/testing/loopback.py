"""The loopback server's HTTP side: a minimal HTTP/1.1 server on asyncio streams.

`LoopbackApp` owns the script (FIFO steps, then an optional responder), records every
request and answers `POST .../chat/completions` (streaming or not), `GET .../models` and the
`/_loopback/...` control endpoints used when the server runs in another process.
Lifecycle (threads, processes) lives in `server.py`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .history_check import check_history, check_thinking_stream
from .render import Chunking, dumps, render_json_body, render_raw_sse, render_sse
from .script import Fault, RawStep, Step, step_from_dict

__all__ = ["LoopbackApp", "RecordedRequest", "Responder"]

Responder = Callable[[dict[str, Any]], Step | RawStep | Awaitable[Step | RawStep]]

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
            409: "Conflict", 411: "Length Required", 413: "Payload Too Large",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout"}
_MAX_BODY = 64 * 1024 * 1024

_DEFAULT_ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("invalid_parameter_error", "invalid_request_error", "The request is invalid."),
    401: ("invalid_api_key", "invalid_request_error", "Incorrect API key provided."),
    429: ("limit_requests", "limit_requests",
          "You exceeded your current requests rate limit, please retry later."),
    500: ("internal_error", "internal_error",
          "An internal error has occurred, please try again later."),
    503: ("service_unavailable", "service_unavailable", "The service is overloaded."),
}


@dataclass(slots=True)
class RecordedRequest:
    """A request the server received. `headers` keys are lower-case.

    `outcome`: "pending", "complete", "fault", "rejected" (4xx from validation or a missing
    step) or "client_disconnected" (the client went away mid-response). `connection` numbers
    the TCP connection it came on (equal numbers: a kept-alive connection was reused).
    """

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    method: str = "POST"
    outcome: str = "pending"
    connection: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "headers": self.headers, "body": self.body,
                "method": self.method, "outcome": self.outcome, "connection": self.connection}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecordedRequest:
        return cls(path=data["path"], headers=data["headers"], body=data["body"],
                   method=data.get("method", "POST"), outcome=data.get("outcome", "pending"),
                   connection=data.get("connection", 0))


class _ClientGone(Exception):
    pass


@dataclass
class LoopbackApp:
    """Script, records and HTTP handling. Thread-safe for the owner's accessors."""

    steps: Iterable[Step | RawStep] = ()
    responder: Responder | None = None
    chunking: Chunking = field(default_factory=Chunking)
    strict: bool = True
    record: bool = True
    models: Sequence[str] = ("qwen3-max",)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: deque[Step | RawStep] = deque()
        self._requests: list[RecordedRequest] = []
        self._errors: list[str] = []
        self._count = 0
        self._connections = 0
        self.add_steps(self.steps)

    # -- owner-side accessors (any thread) ------------------------------------------------
    def add_steps(self, steps: Iterable[Step | RawStep]) -> None:
        items = list(steps)
        for s in items:
            if not isinstance(s, (Step, RawStep)):
                raise TypeError(f"expected Step or RawStep, got {type(s).__name__}")
        with self._lock:
            self._queue.extend(items)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def errors(self) -> list[str]:
        with self._lock:
            return list(self._errors)

    def wait_for(self, predicate: Callable[[list[RecordedRequest]], bool],
                 timeout: float) -> list[RecordedRequest]:
        """Block until `predicate(requests)` holds; TimeoutError after `timeout` seconds."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(list(self._requests)), timeout):
                raise TimeoutError(f"LoopbackServer: condition not met within {timeout}s; "
                                   f"requests: {[r.outcome for r in self._requests]}")
            return list(self._requests)

    def _set_outcome(self, rec: RecordedRequest, outcome: str) -> None:
        with self._changed:
            rec.outcome = outcome
            self._changed.notify_all()

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"remaining": len(self._queue), "errors": list(self._errors),
                    "handled": self._count, "connections": self._connections}

    # -- connection handling ----------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection (keep-alive: many requests) until it closes."""
        with self._lock:
            self._connections += 1
            conn = self._connections
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        ConnectionError):
                    return
                keep = await self._one(head, reader, writer, conn)
                if not keep:
                    return
        except (_ClientGone, ConnectionError, asyncio.IncompleteReadError):
            return
        except Exception as exc:  # a bug here must fail the test, not vanish in a log
            with self._lock:
                self._errors.append(f"LoopbackServer internal error: {exc!r}")
            writer.transport.abort()
        finally:
            writer.close()

    async def _one(self, head: bytes, reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter, conn: int) -> bool:
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            await self._send_json(writer, 400, {"error": {"message": "bad request line"}}, False)
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            await self._send_json(writer, 411, {"error": {"message": "send Content-Length"}},
                                  False)
            return False
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            await self._send_json(writer, 413, {"error": {"message": "bad Content-Length"}},
                                  False)
            return False
        raw = await reader.readexactly(length) if length else b""
        path = target.split("?", 1)[0]
        if path.startswith("/_loopback/"):
            return await self._control(method, path, raw, writer, keep)
        if method == "GET" and path.endswith("/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "agentkit"}
                    for m in self.models]
            await self._send_json(writer, 200, {"object": "list", "data": data}, keep)
            return keep
        if not path.endswith("/chat/completions"):
            await self._send_json(writer, 404, _err_body(404, f"no route for {path}"), keep)
            return keep
        if method != "POST":
            await self._send_json(writer, 405, _err_body(405, "use POST"), keep)
            return keep
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            await self._send_json(writer, 400, _err_body(400, "body must be a JSON object"),
                                  keep)
            return keep
        rec = RecordedRequest(path=path, headers=headers, body=body, method=method,
                              connection=conn)
        if self.record:
            with self._lock:
                self._requests.append(rec)
                self._changed.notify_all()
        return await self._completion(rec, len(raw), reader, writer, keep)

    async def _completion(self, rec: RecordedRequest, raw_len: int,
                          reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                          keep: bool) -> bool:
        body = rec.body
        problem = check_thinking_stream(body)
        if problem is None and self.strict:
            problem = check_history(body)
        if problem is not None:
            self._set_outcome(rec, "rejected")
            await self._send_json(writer, 400, problem, keep)
            return keep
        try:
            step = await self._next_step(body)
        except Exception as exc:  # the responder failed or the script ran out
            self._set_outcome(rec, "rejected")
            with self._lock:
                self._errors.append(str(exc))
            await self._send_json(writer, 400, {"error": {
                "code": "loopback_script_error", "type": "invalid_request_error",
                "message": str(exc)}}, keep)
            return keep
        delay = step.delay
        if delay > 0:
            await asyncio.sleep(delay)
            if reader.at_eof():
                self._set_outcome(rec, "client_disconnected")
                raise _ClientGone
        if isinstance(step, RawStep):
            await self._stream(writer, reader, rec, render_raw_sse(step), None,
                               step.chunk_delay, step.status, step.headers)
            return keep
        fault = step.fault
        if fault is not None and fault.kind == "disconnect":
            self._set_outcome(rec, "fault")
            writer.transport.abort()
            raise _ClientGone
        if fault is not None and fault.kind == "http_error":
            self._set_outcome(rec, "fault")
            status = fault.status or 500
            err = fault.body if fault.body is not None else _err_body(status, None)
            await self._send_json(writer, status, err, keep, fault.headers)
            return keep
        model = str(body.get("model") or "loopback")
        if not body.get("stream"):
            payload = render_json_body(step, self.chunking, model=model, prompt_chars=raw_len)
            self._set_outcome(rec, "complete")
            await self._send_json(writer, 200, payload, keep)
            return keep
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = render_sse(step, self.chunking, model=model, include_usage=include_usage,
                            prompt_chars=raw_len)
        await self._stream(writer, reader, rec, events, fault, step.chunk_delay, 200, {})
        return keep

    async def _next_step(self, body: dict[str, Any]) -> Step | RawStep:
        with self._lock:
            self._count += 1
            n = self._count
            if self._queue:
                return self._queue.popleft()
        if self.responder is None:
            raise RuntimeError(
                f"LoopbackServer: script exhausted at request #{n} (no step left and no "
                "responder); add steps or check for an unexpected extra request")
        result = self.responder(body)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, (Step, RawStep)):
            raise TypeError(f"responder must return Step or RawStep, got {result!r}")
        return result

    async def _stream(self, writer: asyncio.StreamWriter, reader: asyncio.StreamReader,
                      rec: RecordedRequest, events: list[bytes], fault: Fault | None,
                      chunk_delay: float, status: int, extra: dict[str, str]) -> None:
        hdr = _head(status, "text/event-stream", None, True, extra)
        hdr += b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
        cut = fault is not None and fault.kind == "cut"
        if cut:
            assert fault is not None
            events = events[:min(fault.n_chunks, max(len(events) - 1, 0))]
        frames = [b"%x\r\n%b\r\n" % (len(e), e) for e in events]
        if not cut:
            frames.append(b"0\r\n\r\n")
        if chunk_delay <= 0:
            writer.write(hdr + b"".join(frames))
            await writer.drain()
        else:
            writer.write(hdr)
            for frame in frames:
                await writer.drain()
                await asyncio.sleep(chunk_delay)
                if reader.at_eof() or writer.transport.is_closing():
                    self._set_outcome(rec, "client_disconnected")
                    raise _ClientGone
                writer.write(frame)
            await writer.drain()
        if cut:
            self._set_outcome(rec, "fault")
            writer.transport.abort()
            raise _ClientGone
        self._set_outcome(rec, "complete")

    async def _send_json(self, writer: asyncio.StreamWriter, status: int, obj: Any,
                         keep: bool, extra: dict[str, str] | None = None) -> None:
        payload = dumps(obj)
        writer.write(_head(status, "application/json", len(payload), keep, extra or {})
                     + b"\r\n" + payload)
        await writer.drain()

    # -- control endpoints (for process mode) -----------------------------------------------
    async def _control(self, method: str, path: str, raw: bytes,
                       writer: asyncio.StreamWriter, keep: bool) -> bool:
        name = path[len("/_loopback/"):]
        if method == "GET" and name == "requests":
            out: Any = [r.to_dict() for r in self.requests]
        elif method == "GET" and name == "state":
            out = self.state()
        elif method == "POST" and name == "steps":
            try:
                self.add_steps(step_from_dict(d) for d in json.loads(raw))
            except (ValueError, TypeError, KeyError) as exc:
                await self._send_json(writer, 400, _err_body(400, f"bad steps: {exc}"), keep)
                return keep
            out = self.state()
        elif method == "POST" and name == "clear_requests":
            self.clear_requests()
            out = self.state()
        else:
            await self._send_json(writer, 404, _err_body(404, f"no control {name!r}"), keep)
            return keep
        await self._send_json(writer, 200, out, keep)
        return keep


def _head(status: int, ctype: str, length: int | None, keep: bool,
          extra: dict[str, str]) -> bytes:
    reason = _REASONS.get(status, "Status")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {ctype}",
             f"Connection: {'keep-alive' if keep else 'close'}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines.extend(f"{k}: {v}" for k, v in extra.items())
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def _err_body(status: int, message: str | None) -> dict[str, Any]:
    code, etype, default = _DEFAULT_ERRORS.get(
        status, ("error", "server_error" if status >= 500 else "invalid_request_error",
                 _REASONS.get(status, "error")))
    return {"error": {"code": code, "type": etype, "message": message or default}}
