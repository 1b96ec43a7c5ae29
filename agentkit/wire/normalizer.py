"""One component that turns any server's stream chunks into agentkit's neutral events.

Feed parsed chunk dicts (`feed`) or raw SSE lines (`feed_line`); each call returns the
events it produced (ReasoningPart, TextPart, ToolCallPart). `close()` returns the last
events, ending with the `ModelResponse` (assembled AssistantMessage plus usage).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from ..errors import ModelAPIError
from ..messages import AssistantMessage, BrokenToolCall, ToolCall
from ..models.base import (
    ModelResponse,
    ModelStreamEvent,
    ReasoningPart,
    TextPart,
    ToolCallPart,
    ToolSpec,
)
from ..usage import Usage
from .content import ContentSplitter
from .holdback import TailCalls
from .profiles import GENERIC, Profile
from .repair import ArgumentsError, parse_arguments
from .sse import DONE, SSEDecoder
from .textcalls import CLOSE_TAG, OPEN_TAG, BlockScanner, TextCall, parse_block

__all__ = ["StreamNormalizer", "malformed_chunk", "stream_error", "usage_from"]

_loads = orjson.loads
_NO_FN: dict[str, Any] = {}


class _Slot:
    __slots__ = ("announced", "args", "id", "name", "pos", "server_id")

    def __init__(self, pos: int, call_id: str, server_id: str | None) -> None:
        self.pos = pos
        self.id = call_id
        self.server_id = server_id
        self.name: str | None = None
        self.args: list[str] = []
        self.announced = False

    def complete(self) -> bool:
        if not self.args:
            return False
        try:
            orjson.loads("".join(self.args))
        except orjson.JSONDecodeError:
            return False
        return True


def _is_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


class StreamNormalizer:
    """Per-response state. Not reusable: make one per request."""

    def __init__(self, profile: Profile = GENERIC, tools: Sequence[ToolSpec] = (),
                 thinking: bool | None = None,
                 new_id: Callable[[], str] | None = None) -> None:
        self.profile = profile
        self.thinking = thinking
        self._tools: dict[str, Mapping[str, Any]] = {t.name: t.parameters for t in tools}
        if new_id is None:
            counter = itertools.count(1)
            new_id = lambda: f"call_{next(counter)}"  # noqa: E731
        self._new_id = new_id
        self._rfields = profile.reasoning_fields
        self._reasoning: list[str] = []
        self._text: list[str] = []
        self._held: list[str] = []  # reasoning-field text while thinking is off
        self._answer_started = False
        self._reasoning_field_seen = False
        self._content = ContentSplitter(
            self._reasoning, self._text, tools=self._tools, think_tags=profile.think_tags,
            implicit_think_open=profile.implicit_think_open and thinking is True,
            text_tool_calls=profile.text_tool_calls)
        self._text_calls_seen = 0
        # markup that may be a call at the end of the reasoning field is held back
        self._tail_calls = TailCalls(self._tools) if profile.text_tool_calls and tools else None
        self._slots: list[_Slot] = []
        self._by_index: dict[Any, _Slot] = {}
        self._by_id: dict[str, _Slot] = {}
        self._last: _Slot | None = None
        self._n_calls = 0
        self._call_parts: list[tuple[str, TextCall]] = []
        self._sse = SSEDecoder()
        self.finish_reason: str | None = None
        self.saw_done = False
        self._output = False  # a choice carried reasoning, content or tool calls
        self.model_name: str | None = None
        self.response_id: str | None = None
        self.usage = Usage(requests=1)

    # -- input -------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """True once the stream said it was complete: a finish_reason, or [DONE] after output.

        A body with no choice carrying output and no finish_reason (`data: [DONE]` alone,
        or only a usage chunk) is not a complete answer but an incomplete stream.
        """
        return self.finish_reason is not None or (self.saw_done and self._output)

    def feed_line(self, line: bytes | str) -> list[ModelStreamEvent]:
        """One raw SSE line (`data: {...}`); non-data lines produce nothing."""
        if not line:
            if not self._sse.pending:
                return []
        elif line[:7] == b"data: {" and not self._sse.pending:  # the hot path
            try:
                value = _loads(line[6:])
            except ValueError:
                pass
            else:
                if type(value) is dict:
                    return self.feed(value)
        try:
            value = self._sse.decode(line)
        except ValueError as exc:
            raise malformed_chunk(str(exc)) from None
        if value is None:
            return []
        if value is DONE:
            self.saw_done = True
            return []
        assert isinstance(value, dict)
        return self.feed(value)

    def feed(self, chunk: Mapping[str, Any]) -> list[ModelStreamEvent]:
        """One parsed chunk dict; a chunk of the wrong shape raises a retryable ModelAPIError."""
        out: list[ModelStreamEvent] = []
        if self.saw_done:
            return out
        try:
            self._feed(chunk, out)
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
            raise malformed_chunk(f"{type(exc).__name__}: {exc}", chunk) from None
        return out

    def _feed(self, chunk: Mapping[str, Any], out: list[ModelStreamEvent]) -> None:
        if not isinstance(chunk, Mapping):
            raise TypeError(f"a chunk must be a JSON object, not {type(chunk).__name__}")
        if self.model_name is None:
            model = chunk.get("model")
            if isinstance(model, str):
                self.model_name = model
            rid = chunk.get("id")
            if isinstance(rid, str) and rid:
                self.response_id = rid
        choices = chunk.get("choices")
        if choices:
            if type(choices) is not list:
                raise TypeError(f"`choices` must be a list, not {type(choices).__name__}")
            choice = choices[0]
            delta = choice.get("delta") or choice.get("message")
            if delta:
                if type(delta) is not dict:
                    raise TypeError(f"`delta` must be an object, not {type(delta).__name__}")
                r = None
                for name in self._rfields:
                    r = delta.get(name)
                    if r:
                        break
                if r:
                    self._output = True
                    self._on_reasoning(_text_of(r, "reasoning"), out)
                c = delta.get("content")
                if c:
                    self._output = True
                    self._on_content(_text_of(c, "content"), out)
                tcs = delta.get("tool_calls")
                if tcs:
                    self._output = True
                    self._on_tool_calls(tcs, out)
            fr = choice.get("finish_reason")
            if fr:
                if type(fr) is not str:
                    raise TypeError(f"`finish_reason` must be a string, not {fr!r}")
                self.finish_reason = fr
        elif choices is not None and type(choices) is not list:
            raise TypeError(f"`choices` must be a list, not {type(choices).__name__}")
        else:
            err = chunk.get("error")
            if err:
                raise stream_error(err)
        usage = chunk.get("usage")
        if usage:
            self.usage = usage_from(usage)

    def _on_reasoning(self, r: str, out: list[ModelStreamEvent]) -> None:
        if self.thinking is False and not self._answer_started:
            self._held.append(r)  # may be the answer, misrouted: decided later
            return
        if not self._reasoning_field_seen:
            self._reasoning_field_seen = True
            self._content.reasoning_field_seen(out)
        if self._tail_calls is not None:
            r = self._tail_calls.feed(r)
            if not r:
                return
        self._reasoning.append(r)
        out.append(ReasoningPart(r))

    def _release_reasoning(self, out: list[ModelStreamEvent]) -> None:
        """An answer or a native call follows: held reasoning markup is not a call."""
        tail, self._tail_calls = self._tail_calls, None
        assert tail is not None
        r = tail.release()
        if r:
            self._reasoning.append(r)
            out.append(ReasoningPart(r))

    def _flush_held(self, out: list[ModelStreamEvent]) -> None:
        self._answer_started = True
        if self._held:
            r = "".join(self._held)
            self._held.clear()
            self._reasoning.append(r)
            out.append(ReasoningPart(r))

    def _on_content(self, c: str, out: list[ModelStreamEvent]) -> None:
        if self._tail_calls is not None and c.strip():
            self._release_reasoning(out)
        if not self._answer_started and ((self._held and c.strip()) or not self._held):
            self._flush_held(out)
        self._content.feed(c, out)
        if len(self._content.calls) != self._text_calls_seen:
            self._emit_text_calls(out)

    # -- native tool calls -----------------------------------------------------------
    def _on_tool_calls(self, tcs: Any, out: list[ModelStreamEvent]) -> None:
        if self._tail_calls is not None:
            self._release_reasoning(out)
        if not self._answer_started:
            self._flush_held(out)
        if isinstance(tcs, dict):
            tcs = [tcs]
        elif type(tcs) is not list:
            raise TypeError(f"`tool_calls` must be a list, not {type(tcs).__name__}")
        for tc in tcs:
            if type(tc) is not dict:
                raise TypeError(f"a tool call must be an object, not {type(tc).__name__}")
            idx = tc.get("index")
            raw_id = tc.get("id")
            cid = str(raw_id) if raw_id is not None and raw_id != "" else None
            fn = tc.get("function") or _NO_FN
            if type(fn) is not dict:
                raise TypeError(f"`function` must be an object, not {type(fn).__name__}")
            name = fn.get("name") or None
            if name is not None and type(name) is not str:
                raise TypeError(f"`function.name` must be a string, not {name!r}")
            args = fn.get("arguments")
            if cid is None and name is None and type(args) is str:  # the common continuation
                last = self._last
                if last is not None and last.announced and self._by_index.get(idx) is last:
                    if args:
                        last.args.append(args)
                        out.append(ToolCallPart(last.pos, None, None, args))
                    continue
            if args is not None and not isinstance(args, str):
                args = orjson.dumps(args).decode()
            slot = self._slot_for(idx, cid, args)
            if slot is None:
                continue  # a completed call sent again
            part = ToolCallPart(index=slot.pos)
            if name:
                if slot.name is None:
                    part.name = name
                slot.name = name  # assigned, never appended
            if not slot.announced:
                slot.announced = True
                part.id = slot.id
                part.name = slot.name
            if args:
                slot.args.append(args)
                part.arguments_delta = args
            if part.id is not None or part.name is not None or part.arguments_delta:
                out.append(part)

    def _slot_for(self, idx: Any, cid: str | None, args: str | None) -> _Slot | None:
        slot: _Slot | None
        if cid is not None:
            slot = self._by_id.get(cid)
            if slot is not None:
                if args and args.lstrip()[:1] == "{" and _is_json(args) and slot.complete():
                    return None  # the whole call again: deduplicate
            else:
                cur = self._by_index.get(idx) if idx is not None else None
                if cur is not None and cur.server_id is None and not cur.complete():
                    slot = cur  # the id arrived after the first fragment
                    slot.server_id = cid
                else:
                    slot = self._new_slot(cid)
                self._by_id[cid] = slot
        else:
            slot = self._by_index.get(idx) if idx is not None else None
            last = self._last
            if slot is None or (slot is not last and last is not None and slot.complete()
                                and not last.complete()):
                slot = last  # inconsistent indices: continue the call in progress
            if slot is None:
                slot = self._new_slot(None)
        if idx is not None:
            self._by_index[idx] = slot
        self._last = slot
        return slot

    def _new_slot(self, server_id: str | None) -> _Slot:
        slot = _Slot(self._n_calls, server_id or self._new_id(), server_id)
        self._n_calls += 1
        self._slots.append(slot)
        return slot

    def _emit_text_calls(self, out: list[ModelStreamEvent]) -> None:
        calls = self._content.calls
        for call in calls[self._text_calls_seen:]:
            self._add_text_call(call, out)
        self._text_calls_seen = len(calls)

    def _add_text_call(self, call: TextCall, out: list[ModelStreamEvent]) -> None:
        call_id = self._new_id()
        self._call_parts.append((call_id, call))
        if call.error is None:
            out.append(ToolCallPart(index=self._n_calls, id=call_id, name=call.name,
                                    arguments_delta=call.arguments))
            self._n_calls += 1

    # -- end -------------------------------------------------------------------------
    def close(self, require_finish: bool = True) -> list[ModelStreamEvent]:
        """Flush what is held back and end with the ModelResponse.

        With `require_finish`, a stream that never said it was complete raises a
        retryable ModelAPIError (the connection was cut).
        """
        out: list[ModelStreamEvent] = []
        try:
            tail = self._sse.close()
        except ValueError as exc:
            raise malformed_chunk(str(exc)) from None
        if isinstance(tail, dict):
            out.extend(self.feed(tail))
        elif tail is DONE:
            self.saw_done = True
        if require_finish and not self.finished:
            what = ("[DONE] without any choice or finish_reason" if self.saw_done
                    else "no finish_reason and no [DONE]")
            raise ModelAPIError(f"the model stream ended before it was complete ({what})",
                                retryable=True)
        mark = len(out)  # held reasoning, if released, comes before the content's last text
        self._content.finish(out)
        if len(self._content.calls) != self._text_calls_seen:
            self._emit_text_calls(out)
        if self._held:
            if self._text or self._slots or self._call_parts:
                self._flush_held(out)
            else:  # thinking was off: the answer was routed into the reasoning field
                s = "".join(self._held).strip()
                self._held.clear()
                if s:
                    self._text.append(s)
                    out.append(TextPart(s))
        calls, broken = self._assemble_calls()
        recover = not calls and not broken and not "".join(self._text).strip()
        if self._tail_calls is not None:
            released, found = self._tail_calls.finish(recover)
            if released:
                self._reasoning.append(released)
                out.insert(mark, ReasoningPart(released))
            for call in found:
                self._add_recovered(call, out, calls)
        if recover and not calls:  # markup released earlier (an answer began, then was empty)
            self._recover_calls_from_reasoning(out, calls, broken)
        # only fields that differ from their defaults: a pydantic model keeps a set of the
        # fields given, and five or more make it three times larger (memory per message)
        fields: dict[str, Any] = {"content": "".join(self._text).strip(),
                                  "reasoning": "".join(self._reasoning).strip(),
                                  "tool_calls": calls, "broken_tool_calls": broken,
                                  "finish_reason": self.finish_reason}
        message = AssistantMessage(**{k: v for k, v in fields.items() if v})
        out.append(ModelResponse(message=message, usage=self.usage, model_name=self.model_name,
                                 response_id=self.response_id))
        return out

    def _assemble_calls(self) -> tuple[list[ToolCall], list[BrokenToolCall]]:
        calls: list[ToolCall] = []
        broken: list[BrokenToolCall] = []
        seen: set[tuple[str, str]] = set()
        length = self.finish_reason == "length"
        for slot in self._slots:
            raw = "".join(slot.args)
            if not slot.name:
                broken.append(BrokenToolCall(id=slot.id, name="", raw_arguments=raw,
                                             reason="the tool call has no function name"))
                continue
            try:
                _, text = parse_arguments(raw)
            except ArgumentsError as exc:
                reason = str(exc)
                if length and exc.truncated:
                    reason = ("the arguments were cut off by the output token limit "
                              "(finish_reason=length)")
                broken.append(BrokenToolCall(id=slot.id, name=slot.name, raw_arguments=raw,
                                             reason=reason))
                continue
            seen.add((slot.name, text))
            calls.append(ToolCall(id=slot.id, name=slot.name, arguments=text))
        for call_id, tcall in self._call_parts:
            if tcall.error is not None:
                broken.append(BrokenToolCall(id=call_id, name=tcall.name,
                                             raw_arguments=tcall.arguments, reason=tcall.error))
            elif (tcall.name, tcall.arguments) not in seen:
                calls.append(ToolCall(id=call_id, name=tcall.name, arguments=tcall.arguments))
        return calls, broken

    def _recover_calls_from_reasoning(self, out: list[ModelStreamEvent], calls: list[ToolCall],
                                      broken: list[BrokenToolCall]) -> None:
        """A well-formed call at the very end of never-closed reasoning is a call."""
        if not (self.profile.text_tool_calls and self._tools and self._reasoning_field_seen):
            return
        reasoning = "".join(self._reasoning)
        start = reasoning.rfind(OPEN_TAG)
        if start < 0:
            return
        # all consecutive blocks at the tail
        head = reasoning[:start]
        found: list[TextCall] = []
        tail = reasoning[start:]
        while True:
            scanner = BlockScanner()
            end = scanner.feed(tail[len(OPEN_TAG):])
            if end is None:
                end = scanner.finish()
            if end is None or end < 0:
                return
            call = parse_block(scanner.body(), self._tools)
            if call is None or call.error is not None:
                return
            if tail[len(OPEN_TAG) + end:].strip():
                return
            found.insert(0, call)
            prev = head.rstrip()
            if not prev.endswith(CLOSE_TAG):
                break
            start = head.rfind(OPEN_TAG)
            if start < 0:
                break
            head, tail = head[:start], head[start:]
        self._reasoning[:] = [head.rstrip()]
        for call in found:
            self._add_recovered(call, out, calls)

    def _add_recovered(self, call: TextCall, out: list[ModelStreamEvent],
                       calls: list[ToolCall]) -> None:
        call_id = self._new_id()
        out.append(ToolCallPart(index=self._n_calls, id=call_id, name=call.name,
                                arguments_delta=call.arguments))
        self._n_calls += 1
        calls.append(ToolCall(id=call_id, name=call.name, arguments=call.arguments))


def usage_from(raw: Mapping[str, Any]) -> Usage:
    """Usage from a Chat Completions `usage` object (reasoning and cached tokens included).

    A wrong shape (not an object, a count that is not a non-negative number) raises a
    retryable ModelAPIError.
    """
    try:
        top = _obj(raw, "usage")
        completion = _obj(top.get("completion_tokens_details"), "completion_tokens_details")
        prompt = _obj(top.get("prompt_tokens_details"), "prompt_tokens_details")
        cached = prompt.get("cached_tokens")
        if cached is None:
            cached = top.get("prompt_cache_hit_tokens")
        return Usage(
            requests=1,
            input_tokens=_count(top.get("prompt_tokens"), "prompt_tokens"),
            output_tokens=_count(top.get("completion_tokens"), "completion_tokens"),
            reasoning_tokens=_count(completion.get("reasoning_tokens"), "reasoning_tokens"),
            cached_tokens=_count(cached, "cached_tokens"),
        )
    except TypeError as exc:
        raise malformed_chunk(str(exc), {"usage": raw}) from None


def _obj(value: Any, what: str) -> Mapping[str, Any]:
    if value is None:
        return _NO_FN
    if not isinstance(value, Mapping):
        raise TypeError(f"`{what}` must be an object, not {value!r:.60}")
    return value


def _count(value: Any, key: str) -> int:
    if value is None:
        return 0
    if type(value) is int and value >= 0:
        return value
    if type(value) is float and value >= 0 and value.is_integer():
        return int(value)
    if type(value) is str and value.isdigit():
        return int(value)
    raise TypeError(f"`{key}` must be a token count, not {value!r:.60}")


def _text_of(value: Any, what: str) -> str:
    """A delta's text field: a string (or a list of text parts, joined)."""
    if type(value) is str:
        return value
    if type(value) is list and all(type(p) is dict and type(p.get("text")) is str
                                   for p in value):
        return "".join(p["text"] for p in value)
    raise TypeError(f"`{what}` must be a string, not {value!r:.60}")


def malformed_chunk(problem: str, chunk: Any = None) -> ModelAPIError:
    """The retryable ModelAPIError for a chunk that parses but has the wrong shape."""
    excerpt = ""
    if chunk is not None:
        try:
            excerpt = ": " + orjson.dumps(chunk, default=repr)[:200].decode(errors="replace")
        except TypeError:
            excerpt = f": {chunk!r:.200}"
    return ModelAPIError(f"the model server sent a malformed stream chunk ({problem}){excerpt}",
                         retryable=True, body=chunk)


_RETRY_WORDS = ("overload", "rate", "timeout", "internal", "unavailable", "throttl", "busy")


def stream_error(err: Any) -> ModelAPIError:
    """A ModelAPIError for an `{"error": ...}` object sent inside the stream."""
    if not isinstance(err, Mapping):
        return ModelAPIError(f"the model server sent an error: {err}", body=err)
    message = str(err.get("message") or err)
    code = err.get("code")
    status = code if isinstance(code, int) else None
    if isinstance(code, str) and code.isdigit():
        status = int(code)
    words = f"{err.get('type', '')} {code or ''} {message}".lower()
    retryable = (status is not None and (status == 429 or status >= 500)) or (
        status is None and any(w in words for w in _RETRY_WORDS))
    return ModelAPIError(f"the model server sent an error mid-stream: {message}",
                         status_code=status, retryable=retryable, body=dict(err))
