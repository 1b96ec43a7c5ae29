"""What a finished run returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .messages import Message
from .usage import Usage

if TYPE_CHECKING:
    from .approval import PendingApproval, RunState

__all__ = ["RunResult", "ToolCallRecord"]


class ToolCallRecord(BaseModel):
    """One executed (or rejected) tool call."""

    id: str
    name: str
    arguments: dict[str, Any] | None
    result: str
    is_error: bool = False
    step: int = 0


class RunResult(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    output: Any = None
    messages: list[Message] = Field(default_factory=list)
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    steps: int = 0
    run_id: str = ""
    # "paused": a call waits for a person's approval; resume with `agent.resume(state, ...)`
    status: Literal["completed", "paused"] = "completed"
    pending_approvals: list[PendingApproval] = Field(default_factory=list)
    state: RunState | None = None


from . import approval as _approval  # noqa: E402, F401  (defines the two types above)
