"""A scripted customer-service agent and customer for loopback model servers.

Deterministic responders (``LoopbackServer(responder=...)``) for the mock domain: the customer
asks for the task its scenario names (``called '<title>'``), the agent creates it with
``create_task`` and confirms, the customer stops. Every answer depends only on the
conversation, so a run gives the same conversations wherever and in whatever order its
simulations execute (tests and ``benchmarks/tau2_throughput.py`` use them).
"""

from __future__ import annotations

import re
from typing import Any

from ..testing import Step, call

__all__ = ["scripted_agent", "scripted_user"]

_TITLE = re.compile(r"called '([^']+)'")
_USAGE = {"prompt_tokens": 800, "completion_tokens": 40, "reasoning_tokens": 20}


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


def scripted_agent(body: dict[str, Any]) -> Step:
    """Creates the task the customer names, then confirms; otherwise asks what else."""
    messages = body.get("messages") or [{}]
    last = messages[-1]
    if last.get("role") == "tool":
        return Step(thinking="Created.", text="The task was created.", usage=_USAGE)
    title = _TITLE.search(_text(last)) if last.get("role") == "user" else None
    if title:
        return Step(thinking="I will create it.", usage=_USAGE, tool_calls=[
            call("create_task", {"user_id": "user_1", "title": title.group(1)})])
    return Step(thinking="Nothing to do.", text="Anything else?", usage=_USAGE)


def scripted_user(body: dict[str, Any]) -> Step:
    """First turn: asks for the task its scenario names; then stops.

    (The simulator's own earlier turns arrive as ``assistant`` messages.)
    """
    messages = body.get("messages") or []
    own_turns = sum(1 for m in messages if m.get("role") == "assistant")
    if own_turns == 0:
        system = _text(messages[0]) if messages else ""
        title = _TITLE.search(system)
        name = title.group(1) if title else "Follow-up"
        return Step(text=f"Create a task called '{name}' for user_1.", usage=_USAGE)
    return Step(text="Thanks! ###STOP###", usage=_USAGE)
