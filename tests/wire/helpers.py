"""Shared helpers for the wire tests: loading conformance cases and checking results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from agentkit.errors import ModelAPIError
from agentkit.models.base import (
    ModelResponse,
    ModelStreamEvent,
    ReasoningPart,
    TextPart,
    ToolCallPart,
    ToolSpec,
)
from agentkit.wire import StreamNormalizer, get_profile

CASES_DIR = Path(__file__).parent / "cases"


def load_cases() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(CASES_DIR.glob("*.json"))}


CASES = load_cases()
STREAM_CASES = sorted(n for n, c in CASES.items() if not c.get("http"))


def tools_of(case: dict[str, Any]) -> list[ToolSpec]:
    return [ToolSpec(t["name"], t.get("description", ""), t["parameters"])
            for t in case["tools"]]


def sse_lines(case: dict[str, Any]) -> list[bytes]:
    """The case as the SSE lines a server would send (blank separators included)."""
    out: list[bytes] = []
    for c in case["chunks"]:
        if isinstance(c, dict):
            out.append(b"data: " + orjson.dumps(c))
        else:
            out.extend(c.encode().split(b"\n"))
        out.append(b"")
    if case.get("done", True):
        out += [b"data: [DONE]", b""]
    return out


def normalizer_for(case: dict[str, Any]) -> StreamNormalizer:
    return StreamNormalizer(get_profile(case["profile"]), tools_of(case), case["thinking"])


def run_lines(case: dict[str, Any], lines: list[bytes]
              ) -> tuple[list[ModelStreamEvent], ModelAPIError | None]:
    norm = normalizer_for(case)
    events: list[ModelStreamEvent] = []
    try:
        for line in lines:
            events.extend(norm.feed_line(line))
        events.extend(norm.close())
    except ModelAPIError as exc:
        return events, exc
    return events, None


def check(case: dict[str, Any], events: list[ModelStreamEvent],
          error: ModelAPIError | None) -> None:
    exp = case["expect"]
    if "error" in exp:
        want = exp["error"]
        assert error is not None, f"expected an error, got {events[-1:]}"
        assert error.retryable is want["retryable"], error
        if "status" in want:
            assert error.status_code == want["status"]
        if "retry_after" in want:
            assert error.retry_after == want["retry_after"]
        if "message" in want:
            assert want["message"] in str(error)
        return
    assert error is None, f"unexpected error: {error!r}"
    responses = [e for e in events if isinstance(e, ModelResponse)]
    assert len(responses) == 1 and events[-1] is responses[0], "one ModelResponse, last"
    msg = responses[0].message
    for key in ("reasoning", "content", "finish_reason"):
        if key in exp:
            assert getattr(msg, key) == exp[key], (key, getattr(msg, key), exp[key])
    if "reasoning_contains" in exp:
        assert exp["reasoning_contains"] in msg.reasoning
    calls = exp.get("tool_calls", [])
    assert [c.name for c in msg.tool_calls] == [c["name"] for c in calls]
    for got, want in zip(msg.tool_calls, calls, strict=True):
        assert json.loads(got.arguments) == want["arguments"]
        assert isinstance(json.loads(got.arguments), dict)
        if "id" in want:
            assert got.id == want["id"]
    broken = exp.get("broken_tool_calls", [])
    assert [b.name for b in msg.broken_tool_calls] == [b["name"] for b in broken]
    for got_b, want_b in zip(msg.broken_tool_calls, broken, strict=True):
        assert want_b["reason"] in got_b.reason, got_b.reason
    ids = [c.id for c in msg.tool_calls] + [b.id for b in msg.broken_tool_calls]
    assert len(set(ids)) == len(ids), "call ids are unique"
    if "usage" in exp:
        for key, value in exp["usage"].items():
            assert getattr(responses[0].usage, key) == value, key
    check_events_match(events, msg)


def check_events_match(events: list[ModelStreamEvent], msg: Any) -> None:
    """The streamed deltas add up to the final message."""
    text = "".join(e.text for e in events if isinstance(e, TextPart))
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningPart))
    assert text.strip() == msg.content
    assert msg.reasoning in reasoning
    parts: dict[int, list[ToolCallPart]] = {}
    for e in events:
        if isinstance(e, ToolCallPart):
            parts.setdefault(e.index, []).append(e)
    by_id = {}
    for group in parts.values():
        assert group[0].id is not None, "the first fragment of a call carries its id"
        assert all(p.id is None for p in group[1:])
        by_id[group[0].id] = group
    for call in msg.tool_calls:
        group = by_id[call.id]
        assert next(p.name for p in group if p.name) == call.name
        streamed = "".join(p.arguments_delta for p in group)
        if streamed.strip():
            assert json.loads(call.arguments) == _loose(streamed)


def _loose(text: str) -> Any:
    from agentkit.wire import parse_arguments

    return parse_arguments(text)[0]


def summary(events: list[ModelStreamEvent]) -> tuple[Any, ...]:
    """What must not depend on chunk boundaries."""
    resp = events[-1]
    assert isinstance(resp, ModelResponse)
    text = "".join(e.text for e in events if isinstance(e, TextPart))
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningPart))
    args: dict[int, str] = {}
    heads: list[tuple[int, str | None, str | None]] = []
    for e in events:
        if isinstance(e, ToolCallPart):
            args[e.index] = args.get(e.index, "") + e.arguments_delta
            if e.id is not None:
                heads.append((e.index, e.id, e.name))
    return (text, reasoning, args, heads, resp.message.model_dump())
