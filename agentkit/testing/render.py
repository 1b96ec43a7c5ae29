"""Turn a scripted `Step` into wire bytes (SSE or one JSON body) or abstract deltas.

`Chunking` says how a step is cut into deltas and which server's dialect is spoken;
the default is DashScope compatible mode. Shared by `LoopbackServer` and `ScriptedModel`
so both replay a script the same way.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from .script import RawStep, Step

__all__ = [
    "Chunking",
    "Delta",
    "dumps",
    "estimate_tokens",
    "plan_deltas",
    "render_json_body",
    "render_raw_sse",
    "render_sse",
    "split_text",
    "wire_usage",
]

try:  # orjson is a core dependency; fall back so the doubles work without it
    import orjson

    def dumps(obj: Any) -> bytes:
        """Compact JSON bytes."""
        return orjson.dumps(obj)
except ImportError:  # pragma: no cover - orjson is normally installed
    def dumps(obj: Any) -> bytes:
        """Compact JSON bytes."""
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class Chunking:
    """How a step is split into stream chunks, and in which dialect.

    - `reasoning_parts` / `text_parts` / `argument_parts`: at most this many deltas each
      (fewer when the text is shorter; 0 or 1 sends it whole).
    - `reasoning_field`: `reasoning_content` (DashScope, DeepSeek, SGLang) or `reasoning`
      (new vLLM, Ollama).
    - `content_on_reasoning`: add `content: ""` to reasoning chunks (DashScope).
    - `continuation_id`: `"empty"` sends `id: ""` on continuation fragments (DashScope),
      `"omit"` leaves it out (OpenAI).
    - `arguments_in_first`: the first fragment already carries argument text (DashScope);
      otherwise it carries `arguments: ""` (OpenAI).
    - `whole_tool_calls`: each call in one chunk (Ollama); `same_index`: every call at index 0.
    """

    reasoning_parts: int = 4
    text_parts: int = 4
    argument_parts: int = 3
    reasoning_field: str = "reasoning_content"
    content_on_reasoning: bool = True
    continuation_id: Literal["empty", "omit"] = "empty"
    arguments_in_first: bool = True
    whole_tool_calls: bool = False
    same_index: bool = False

    @classmethod
    def dashscope(cls, **kw: Any) -> Chunking:
        return cls(**kw)

    @classmethod
    def openai(cls, **kw: Any) -> Chunking:
        base: dict[str, Any] = {"content_on_reasoning": False, "continuation_id": "omit",
                                "arguments_in_first": False}
        return cls(**{**base, **kw})

    @classmethod
    def vllm(cls, **kw: Any) -> Chunking:
        base: dict[str, Any] = {"reasoning_field": "reasoning", "content_on_reasoning": False,
                                "continuation_id": "omit", "arguments_in_first": False}
        return cls(**{**base, **kw})

    @classmethod
    def ollama(cls, **kw: Any) -> Chunking:
        base: dict[str, Any] = {"reasoning_field": "reasoning", "content_on_reasoning": False,
                                "continuation_id": "omit", "whole_tool_calls": True,
                                "same_index": True}
        return cls(**{**base, **kw})

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunking:
        return cls(**data)


# A delta: ("reasoning", text) | ("text", text) | ("tool", index, id, name, arguments)
# where id/name are None on continuation fragments.
Delta = tuple[Any, ...]


def split_text(text: str, parts: int) -> list[str]:
    """`text` in at most `parts` non-empty pieces of near-equal length."""
    if not text:
        return []
    n = max(1, min(parts, len(text)))
    size = math.ceil(len(text) / n)
    return [text[i:i + size] for i in range(0, len(text), size)]


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def call_ids(step: Step) -> list[str]:
    """Ids for the step's calls: scripted ones, or fresh `call_...` ids."""
    return [c.id if c.id is not None else new_call_id() for c in step.tool_calls]


def plan_deltas(step: Step, chunking: Chunking, ids: list[str]) -> Iterator[Delta]:
    """The step as a sequence of abstract deltas, in stream order."""
    for piece in split_text(step.thinking, chunking.reasoning_parts):
        yield ("reasoning", piece)
    for piece in split_text(step.text, chunking.text_parts):
        yield ("text", piece)
    for i, (c, cid) in enumerate(zip(step.tool_calls, ids, strict=True)):
        index = 0 if chunking.same_index else i
        if chunking.whole_tool_calls:
            yield ("tool", index, cid, c.name, c.arguments)
            continue
        pieces = split_text(c.arguments, chunking.argument_parts)
        if chunking.arguments_in_first and pieces:
            yield ("tool", index, cid, c.name, pieces[0])
            pieces = pieces[1:]
        else:
            yield ("tool", index, cid, c.name, "")
        for piece in pieces:
            yield ("tool", index, None, None, piece)


def estimate_tokens(text_len: int) -> int:
    """A rough, deterministic token count for `text_len` characters (~4 chars a token)."""
    return (text_len + 3) // 4


def wire_usage(step: Step, prompt_chars: int) -> dict[str, Any]:
    """OpenAI-shaped usage for a step: scripted counts win, the rest is estimated."""
    given = dict(step.usage or {})
    reasoning = given.get("reasoning_tokens",
                          (given.get("completion_tokens_details") or {}).get("reasoning_tokens"))
    cached = given.get("cached_tokens",
                       (given.get("prompt_tokens_details") or {}).get("cached_tokens"))
    if reasoning is None:
        reasoning = estimate_tokens(len(step.thinking))
    prompt = given.get("prompt_tokens")
    if prompt is None:
        prompt = estimate_tokens(prompt_chars)
    completion = given.get("completion_tokens")
    if completion is None:
        body_chars = len(step.text) + sum(len(c.name) + len(c.arguments) for c in step.tool_calls)
        completion = reasoning + estimate_tokens(body_chars)
    total = given.get("total_tokens", prompt + completion)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "completion_tokens_details": {"reasoning_tokens": reasoning},
        "prompt_tokens_details": {"cached_tokens": cached or 0},
    }


def _sse(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


DONE = b"data: [DONE]\n\n"


def render_sse(step: Step, chunking: Chunking, *, model: str, include_usage: bool,
               prompt_chars: int) -> list[bytes]:
    """The step as SSE events (each `data: ...\\n\\n`), `[DONE]` last.

    A `cut` fault is applied by the caller (it needs the connection).
    """
    cid = "chatcmpl-" + uuid.uuid4().hex
    created = int(time.time())
    rfield = chunking.reasoning_field

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse({
            "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        })

    first: dict[str, Any] = {"role": "assistant", "content": ""}
    if step.thinking:
        first[rfield] = ""
    out = [chunk(first)]
    for d in plan_deltas(step, chunking, call_ids(step)):
        kind = d[0]
        if kind == "reasoning":
            delta: dict[str, Any] = {rfield: d[1]}
            if chunking.content_on_reasoning:
                delta["content"] = ""
            out.append(chunk(delta))
        elif kind == "text":
            out.append(chunk({"content": d[1]}))
        else:
            _, index, call_id, name, args = d
            frag: dict[str, Any] = {"index": index}
            if call_id is not None:
                frag["id"] = call_id
                frag["type"] = "function"
                frag["function"] = {"name": name, "arguments": args}
            else:
                if chunking.continuation_id == "empty":
                    frag["id"] = ""
                    frag["type"] = "function"
                frag["function"] = {"arguments": args}
            out.append(chunk({"tool_calls": [frag]}))
    out.append(chunk({}, step.effective_finish_reason))
    if include_usage:
        out.append(_sse({
            "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": None, "choices": [],
            "usage": wire_usage(step, prompt_chars),
        }))
    out.append(DONE)
    return out


def render_raw_sse(step: RawStep) -> list[bytes]:
    """A raw step's chunks as SSE events, verbatim."""
    out: list[bytes] = []
    for c in step.chunks:
        if isinstance(c, dict):
            out.append(_sse(c))
        else:
            data = c.encode() if isinstance(c, str) else c
            if not data.endswith(b"\n\n"):
                data += b"\n" if data.endswith(b"\n") else b"\n\n"
            out.append(data)
    if step.done:
        out.append(DONE)
    return out


def render_json_body(step: Step, chunking: Chunking, *, model: str,
                     prompt_chars: int) -> dict[str, Any]:
    """The step as one non-streaming `chat.completion` body."""
    message: dict[str, Any] = {"role": "assistant", "content": step.text or None}
    if step.thinking:
        message[chunking.reasoning_field] = step.thinking
    if step.tool_calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function",
             "function": {"name": c.name, "arguments": c.arguments}}
            for c, cid in zip(step.tool_calls, call_ids(step), strict=True)
        ]
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": step.effective_finish_reason}],
        "usage": wire_usage(step, prompt_chars),
    }
