"""Ready-made responders for `LoopbackServer(responder=...)`, also by name in process mode
(``responder="agentkit.testing.responders:echo"``)."""

from __future__ import annotations

from typing import Any

from .script import Step, call

__all__ = ["echo", "tool_then_echo"]


def _last(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages") or [{}]
    last = messages[-1]
    return last if isinstance(last, dict) else {}


def echo(body: dict[str, Any]) -> Step:
    """Answer with the last message's text: ``echo: <content>``."""
    content = _last(body).get("content")
    return Step(thinking="Echoing.", text=f"echo: {content if isinstance(content, str) else ''}")


def tool_then_echo(body: dict[str, Any]) -> Step:
    """Call the first offered tool with `{}` after a user turn; echo a tool result as text.

    A two-step run per user message: handy for concurrency benchmarks of the loop.
    """
    last = _last(body)
    tools = body.get("tools") or []
    if last.get("role") == "user" and tools:
        name = str(tools[0].get("function", {}).get("name", "tool"))
        return Step(thinking="I will call the tool.", tool_calls=[call(name, {})])
    return echo(body)
