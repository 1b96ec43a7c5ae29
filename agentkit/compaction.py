"""Context management for long runs: keep each request inside the model's window.

The run's transcript stays whole; what is sent is a *view* of it. Before a request would
exceed `window - reserve` tokens, the view is compacted, cheapest step first:

1. old tool results are cut to their head and tail (with a note of what was cut);
2. the replayed reasoning of older steps is dropped;
3. the oldest exchanges are summarised into one user message, written by a model request
   in `summary_mode` (Instruct by default).

The system prompt, the run's prompt and the last `keep_last` exchanges (an assistant
message with all its tool results) are never touched, and a cut never separates a call
from its result. Each compaction appends a `CompactionMarker` to the transcript;
`sent_view(transcript)` replays the markers to rebuild exactly what was sent.

Token accounting needs no tokenizer: the estimate is anchored on the prompt tokens the
server reported for the last request, plus the characters added since divided by a
chars-per-token ratio calibrated from observed usage. Each step costs only the new
messages, however long the transcript.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from .errors import ModelAPIError
from .events import ContextCompacted
from .messages import (
    AssistantMessage,
    CompactionMarker,
    Message,
    SystemMessage,
    ToolMessage,
    UserMessage,
)
from .modes import StepMode

if TYPE_CHECKING:
    from .models.base import ToolSpec
    from .wire.profiles import Profile

__all__ = [
    "DEFAULT_WINDOW",
    "ContextManager",
    "ContextPolicy",
    "is_context_overflow",
    "sent_view",
]

log = logging.getLogger("agentkit.context")

DEFAULT_WINDOW = 131072
_SUMMARY_PREFIX = "[Summary of the earlier part of this conversation]\n"
SUMMARY_INSTRUCTIONS = (
    "You condense the earlier part of an agent's work so it can go on without it. Write a "
    "concise summary: the task and its constraints, what was done (tool calls and what "
    "they returned, with the exact ids, names, numbers and file paths that later steps may "
    "need), what was found, what failed, and what remains to do. Plain text, no preamble.")


@dataclass(frozen=True, slots=True)
class ContextPolicy:
    """How a run keeps its requests inside the context window.

    `window`: the model's window in tokens (None: the profile's, else 128k). `reserve`:
    tokens kept free for the reply (thinking included). `keep_last`: exchanges at the end
    never touched. `summarize`: whether step 3 may run. `summary_mode`: the mode of the
    summary request. `tool_result_chars`: an old tool result longer than this is cut to
    this many characters (two thirds head, one third tail). `summary_max_tokens`: the
    summary's length limit. `chars_per_token`: the ratio before usage calibrates it.
    """

    window: int | None = None
    reserve: int = 16384
    keep_last: int = 4
    summarize: bool = True
    summary_mode: StepMode = field(default_factory=lambda: StepMode(thinking=False))
    tool_result_chars: int = 2000
    summary_max_tokens: int = 2048
    chars_per_token: float = 3.0

    def __post_init__(self) -> None:
        if self.window is not None and self.window <= 0:
            raise ValueError("window must be positive")
        if self.reserve < 0 or self.keep_last < 0 or self.tool_result_chars < 64:
            raise ValueError("reserve and keep_last must be >= 0, tool_result_chars >= 64")
        if self.window is not None and self.reserve >= self.window:
            raise ValueError(f"reserve ({self.reserve}) must be below window ({self.window})")
        if not 0.5 <= self.chars_per_token <= 16:
            raise ValueError("chars_per_token must be between 0.5 and 16")


def is_context_overflow(exc: BaseException, profile: Profile | None) -> bool:
    """Whether `exc` is a server's "context length exceeded" answer (per the profile)."""
    if not isinstance(exc, ModelAPIError) or exc.status_code not in (400, 413, 422):
        return False
    from .wire.profiles import get_profile

    patterns = (profile or get_profile("generic")).context_overflow or \
        get_profile("generic").context_overflow
    text = f"{exc} {exc.body!r}"
    return any(re.search(p, text, re.IGNORECASE) for p in patterns)


def _chars(msg: Message, reasoning: bool = True) -> int:
    """Characters a message puts on the wire (roughly; calibrated against usage)."""
    if isinstance(msg, AssistantMessage):
        n = len(msg.content) + (len(msg.reasoning) if reasoning else 0) + 12
        for c in msg.tool_calls:
            n += len(c.name) + len(c.arguments) + len(c.id) + 24
        return n
    if isinstance(msg, ToolMessage):
        return len(msg.content) + len(msg.tool_call_id) + 16
    if isinstance(msg, (SystemMessage, UserMessage)):
        content = msg.content
        return (len(content) if isinstance(content, str) else len(orjson.dumps(content))) + 8
    return 0


def _cut(text: str, keep: int, tail: int | None = None) -> str:
    """`text` cut to its head and tail: `keep` split 2:1, or exactly (`keep`, `tail`)."""
    head, tail = _head_tail(keep) if tail is None else (keep, tail)
    if len(text) <= head + tail:
        return text
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters cut to save context ...]\n{text[-tail:]}"


def _head_tail(keep: int) -> tuple[int, int]:
    return keep * 2 // 3, keep // 3


Summarizer = Callable[[list[Message], StepMode], Awaitable[str]]


class ContextManager:
    """The view of one run's transcript that is sent, and its token estimate."""

    def __init__(self, policy: ContextPolicy, profile: Profile | None,
                 tools: Sequence[ToolSpec] = (), prompt_given: bool = True) -> None:
        self.policy = policy
        self.profile = profile
        window = policy.window or (profile.context_window if profile else None)
        self.window = window or DEFAULT_WINDOW
        self.limit = max(1, self.window - min(policy.reserve, self.window // 2))
        self.cpt = policy.chars_per_token
        #: Count reasoning only where the profile sends it back.
        self._reasoning = profile is None or (profile.reasoning_replay != "never"
                                              and profile.reasoning_replay_field is not None)
        self._tool_chars = sum(len(orjson.dumps(t.parameters)) + len(t.name)
                               + len(t.description) + 32 for t in tools)
        #: The messages sent; view[i] stands for transcript positions [_starts[i], _ends[i])
        #: (-1 for the leading system messages; a summary spans several).
        self.view: list[Message] = []
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._synced = 0       # transcript messages taken into the view
        self._pos = 0          # next transcript position (leading system messages excluded)
        self._head = True      # still in the leading system messages
        self._prompt_given = prompt_given
        self._protect = -1     # the run's prompt: never summarised
        self._anchor: int | None = None  # server-reported prompt tokens of the last request
        self._pending = 0      # chars added to the view since that request
        self._sent_pending = 0
        self._view_chars = 0

    # -- the view ---------------------------------------------------------------------
    def sync(self, transcript: Sequence[Message]) -> None:
        """Take the transcript's new messages into the view (markers are replayed)."""
        start = self._synced
        view, starts, ends = self.view, self._starts, self._ends
        pos, added = self._pos, 0
        for msg in transcript[start:]:
            if isinstance(msg, CompactionMarker):
                self._pos = pos
                self._apply(msg)
                continue
            if self._head and isinstance(msg, SystemMessage):
                starts.append(-1)
                ends.append(-1)
            else:
                self._head = False
                starts.append(pos)
                pos += 1
                ends.append(pos)
            view.append(msg)
            added += _chars(msg, self._reasoning)
        self._pos = pos
        self._pending += added
        self._view_chars += added
        if start == 0 and self._prompt_given and self._pos:
            self._protect = self._pos - 1  # the prompt is the last message at start
        self._synced = len(transcript)

    def estimate(self) -> int:
        """Tokens the next request would take (anchored, plus what was added since)."""
        if self._anchor is None:
            return int((self._view_chars + self._tool_chars) / self.cpt)
        return self._anchor + int(self._pending / self.cpt)

    def request_sent(self) -> None:
        self._sent_pending = self._pending

    def observe(self, input_tokens: int) -> None:
        """The server's prompt count for the request just answered: anchor and calibrate."""
        if input_tokens <= 0:
            return
        if self._anchor is not None and self._sent_pending >= 2000:
            added = input_tokens - self._anchor
            if added > 0:
                seen = self._sent_pending / added
                self.cpt = min(16.0, max(0.5, 0.7 * self.cpt + 0.3 * seen))
        elif self._anchor is None and self._view_chars >= 2000:
            seen = (self._view_chars - (self._pending - self._sent_pending)
                    + self._tool_chars) / input_tokens
            self.cpt = min(16.0, max(0.5, seen))
        self._anchor = input_tokens
        self._pending -= self._sent_pending
        self._sent_pending = 0

    # -- compaction -------------------------------------------------------------------
    async def before_request(self, transcript: list[Message], summarize: Summarizer,
                             *, force: bool = False, step: int = 0,
                             ) -> AsyncIterator[ContextCompacted]:
        """Sync, and compact when the next request would not fit (always with `force`)."""
        self.sync(transcript)
        before = self.estimate()
        if before <= self.limit and not force:
            return
        marker = CompactionMarker(tokens_before=before, tokens_after=before)
        actions: list[str] = []
        old = self._old_entries()
        keep = self.policy.tool_result_chars
        for i in old:
            m = self.view[i]
            if isinstance(m, ToolMessage) and len(m.content) > keep:
                self._replace(i, m.model_copy(update={"content": _cut(m.content, keep)}))
                marker.shortened.append(self._starts[i])
        if marker.shortened:
            marker.head, marker.tail = _head_tail(keep)
            actions.append(f"shortened {len(marker.shortened)} old tool results")
        if force or self.estimate() > self.limit:
            for i in old:
                m = self.view[i]
                if isinstance(m, AssistantMessage) and m.reasoning:
                    self._replace(i, m.model_copy(update={"reasoning": ""}))
                    marker.reasoning_dropped.append(self._starts[i])
            if marker.reasoning_dropped:
                actions.append(f"dropped the reasoning of {len(marker.reasoning_dropped)} "
                               "older steps")
        if (force or self.estimate() > self.limit) and self.policy.summarize:
            span = self._summary_span()
            if span is not None:
                lo, hi = span
                text = await self._summary_text(self.view[lo:hi], summarize)
                marker.summarized = (self._starts[lo], self._ends[hi - 1])
                marker.summary = text
                marker.summary_mode = self.policy.summary_mode.label
                self._summarize(lo, hi, text)
                actions.append(f"summarised {hi - lo} older messages")
        if not actions:
            log.info("context: the request needs about %d tokens (limit %d) and nothing is "
                     "left to compact", before, self.limit)
            return
        marker.tokens_after = self.estimate()
        transcript.append(marker)
        self._synced = len(transcript)
        log.info("context compacted before step %d: %d -> %d tokens (%s)", step, before,
                 marker.tokens_after, "; ".join(actions))
        yield ContextCompacted(tokens_before=before, tokens_after=marker.tokens_after,
                               actions=actions, step=step)

    def _tail_start(self) -> int:
        """Index of the first entry of the last `keep_last` exchanges (or of the end)."""
        k, i = self.policy.keep_last, len(self.view)
        while k > 0 and i > 0:
            i -= 1
            if isinstance(self.view[i], AssistantMessage):
                k -= 1
        return i if k == 0 else self._first_body()

    def _first_body(self) -> int:
        """Index after the system prompt and the conversation's first user message."""
        i, n = 0, len(self.view)
        while i < n and self._starts[i] < 0:
            i += 1
        if i < n and isinstance(self.view[i], UserMessage) and \
                self._ends[i] - self._starts[i] == 1:
            i += 1
        return i

    def _old_entries(self) -> list[int]:
        """Indices of the entries stages 1 and 2 may edit."""
        lo, hi = self._first_body(), self._tail_start()
        return [i for i in range(lo, hi) if self._starts[i] != self._protect]

    def _summary_span(self) -> tuple[int, int] | None:
        """Entries [lo, hi) to summarise: whole exchanges, never the prompt or the tail."""
        lo, hi = self._first_body(), self._tail_start()
        at = next((i for i in range(lo, hi) if self._starts[i] == self._protect), None)
        if at is not None:
            lo, hi = (at + 1, hi) if hi - (at + 1) >= at - lo else (lo, at)
        # start at an exchange (or summary) boundary; end before the next assistant message
        while lo < hi and isinstance(self.view[lo], ToolMessage):
            lo += 1
        while hi > lo and hi < len(self.view) and isinstance(self.view[hi], ToolMessage):
            hi -= 1
        return (lo, hi) if hi - lo >= 2 else None

    def _replace(self, i: int, msg: Message) -> None:
        delta = _chars(msg, self._reasoning) - _chars(self.view[i], self._reasoning)
        self.view[i] = msg
        self._account(delta)

    def _summarize(self, lo: int, hi: int, text: str) -> None:
        summary = UserMessage(content=_SUMMARY_PREFIX + text)
        removed = sum(_chars(m, self._reasoning) for m in self.view[lo:hi])
        self.view[lo:hi] = [summary]
        self._starts[lo:hi] = [self._starts[lo]]
        self._ends[lo:hi] = [self._ends[hi - 1]]
        self._account(_chars(summary) - removed)

    def _account(self, delta: int) -> None:
        """A change of the view's size: moves the anchored estimate by the same amount."""
        self._view_chars += delta
        if self._anchor is not None:
            self._anchor = max(0, self._anchor + int(delta / self.cpt))

    async def _summary_text(self, entries: list[Message], summarize: Summarizer) -> str:
        budget = int((self.limit - self.policy.summary_max_tokens - 1000) * self.cpt)
        rendered = _cut(_render(entries), max(2000, budget))
        request: list[Message] = [SystemMessage(content=SUMMARY_INSTRUCTIONS),
                                  UserMessage(content=rendered)]
        try:
            text = (await summarize(request, self.policy.summary_mode)).strip()
        except ModelAPIError as exc:
            log.warning("context: the summary request failed (%s); a plain digest is used",
                        exc)
            text = ""
        return text or _digest(entries)

    def _apply(self, marker: CompactionMarker) -> None:
        """Replay a recorded compaction on the view (the same edits the live run made)."""
        cut = set(marker.shortened)
        dropped = set(marker.reasoning_dropped)
        for i, m in enumerate(self.view):
            start = self._starts[i]
            if start in cut and isinstance(m, ToolMessage):
                content = _cut(m.content, marker.head, marker.tail)
                self._replace(i, m.model_copy(update={"content": content}))
            elif start in dropped and isinstance(m, AssistantMessage):
                self._replace(i, m.model_copy(update={"reasoning": ""}))
        if marker.summarized is not None:
            a, b = marker.summarized
            idx = [i for i, (s, e) in enumerate(zip(self._starts, self._ends, strict=True))
                   if s >= a and 0 <= e <= b]
            if idx:
                self._summarize(idx[0], idx[-1] + 1, marker.summary or "")
        self._anchor = None  # a replayed view is estimated afresh


def sent_view(transcript: Sequence[Message]) -> list[Message]:
    """What a run with context management sent last: the transcript with its recorded
    compactions replayed (markers left out)."""
    manager = ContextManager(ContextPolicy(), None, prompt_given=False)
    manager.sync(transcript)
    return manager.view


def _render(entries: list[Message]) -> str:
    lines: list[str] = []
    for m in entries:
        if isinstance(m, UserMessage):
            content = m.content if isinstance(m.content, str) else orjson.dumps(
                m.content).decode()
            lines.append(f"User: {content}")
        elif isinstance(m, AssistantMessage):
            if m.content:
                lines.append(f"Assistant: {m.content}")
            for c in m.tool_calls:
                lines.append(f"Assistant called {c.name}({c.arguments}) [id {c.id}]")
        elif isinstance(m, ToolMessage):
            flag = " (error)" if m.is_error else ""
            lines.append(f"Result of {m.name} [id {m.tool_call_id}]{flag}: "
                         f"{_cut(m.content, 1500)}")
    return "\n".join(lines)


def _digest(entries: list[Message]) -> str:
    """A summary written without a model (the summary request failed or said nothing)."""
    calls = [f"{c.name}({c.arguments[:200]})" for m in entries
             if isinstance(m, AssistantMessage) for c in m.tool_calls]
    notes = [m.content[:300] for m in entries
             if isinstance(m, UserMessage) and isinstance(m.content, str)]
    parts = [f"{len(entries)} earlier messages were removed to save context."]
    if notes:
        parts.append("Earlier notes: " + " | ".join(notes))
    if calls:
        parts.append("Tool calls made: " + "; ".join(calls[-50:]))
    return "\n".join(parts)

