"""Records of a simulated conversation: tau2-compatible messages, termination, results.

The message records mirror tau2-bench's trajectory messages (role, content, tool calls with
id/name/parsed arguments/requestor, tool results with an error flag), so a trajectory can be
replayed into a fresh environment (``Environment.set_state(message_history=...)``) and graded.
Field names and termination-reason values follow tau2-bench (MIT, Sierra Research).
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..usage import Usage

__all__ = [
    "GRADED_TERMINATIONS",
    "STOP_TOKENS",
    "SimMessage",
    "SimToolCall",
    "SimulationResult",
    "TerminationReason",
    "split_thinking",
    "visible_text",
]

Requestor = Literal["assistant", "user"]

STOP_TOKENS: tuple[str, ...] = ("###STOP###", "###TRANSFER###", "###OUT-OF-SCOPE###")
"""The user simulator's stop tokens; any of them in a text message ends the conversation."""


_THINK_BLOCK = re.compile(r"<think>(.*?)</think>\s*", re.S)


def split_thinking(text: str | None) -> tuple[str, str]:
    """``(visible text, inline thinking)``: ``<think>`` blocks moved out of the text.

    A lone ``</think>`` (the opening tag swallowed by the server's chat template) ends a
    thinking prefix. The visible text is stripped only when thinking was removed.
    """
    if not text:
        return "", ""
    thoughts = [m.group(1).strip() for m in _THINK_BLOCK.finditer(text)]
    visible = _THINK_BLOCK.sub("", text)
    if "</think>" in visible:
        head, visible = visible.split("</think>", 1)
        thoughts.insert(0, head.strip())
    if not thoughts:
        return text, ""
    return visible.strip(), "\n\n".join(t for t in thoughts if t)


def visible_text(text: str | None) -> str:
    """What the other side may see of a message: inline thinking removed, stripped."""
    return split_thinking(text)[0].strip()


class TerminationReason(str, Enum):
    """Why a conversation ended (values as in tau2-bench)."""

    USER_STOP = "user_stop"
    AGENT_STOP = "agent_stop"
    MAX_STEPS = "max_steps"
    TOO_MANY_ERRORS = "too_many_errors"
    TIMEOUT = "timeout"
    AGENT_ERROR = "agent_error"
    USER_ERROR = "user_error"
    INFRASTRUCTURE_ERROR = "infrastructure_error"


GRADED_TERMINATIONS = frozenset({TerminationReason.USER_STOP, TerminationReason.AGENT_STOP})
"""Only these are graded; every other termination scores 0 (infrastructure errors are dropped)."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SimToolCall(_Record):
    """A tool call with already-parsed arguments, addressed to the caller's toolkit."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    requestor: Requestor = "assistant"


class SimMessage(_Record):
    """One trajectory message.

    - ``assistant`` / ``user``: ``content`` (text, or None) and/or ``tool_calls``; an assistant
      message may carry the model's ``reasoning`` (never shown to the user simulator).
    - ``tool``: ``id`` is the call id, ``content`` the result string, ``error`` the error flag,
      ``requestor`` who made the call.
    """

    role: Literal["system", "assistant", "user", "tool"]
    content: str | None = None
    tool_calls: list[SimToolCall] | None = None
    reasoning: str | None = None
    id: str | None = None
    requestor: Requestor = "assistant"
    error: bool = False
    turn_idx: int | None = None
    timestamp: str | None = None
    usage: Usage | None = None

    def is_tool_call(self) -> bool:
        return self.role in ("assistant", "user") and bool(self.tool_calls)

    def has_text(self) -> bool:
        return bool(self.content and self.content.strip())


class SimulationResult(_Record):
    """One finished (or failed) simulation: the trajectory and how it ended.

    ``reward_info`` is filled in by grading (a dict, see :class:`agentkit.tau2.grading.RewardInfo`).
    ``error`` holds the last infrastructure error when ``termination_reason`` is
    ``infrastructure_error``; ``attempts`` counts whole-simulation attempts. Fields of other
    tools (tau2-bench's ``agent_cost``, ``review``, ...) are kept as they are.
    """

    model_config = ConfigDict(extra="allow")

    id: str
    task_id: str
    domain: str = ""
    trial: int = 0
    seed: int | None = None
    termination_reason: TerminationReason
    stop_token: str | None = None
    messages: list[SimMessage] = Field(default_factory=list)
    steps: int = 0
    num_errors: int = 0
    start_time: str | None = None
    end_time: str | None = None
    duration: float = 0.0
    agent_usage: Usage = Field(default_factory=Usage)
    #: The mode ("thinking" / "instruct") of each of the agent's model requests, in order.
    agent_modes: list[str] = Field(default_factory=list)
    user_usage: Usage = Field(default_factory=Usage)
    attempts: int = 1
    error: str | None = None
    reward_info: dict[str, Any] | None = None
    agent_cost: float | None = None
    user_cost: float | None = None

    @property
    def reward(self) -> float | None:
        if self.reward_info is None:
            return None
        return float(self.reward_info.get("reward", 0.0))
