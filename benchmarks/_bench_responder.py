"""Responder for the loop benchmark's loopback server (imported by name in its process)."""

from __future__ import annotations

from typing import Any

from agentkit.testing import Step, call

THINKING = " ".join(f"thought{i:02d} about the next move;" for i in range(40))
ARGS = {"query": "flights from Paris to Tokyo", "date": "2024-05-20", "passengers": 2,
        "cabin": "economy", "flexible": True}


def ten_step_loop(body: dict[str, Any]) -> Step:
    """Nine tool steps, then an answer: a 10-step run per user prompt."""
    tool_results = sum(1 for m in body.get("messages", []) if m.get("role") == "tool")
    if tool_results < 9:
        return Step(thinking=THINKING, tool_calls=[call("lookup", ARGS)],
                    usage={"prompt_tokens": 900, "completion_tokens": 120,
                           "reasoning_tokens": 90})
    return Step(thinking=THINKING, text="Three flights match.")
