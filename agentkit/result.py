"""What a finished run returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeVar

from .messages import Message
from .usage import Usage

if TYPE_CHECKING:
    from .approval import PendingApproval, RunState

__all__ = ["RunResult", "ToolCallRecord"]

OutputT = TypeVar("OutputT", default=Any)


class ToolCallRecord(BaseModel):
    """One executed (or rejected) tool call."""

    id: str
    name: str
    arguments: dict[str, Any] | None
    result: str
    is_error: bool = False
    step: int = 0
    error_type: str | None = None  # the exception class of a call that raised ("TimeoutError")


class RunResult(BaseModel, Generic[OutputT]):
    """A finished run: `output` has the agent's `output_type` (`str` without one)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    output: OutputT = None  # type: ignore[assignment]
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
