"""Holding back tool-call markup that streams in the reasoning field.

A server whose tool parser failed can leave a complete call (`<tool_call>...</tool_call>`,
Hermes JSON or Qwen3-Coder XML) at the end of never-closed reasoning; such a call is
executed. `TailCalls` passes reasoning text through as it streams, except text that may
still be such a call: from a possible `<tool_call>` on, text is held until it is known
not to be a call (released, in order) or the stream ends with it (a call: dropped from
the reasoning). Ordinary text is delayed by at most the length of a partial tag.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .textcalls import OPEN_TAG, BlockScanner, TextCall, parse_block

__all__ = ["TailCalls"]

_FIRST_NAME = re.compile(r'\s*\{\s*"name"\s*:\s*"([^"\\]*)"')
_XML_NAME = re.compile(r"\s*<function=([^>\n]*)>")


def _tag_prefix_at_end(text: str) -> int:
    """Where a suffix of `text` that could begin `<tool_call>` starts, or -1."""
    i = text.rfind("<", max(0, len(text) - len(OPEN_TAG) + 1))
    while i >= 0:
        if OPEN_TAG.startswith(text[i:]):
            return i
        i = text.rfind("<", max(0, len(text) - len(OPEN_TAG) + 1), i)
    return -1


class TailCalls:
    """Reasoning deltas in (`feed`), the text that may be shown now out.

    `release()` gives back everything held (the stream went on to an answer or native
    calls, so no call at the end of the reasoning will be executed). `finish(recover)`
    ends the stream: with `recover`, the complete calls held at the tail come back as
    calls; otherwise they are released as text.
    """

    __slots__ = ("_calls", "_held", "_partial", "_scanner", "_tools")

    def __init__(self, tools: Mapping[str, Mapping[str, Any]]) -> None:
        self._tools = tools
        self._held: list[str] = []  # complete call blocks and the whitespace between them
        self._calls: list[TextCall] = []  # the calls of those blocks
        self._scanner: BlockScanner | None = None  # an open block (after its `<tool_call>`)
        self._partial = ""  # a trailing piece that may begin `<tool_call>`

    def feed(self, text: str) -> str:
        if "<" not in text and not (self._calls or self._scanner or self._partial):
            return text  # the hot path
        out: list[str] = []
        if self._partial:
            text, self._partial = self._partial + text, ""
        while text:
            scanner = self._scanner
            if scanner is not None:
                text = self._feed_block(scanner, text, out)
                continue
            if self._calls:  # after complete calls only whitespace or another block may come
                stripped = text.lstrip()
                if len(stripped) < len(text):
                    self._held.append(text[:len(text) - len(stripped)])
                text = stripped
                if not text:
                    break
                if text.startswith(OPEN_TAG):
                    self._scanner = BlockScanner()
                    text = text[len(OPEN_TAG):]
                elif OPEN_TAG.startswith(text):
                    self._partial = text
                    break
                else:  # more reasoning: the calls were discussed, not made
                    out.append(self.release())
                continue
            i = text.find(OPEN_TAG)
            if i >= 0:
                out.append(text[:i])
                self._scanner = BlockScanner()
                text = text[i + len(OPEN_TAG):]
                continue
            cut = _tag_prefix_at_end(text)
            if cut >= 0:
                out.append(text[:cut])
                self._partial = text[cut:]
            else:
                out.append(text)
            break
        return "".join(out)

    def _feed_block(self, scanner: BlockScanner, text: str, out: list[str]) -> str:
        """Feed the open block; returns the text after it ("" while undecided)."""
        end = scanner.feed(text)
        if end is None:
            return self._not_a_call(0, out) if self._known_not_a_call(scanner.text) else ""
        if end < 0:
            return self._not_a_call(0, out)
        call = parse_block(scanner.body(), self._tools)
        if call is None or call.error is not None:
            return self._not_a_call(end, out)
        self._scanner = None
        self._held.append(OPEN_TAG + scanner.text[:end])
        self._calls.append(call)
        return scanner.text[end:]

    def _known_not_a_call(self, body: str) -> bool:
        m = _FIRST_NAME.match(body) or _XML_NAME.match(body)
        return m is not None and m.group(1).strip() not in self._tools

    def _not_a_call(self, end: int, out: list[str]) -> str:
        """The open block is not a call: release up to its first `end` characters."""
        scanner = self._scanner
        assert scanner is not None
        self._scanner = None
        self._held.append(OPEN_TAG + scanner.text[:end])
        out.append(self.release())
        return scanner.text[end:]

    def release(self) -> str:
        """Everything held, as text; holding starts afresh."""
        held = self._held
        if self._scanner is not None:
            held.append(OPEN_TAG + self._scanner.text)
            self._scanner = None
        held.append(self._partial)
        text = "".join(held)
        held.clear()
        self._calls.clear()
        self._partial = ""
        return text

    def finish(self, recover: bool) -> tuple[str, list[TextCall]]:
        """End of stream: (text to release, the calls at the tail when `recover`)."""
        scanner = self._scanner
        if recover and scanner is not None:
            end = scanner.finish()
            call = parse_block(scanner.body(), self._tools) if end is not None else None
            if call is not None and call.error is None and not scanner.text[end:].strip():
                self._scanner = None
                self._held.append(OPEN_TAG + scanner.text)
                self._calls.append(call)
        if recover and self._calls and self._scanner is None and not self._partial:
            calls = list(self._calls)
            self._held.clear()
            self._calls.clear()
            return "", calls
        return self.release(), []
