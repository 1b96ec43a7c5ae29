"""Live terminal view of a run's events (or JSON lines)."""

from __future__ import annotations

import json
import re
from typing import TextIO

from ..events import (
    AgentEvent,
    InvalidToolCall,
    RequestRetry,
    RunFinished,
    StepFinished,
    TextDelta,
    ThinkingDelta,
    ToolCallReady,
    ToolCallStarted,
    ToolResult,
)
from ..textsafe import terminal_text

__all__ = ["EventPrinter"]

DIM, BOLD, RESET = "\033[2m", "\033[1m", "\033[0m"
RED, GREEN, CYAN = "\033[31m", "\033[32m", "\033[36m"


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _for_terminal(event: AgentEvent) -> AgentEvent:
    """A copy of `event` whose text cannot drive the terminal: tool output, model text and
    errors may hold escape sequences (clipboard writes, titles, cursor moves); every control
    character but newline and tab is shown escaped (`agentkit.textsafe.terminal_text`)."""
    update = {k: terminal_text(v) for k, v in event if isinstance(v, str)}
    return event.model_copy(update=update)


def _json_line(line: str) -> str:
    """A JSON line with the controls JSON leaves raw (DEL, C1, bidi) as \\u escapes."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def _short(text: str, limit: int = 400) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more chars)"


class EventPrinter:
    """Thinking dimmed as it streams, tool calls with arguments, shortened results, the answer."""

    def __init__(self, out: TextIO, *, color: bool | None = None, as_json: bool = False) -> None:
        self.out = out
        self.json = as_json
        self.color = out.isatty() if color is None else color
        self._mode = ""
        self._invalid: set[str] = set()  # ids shown as invalid calls: their error result is not

    def _c(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.color else text

    def _switch(self, mode: str, header: str = "") -> None:
        if self._mode != mode:
            if self._mode:
                self.out.write("\n")
            if header:
                self.out.write(header)
            self._mode = mode

    def __call__(self, event: AgentEvent) -> None:
        if self.json:
            self.out.write(_json_line(event.model_dump_json()) + "\n")
            self.out.flush()
            return
        w = self.out.write
        event = _for_terminal(event)
        if isinstance(event, ThinkingDelta):
            self._switch("think", self._c(DIM, "thinking: "))
            w(self._c(DIM, event.text))
        elif isinstance(event, TextDelta):
            self._switch("text", self._c(BOLD, "answer: "))
            w(event.text)
        elif isinstance(event, ToolCallStarted):
            self._switch("")
        elif isinstance(event, ToolCallReady):
            self._switch("tool")
            args = terminal_text(json.dumps(event.arguments, ensure_ascii=False))
            w(self._c(CYAN, f"→ {event.name}") + f" {_short(args, 300)}\n")
        elif isinstance(event, InvalidToolCall):
            self._invalid.add(event.id)
            self._switch("tool")
            w(self._c(RED, f"✗ invalid call {event.name}: {_short(event.error, 300)}") + "\n")
        elif isinstance(event, ToolResult):
            if event.id in self._invalid:
                return  # already shown, with its reason, as the invalid call
            self._switch("tool")
            mark = self._c(RED, "✗") if event.is_error else self._c(GREEN, "←")
            w(f"{mark} {event.name}: {_short(event.content)}\n")
        elif isinstance(event, RequestRetry):
            self._switch("")
            w(self._c(RED, f"(retrying model request in {event.delay:.1f}s: {event.error})") + "\n")
        elif isinstance(event, StepFinished):
            self._switch("")
        elif isinstance(event, RunFinished):
            self._switch("")
            u = event.result.usage
            w(self._c(DIM, f"[{event.result.steps} steps, {u.requests} requests, "
                           f"{u.input_tokens} in / {u.output_tokens} out tokens "
                           f"({u.reasoning_tokens} reasoning)]") + "\n")
        self.out.flush()
