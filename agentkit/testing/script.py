"""Scripted model steps: what a fake model says next, and how it fails.

A `Step` is one model response (thinking, text, tool calls, usage) or a fault. A `RawStep`
replays wire chunks verbatim, for conformance tests of other servers' shapes. Both round-trip
through plain JSON (`to_dict` / `from_dict`) so a script can cross a process boundary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Fault",
    "RawStep",
    "ScriptedCall",
    "Step",
    "call",
    "reply",
    "step_from_dict",
    "tool_step",
]


@dataclass(slots=True)
class ScriptedCall:
    """One tool call the fake model makes. `arguments` is raw text, sent verbatim."""

    name: str
    arguments: str = "{}"
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments, "id": self.id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScriptedCall:
        return cls(name=data["name"], arguments=data.get("arguments", "{}"), id=data.get("id"))


FaultKind = Literal["http_error", "cut", "disconnect"]


@dataclass(slots=True)
class Fault:
    """A scripted failure. Build with `http_error`, `cut_after` or `disconnect`."""

    kind: FaultKind
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    n_chunks: int = 0

    @classmethod
    def http_error(cls, status: int, body: Any = None,
                   headers: dict[str, str] | None = None) -> Fault:
        """Answer with HTTP `status` (JSON `body`, or a DashScope-style default) and `headers`."""
        if not 400 <= status <= 599:
            raise ValueError(f"http_error status must be 4xx or 5xx, got {status}")
        return cls("http_error", status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def cut_after(cls, n_chunks: int) -> Fault:
        """Send the headers and `n_chunks` SSE chunks, then drop the connection (no [DONE])."""
        if n_chunks < 0:
            raise ValueError("n_chunks must be >= 0")
        return cls("cut", n_chunks=n_chunks)

    @classmethod
    def disconnect(cls) -> Fault:
        """Close the connection before any response byte (a connection error to the client)."""
        return cls("disconnect")

    @property
    def retryable(self) -> bool:
        """Whether a client should retry: 408/409/429/5xx and broken connections."""
        if self.kind != "http_error":
            return True
        assert self.status is not None
        return self.status in (408, 409, 429) or self.status >= 500

    @property
    def retry_after(self) -> float | None:
        for key, value in self.headers.items():
            if key.lower() == "retry-after":
                try:
                    return float(value)
                except ValueError:
                    return None
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "status": self.status, "body": self.body,
                "headers": dict(self.headers), "n_chunks": self.n_chunks}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        return cls(kind=data["kind"], status=data.get("status"), body=data.get("body"),
                   headers=dict(data.get("headers") or {}), n_chunks=data.get("n_chunks", 0))


@dataclass(slots=True)
class Step:
    """One scripted model response.

    `usage` uses OpenAI wire keys (`prompt_tokens`, `completion_tokens`, `reasoning_tokens`,
    `cached_tokens`); missing counts are estimated. `finish_reason` defaults to "tool_calls"
    when there are calls, else "stop". `delay` waits before responding, `chunk_delay` between
    streamed chunks (both seconds). A `fault` replaces or truncates the response.
    """

    thinking: str = ""
    text: str = ""
    tool_calls: list[ScriptedCall] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    fault: Fault | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0

    def __post_init__(self) -> None:
        for c in self.tool_calls:
            if not isinstance(c, ScriptedCall):
                raise TypeError(f"tool_calls must hold call(...) results, got {c!r}")

    @property
    def effective_finish_reason(self) -> str:
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "step",
            "thinking": self.thinking,
            "text": self.text,
            "tool_calls": [c.to_dict() for c in self.tool_calls],
            "usage": self.usage,
            "finish_reason": self.finish_reason,
            "fault": self.fault.to_dict() if self.fault else None,
            "delay": self.delay,
            "chunk_delay": self.chunk_delay,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        fault = data.get("fault")
        return cls(
            thinking=data.get("thinking", ""),
            text=data.get("text", ""),
            tool_calls=[ScriptedCall.from_dict(c) for c in data.get("tool_calls") or []],
            usage=data.get("usage"),
            finish_reason=data.get("finish_reason"),
            fault=Fault.from_dict(fault) if fault else None,
            delay=float(data.get("delay", 0.0)),
            chunk_delay=float(data.get("chunk_delay", 0.0)),
        )


@dataclass(slots=True)
class RawStep:
    """Replay wire chunks verbatim (LoopbackServer only).

    A dict is sent as `data: {json}`; a str or bytes is sent as one raw SSE line (a
    `\\n\\n` terminator is added when missing). `done` appends `data: [DONE]`.
    `status`/`headers` override the HTTP status line and add response headers.
    """

    chunks: list[dict[str, Any] | str | bytes]
    done: bool = True
    delay: float = 0.0
    chunk_delay: float = 0.0
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        chunks: list[Any] = []
        for c in self.chunks:
            if isinstance(c, bytes):
                chunks.append({"__bytes__": c.decode("latin-1")})
            elif isinstance(c, str):
                chunks.append({"__raw__": c})
            else:
                chunks.append({"__chunk__": c})
        return {"type": "raw", "chunks": chunks, "done": self.done, "delay": self.delay,
                "chunk_delay": self.chunk_delay, "status": self.status,
                "headers": dict(self.headers)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RawStep:
        chunks: list[dict[str, Any] | str | bytes] = []
        for c in data.get("chunks") or []:
            if "__bytes__" in c:
                chunks.append(c["__bytes__"].encode("latin-1"))
            elif "__raw__" in c:
                chunks.append(c["__raw__"])
            else:
                chunks.append(c["__chunk__"])
        return cls(chunks=chunks, done=data.get("done", True),
                   delay=float(data.get("delay", 0.0)),
                   chunk_delay=float(data.get("chunk_delay", 0.0)),
                   status=int(data.get("status", 200)), headers=dict(data.get("headers") or {}))


def step_from_dict(data: dict[str, Any]) -> Step | RawStep:
    """Load either kind of step from `to_dict` output."""
    kind = data.get("type", "step")
    if kind == "raw":
        return RawStep.from_dict(data)
    if kind == "step":
        return Step.from_dict(data)
    raise ValueError(f"unknown step type {kind!r}")


def call(name: str, arguments: dict[str, Any] | str | None = None,
         id: str | None = None) -> ScriptedCall:
    """A scripted tool call. A dict is JSON-encoded; a str is sent verbatim (may be broken)."""
    if arguments is None:
        text = "{}"
    elif isinstance(arguments, str):
        text = arguments
    elif isinstance(arguments, dict):
        text = json.dumps(arguments, ensure_ascii=False)
    else:
        raise TypeError(f"arguments must be a dict or str, got {type(arguments).__name__}")
    return ScriptedCall(name=name, arguments=text, id=id)


def reply(text: str, thinking: str = "") -> Step:
    """A final answer step."""
    return Step(thinking=thinking, text=text)


def tool_step(*calls: ScriptedCall, thinking: str = "") -> Step:
    """A step that makes one or more tool calls."""
    if not calls:
        raise ValueError("tool_step needs at least one call(...)")
    return Step(thinking=thinking, tool_calls=list(calls))
