"""Cooperative time budgets for tool calls that run in worker threads.

A sync tool runs in a thread, and a thread cannot be killed: when its call times out or
the run is cancelled, `Tool.call` stops awaiting it, but the thread would go on burning
CPU. So `Tool.call` runs every sync tool inside a `scope` whose stop flag it sets the
moment it stops waiting (timeout, cancellation, or the end of the call), and long-running
code calls `check()` in its loops: past the deadline or once stopped, `check` raises
`BudgetExceeded` and the thread unwinds. Tools add their own budget with
`scope(seconds=...)`; scopes nest, the earliest deadline wins.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["BudgetExceeded", "check", "remaining", "scope"]


class BudgetExceeded(Exception):
    """A tool call used up its time budget, or was stopped (timed out or cancelled).

    Not an `OSError` (as `TimeoutError` is), so code catching I/O errors lets it through.
    """


class _Scope:
    __slots__ = ("deadline", "parent", "seconds", "stop", "what")

    def __init__(self, seconds: float | None, stop: threading.Event | None, what: str,
                 parent: _Scope | None) -> None:
        self.seconds = seconds
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.stop = stop
        self.what = what
        self.parent = parent

    def problem(self, now: float) -> str | None:
        s: _Scope | None = self
        while s is not None:
            if s.stop is not None and s.stop.is_set():
                return f"{s.what} was stopped (it timed out or the run was cancelled)"
            if s.deadline is not None and now >= s.deadline:
                return f"{s.what} used up its time budget of {s.seconds:g}s"
            s = s.parent
        return None

    def remaining(self, now: float) -> float | None:
        left: float | None = None
        s: _Scope | None = self
        while s is not None:
            if s.stop is not None and s.stop.is_set():
                return 0.0
            if s.deadline is not None:
                rest = s.deadline - now
                left = rest if left is None else min(left, rest)
            s = s.parent
        return None if left is None else max(0.0, left)


_current: ContextVar[_Scope | None] = ContextVar("agentkit_budget", default=None)


@contextmanager
def scope(seconds: float | None = None, *, stop: threading.Event | None = None,
          what: str = "the tool call") -> Iterator[None]:
    """Run the body under a deadline `seconds` from now and/or a `stop` flag (nested in
    the current scope, whose limits still hold)."""
    token = _current.set(_Scope(seconds, stop, what, _current.get()))
    try:
        yield
    finally:
        _current.reset(token)


def check() -> None:
    """Raise `BudgetExceeded` when the current call is past its deadline or stopped."""
    s = _current.get()
    if s is not None:
        why = s.problem(time.monotonic())
        if why is not None:
            raise BudgetExceeded(why)


def remaining() -> float | None:
    """Seconds left in the current budget (0 once stopped), or None without a deadline."""
    s = _current.get()
    return None if s is None else s.remaining(time.monotonic())
