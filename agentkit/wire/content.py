"""Splitting streamed `content` into reasoning, answer text and text-markup tool calls.

Handles the `<think>` shapes (complete; opening tag in the prompt; never closed; stray
closing tag; `<tool_call>` inside unterminated thinking) and Hermes/XML `<tool_call>`
blocks, for any split of the text into deltas. Text that could be the start of a tag
is held back until the next delta decides it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models.base import ReasoningPart, TextPart
from .textcalls import CLOSE_TAG, OPEN_TAG, BlockScanner, TextCall, extract_text_calls, parse_block

__all__ = ["ContentSplitter"]

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
_FENCE = "```"


def _in_code(before: str, inline: bool = True) -> bool:
    """Whether text after `before` is inside a code sample (an open fence or backticks)."""
    if before.endswith("`"):
        return True
    fences = before.count(_FENCE)
    if fences % 2:
        return True
    return inline and (before.count("`") - len(_FENCE) * fences) % 2 == 1

# modes
_START, _TEXT, _THINK, _UNDECIDED, _CALL, _THINK_CALL = range(6)

Out = list[Any]


class ContentSplitter:
    """Feeds content deltas; appends ReasoningPart/TextPart events to the list given.

    Reasoning and answer text are also appended to `reasoning` / `text` (lists of str)
    and complete markup calls to `calls`.
    """

    def __init__(self, reasoning: list[str], text: list[str], *,
                 tools: Mapping[str, Mapping[str, Any]] | None = None,
                 think_tags: bool = True, implicit_think_open: bool = False,
                 text_tool_calls: bool = True) -> None:
        self.reasoning = reasoning
        self.text = text
        self.calls: list[TextCall] = []
        self._tools = tools or {}
        self._calls_on = bool(text_tool_calls and self._tools)
        self._think_tags = think_tags
        self._implicit = implicit_think_open and think_tags
        self._mode = _START if think_tags else _TEXT
        self._pending = ""
        self._answer_start = True
        self._buf: list[str] = []  # undecided content, or thinking after a <tool_call>
        self._scanner: BlockScanner | None = None
        self._return_mode = _TEXT
        self._last_char = ""
        self._stray: list[str] = []  # a `</think>` in the answer (and whitespace after it)
        tags: dict[int, tuple[str, ...]] = {
            _TEXT: ((OPEN_TAG,) if self._calls_on else ()) + ((THINK_CLOSE,) if think_tags else ()),
            _THINK: (THINK_CLOSE, OPEN_TAG) if self._calls_on else (THINK_CLOSE,),
            _UNDECIDED: (THINK_CLOSE, OPEN_TAG) if self._calls_on else (THINK_CLOSE,),
            _THINK_CALL: (THINK_CLOSE,),
        }
        self._tags = tags

    # -- feeding ----------------------------------------------------------------
    def reasoning_field_seen(self, out: Out) -> None:
        """The server parses reasoning itself: content is the answer."""
        if self._mode in (_START, _UNDECIDED):
            pending, self._pending = self._pending, ""
            buffered = "".join(self._buf) + pending
            self._buf.clear()
            self._mode = _TEXT
            if buffered:
                self._run(buffered, out)

    def feed(self, delta: str, out: Out) -> None:
        if self._pending:
            delta = self._pending + delta
            self._pending = ""
        elif self._mode == _CALL:  # inside a markup block: straight to its scanner
            delta = self._feed_call(delta, out)
            if not delta:
                return
        self._run(delta, out)

    def _run(self, text: str, out: Out) -> None:
        while text:
            mode = self._mode
            if mode == _CALL:
                text = self._feed_call(text, out)
                continue
            if mode == _START:
                stripped = text.lstrip()
                if not stripped:
                    self._pending = text
                    return
                if stripped.startswith(THINK_OPEN):
                    self._mode = _THINK
                    text = stripped[len(THINK_OPEN):]
                    continue
                if THINK_OPEN.startswith(stripped):
                    self._pending = text
                    return
                self._mode = _UNDECIDED if self._implicit else _TEXT
                continue
            if "<" not in text:
                self._emit(text, out)
                return
            best = -1
            best_tag = ""
            for tag in self._tags[mode]:
                i = text.find(tag)
                if i >= 0 and (best < 0 or i < best):
                    best, best_tag = i, tag
            if best < 0:
                cut = text.rfind("<", max(0, len(text) - len(CLOSE_TAG)))
                if cut >= 0:
                    tail = text[cut:]
                    if any(t.startswith(tail) for t in self._tags[mode]):
                        self._pending = tail
                        text = text[:cut]
                self._emit(text, out)
                return
            if best:
                self._emit(text[:best], out)
            text = text[best + len(best_tag):]
            self._on_tag(best_tag, out)

    def _emit(self, s: str, out: Out) -> None:
        if not s:
            return
        mode = self._mode
        if mode == _TEXT:
            if self._answer_start:
                s = s.lstrip()
                if not s:
                    return
                self._answer_start = False
            if self._stray:  # a `</think>` that more answer text follows: it was literal
                if not s.strip():
                    self._stray.append(s)
                    return
                s = "".join(self._stray) + s
                self._stray.clear()
            self._last_char = s[-1]
            self.text.append(s)
            out.append(TextPart(s))
        elif mode == _THINK:
            self.reasoning.append(s)
            out.append(ReasoningPart(s))
        else:  # _UNDECIDED, _THINK_CALL
            self._buf.append(s)

    def _flush_buf_as_reasoning(self, out: Out) -> None:
        s = "".join(self._buf)
        self._buf.clear()
        if s.strip():
            self.reasoning.append(s)
            out.append(ReasoningPart(s))

    def _on_tag(self, tag: str, out: Out) -> None:
        mode = self._mode
        if tag == THINK_CLOSE:
            if mode == _TEXT and self.text:  # later in an answer: literal unless trailing
                if _in_code("".join(self.text)):
                    self._emit(THINK_CLOSE, out)
                else:
                    self._stray.append(THINK_CLOSE)  # dropped if only whitespace follows
                return
            if mode == _UNDECIDED and _in_code("".join(self._buf), inline=False):
                self._emit(THINK_CLOSE, out)  # shown in a code sample, not the end of thinking
                return
            if mode in (_UNDECIDED, _THINK_CALL):
                self._flush_buf_as_reasoning(out)
            self._answer_start = True
            self._mode = _TEXT  # ends thinking (or, at the start of the answer, is dropped)
            return
        # OPEN_TAG
        if mode == _THINK:
            self._mode = _THINK_CALL
            self._buf.append(OPEN_TAG)
            return
        if mode == _TEXT and (self._last_char == "`" or "".join(self.text).count("```") % 2):
            self._emit(OPEN_TAG, out)  # markup shown in code or prose, not a call
            return
        self._return_mode = mode  # where text goes if the block is not a call
        self._mode = _CALL
        self._scanner = BlockScanner()

    def _feed_call(self, text: str, out: Out) -> str:
        scanner = self._scanner
        assert scanner is not None
        end = scanner.feed(text)
        if end is None:
            return ""
        self._mode = self._return_mode
        self._scanner = None
        whole = scanner.text
        if end < 0:
            self._emit(OPEN_TAG, out)
            return whole
        call = parse_block(scanner.body(), self._tools)
        if call is None:
            self._emit(OPEN_TAG + whole[:end], out)
        else:
            self._add_call(call, out)
        return whole[end:]

    def _add_call(self, call: TextCall, out: Out) -> None:
        if self._mode == _UNDECIDED:  # a call ends thinking whose opening tag was in the prompt
            self._flush_buf_as_reasoning(out)
            self._mode = _TEXT
            self._answer_start = True
        self.calls.append(call)

    # -- end of stream -----------------------------------------------------------
    def finish(self, out: Out) -> None:
        pending, self._pending = self._pending, ""
        mode = self._mode
        if mode == _START:
            self._mode = _TEXT
            self._emit(pending, out)
        elif mode == _CALL:
            self._finish_call(out)
            self.finish(out)  # whatever mode the block left behind
        elif mode == _UNDECIDED:
            s = "".join(self._buf) + pending
            self._buf.clear()
            self._mode = _TEXT
            self._emit(s, out)
        elif mode == _THINK_CALL:
            self._buf.append(pending)
            self._finish_think_call(out)
        else:
            self._emit(pending, out)

    def _finish_call(self, out: Out) -> None:
        scanner = self._scanner
        assert scanner is not None
        self._scanner = None
        self._mode = self._return_mode
        end = scanner.finish()
        if end is not None:
            call = parse_block(scanner.body(), self._tools)
            rest = scanner.text[end:]
        else:
            call = parse_block(scanner.text, self._tools, complete=False)
            rest = ""
        if call is None:
            self._emit(OPEN_TAG + scanner.text, out)
            return
        self._add_call(call, out)
        if rest:
            self._run(rest, out)

    def _finish_think_call(self, out: Out) -> None:
        held = "".join(self._buf)
        self._buf.clear()
        self._mode = _THINK
        rest, calls = extract_text_calls(held, self._tools)
        if calls and all(c.error is None for c in calls):
            self.calls.extend(calls)
            if rest.strip():
                self._emit(rest.rstrip(), out)
        else:
            self._emit(held, out)
