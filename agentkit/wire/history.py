"""Transcript to request body, per profile.

The history sent is valid for strict servers: every assistant tool-call message is
followed by exactly one result per call id, in call order; broken calls are never sent
(results that answer them, and results without a call, become a short user note);
reasoning goes back in the profile's field for the profile's turns only.
Wire dicts of old messages are cached per message object, so a long loop does not
rebuild its whole history every step.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from ..messages import (
    AssistantMessage,
    CompactionMarker,
    Message,
    SystemMessage,
    ToolMessage,
    UserMessage,
)
from ..models.base import ModelRequest, ToolSpec
from .profiles import Profile

__all__ = [
    "MISSING_RESULT",
    "WireCache",
    "broken_call_feedback",
    "build_messages",
    "build_request_body",
]

#: Content sent for a call whose result is missing from the transcript.
MISSING_RESULT = "[no result: this tool call was not run]"


def broken_call_feedback(name: str, reason: str) -> str:
    """What the model is told about a call that was not run because of its arguments."""
    what = f"`{name}`" if name else "a tool"
    return (f"Your call to {what} was not run: {reason}. "
            "Send the call again with complete, valid JSON arguments.")


class WireCache:
    """Wire dicts keyed by message identity (checked, so a reused id() cannot collide)."""

    __slots__ = ("_items", "_limit")

    def __init__(self, limit: int = 4096) -> None:
        self._items: dict[int, tuple[Any, Any, dict[str, Any], Any]] = {}
        self._limit = limit

    def get(self, obj: Any, stamp: Any, stamp2: Any = None) -> dict[str, Any] | None:
        """The cached value if `obj` is the same object with the same (identical) stamps."""
        hit = self._items.get(id(obj))
        if hit is not None and hit[0]() is obj and hit[1] is stamp and hit[3] is stamp2:
            return hit[2]
        return None

    def put(self, obj: Any, stamp: Any, value: dict[str, Any], stamp2: Any = None) -> None:
        if len(self._items) >= self._limit:
            self._items.clear()
        try:
            ref: Any = weakref.ref(obj)
        except TypeError:  # no weakref slot (e.g. ToolSpec): hold it strongly
            ref = _Strong(obj)
        self._items[id(obj)] = (ref, stamp, value, stamp2)


class _Strong:
    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __call__(self) -> Any:
        return self.obj


def _assistant_base(msg: AssistantMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant", "content": msg.content}
    if msg.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": c.arguments}}
            for c in msg.tool_calls
        ]
    return out


def _simple(msg: Message) -> dict[str, Any]:
    if isinstance(msg, ToolMessage):
        return {"role": "tool", "tool_call_id": msg.tool_call_id, "content": msg.content}
    assert isinstance(msg, (SystemMessage, UserMessage))
    return {"role": msg.role, "content": msg.content}


def build_messages(messages: Sequence[Message], profile: Profile,
                   cache: WireCache | None = None) -> list[dict[str, Any]]:
    """The `messages` array for `profile` (see the module docstring for the rules)."""
    field = profile.reasoning_replay_field
    policy = profile.reasoning_replay if field else "never"
    last_user = -1
    if policy == "current_loop":
        for i in range(len(messages) - 1, -1, -1):
            if isinstance(messages[i], UserMessage):
                last_user = i
                break
    out: list[dict[str, Any]] = []
    notes: list[str] = []
    i, n = 0, len(messages)
    while i < n:
        msg = messages[i]
        if not isinstance(msg, AssistantMessage):
            if isinstance(msg, CompactionMarker):  # a record, never sent
                pass
            elif isinstance(msg, ToolMessage):  # a result with no call before it
                notes.append(f"Result of tool call {msg.tool_call_id} ({msg.name}): "
                             f"{msg.content}")
            else:
                _flush_notes(out, notes)
                out.append(_cached(msg, cache, _simple))
            i += 1
            continue
        calls = msg.tool_calls
        skip = not calls and not msg.content  # only broken calls, or an empty turn
        if not skip:
            _flush_notes(out, notes)
        base = _cached(msg, cache, _assistant_base)
        at = i
        i += 1
        results: dict[str, ToolMessage] = {}
        while i < n and isinstance(messages[i], ToolMessage):
            tm = messages[i]
            assert isinstance(tm, ToolMessage)
            if tm.tool_call_id in results or not any(
                    c.id == tm.tool_call_id for c in msg.tool_calls):
                notes.append(_note_for(tm, msg))
            else:
                results[tm.tool_call_id] = tm
            i += 1
        if skip:
            continue
        send_reasoning = (
            (policy == "all" and bool(msg.reasoning))
            or (policy == "tool_turns" and bool(calls))
            or (policy == "current_loop" and at > last_user and bool(msg.reasoning))
        )
        if send_reasoning:
            assert field is not None
            base = {**base, field: msg.reasoning}
        out.append(base)
        for call in calls:
            res = results.get(call.id)
            if res is None:
                out.append({"role": "tool", "tool_call_id": call.id, "content": MISSING_RESULT})
            else:
                out.append(_cached(res, cache, _simple))
    _flush_notes(out, notes)
    return out


def _note_for(tm: ToolMessage, msg: AssistantMessage) -> str:
    for b in msg.broken_tool_calls:
        if b.id == tm.tool_call_id:
            return tm.content or broken_call_feedback(b.name, b.reason)
    return f"Result of tool call {tm.tool_call_id} ({tm.name}): {tm.content}"


def _flush_notes(out: list[dict[str, Any]], notes: list[str]) -> None:
    if notes:
        out.append({"role": "user", "content": "\n\n".join(notes)})
        notes.clear()


def _cached(msg: Any, cache: WireCache | None, build: Any) -> dict[str, Any]:
    if cache is None:
        result: dict[str, Any] = build(msg)
        return result
    stamp = msg.content
    stamp2 = msg.tool_calls if isinstance(msg, AssistantMessage) else None
    hit = cache.get(msg, stamp, stamp2)
    if hit is None:
        hit = build(msg)
        assert hit is not None
        cache.put(msg, stamp, hit, stamp2)
    return hit


def _tools(tools: Sequence[ToolSpec], cache: WireCache | None) -> list[dict[str, Any]]:
    if cache is None:
        return [t.to_openai() for t in tools]
    out = []
    for t in tools:
        hit = cache.get(t, t.parameters)
        if hit is None:
            hit = t.to_openai()
            cache.put(t, t.parameters, hit)
        out.append(hit)
    return out


def build_request_body(model: str, request: ModelRequest, profile: Profile,
                       thinking: bool | None, cache: WireCache | None = None,
                       ) -> dict[str, Any]:
    """The complete streaming Chat Completions body for `request`."""
    s = request.settings
    body: dict[str, Any] = {
        "model": model,
        "messages": build_messages(request.messages, profile, cache),
        "stream": True,
    }
    if profile.include_usage:
        body["stream_options"] = {"include_usage": True}
    if request.tools:
        body["tools"] = _tools(request.tools, cache)
        if profile.send_parallel_tool_calls or s.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = (profile.parallel_tool_calls_default
                                           if s.parallel_tool_calls is None
                                           else s.parallel_tool_calls)
    if s.temperature is not None:
        body["temperature"] = s.temperature
    if s.top_p is not None:
        body["top_p"] = s.top_p
    if s.seed is not None:
        body["seed"] = s.seed
    if s.max_tokens is not None:
        body[profile.max_tokens_field] = s.max_tokens
    _thinking_fields(body, profile, thinking, s.thinking_budget, s.reasoning_effort)
    for extra in (profile.extra_body, s.extra_body):
        for key, value in extra.items():
            old = body.get(key)
            if isinstance(old, dict) and isinstance(value, dict):
                body[key] = {**old, **value}
            else:
                body[key] = value
    return body


def _thinking_fields(body: dict[str, Any], profile: Profile, thinking: bool | None,
                     budget: int | None, effort: str | None) -> None:
    style = profile.thinking_style
    if style == "dashscope":
        if thinking is not None:
            body["enable_thinking"] = thinking
        if thinking:
            budget = budget if budget is not None else profile.default_thinking_budget
            if budget is not None:
                if profile.max_thinking_budget is not None:
                    budget = min(budget, profile.max_thinking_budget)
                body["thinking_budget"] = max(1, int(budget))
            elif effort:
                body["reasoning_effort"] = effort  # never together with thinking_budget
            if profile.preserve_thinking:
                body["preserve_thinking"] = True
    elif style == "chat_template_kwargs":
        if thinking is not None:
            body["chat_template_kwargs"] = {"enable_thinking": thinking}
        if effort:
            body["reasoning_effort"] = effort
    elif style == "reasoning_effort":
        if thinking is False:
            if profile.thinking_off_effort:
                body["reasoning_effort"] = profile.thinking_off_effort
        elif thinking is True:
            value = effort or profile.thinking_on_effort
            if value:
                body["reasoning_effort"] = value
        elif effort:
            body["reasoning_effort"] = effort
    elif style == "deepseek":
        if thinking is not None:
            body["thinking"] = {"type": "enabled" if thinking else "disabled"}
    elif effort:
        body["reasoning_effort"] = effort
