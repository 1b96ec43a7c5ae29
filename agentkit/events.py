"""The typed events a run streams. Each is a pydantic model with a `type` discriminator
and serialises to one JSON line (`event.model_dump_json()`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from .result import RunResult
from .usage import Usage

__all__ = [
    "AgentEvent",
    "InvalidToolCall",
    "RequestRetry",
    "RunFailed",
    "RunFinished",
    "StepFinished",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallArgumentsDelta",
    "ToolCallReady",
    "ToolCallStarted",
    "ToolResult",
]


class _Event(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    step: int = 0


class ThinkingDelta(_Event):
    type: Literal["thinking_delta"] = "thinking_delta"
    text: str


class TextDelta(_Event):
    type: Literal["text_delta"] = "text_delta"
    text: str


class ToolCallStarted(_Event):
    type: Literal["tool_call_started"] = "tool_call_started"
    id: str
    name: str


class ToolCallArgumentsDelta(_Event):
    type: Literal["tool_call_arguments_delta"] = "tool_call_arguments_delta"
    id: str
    delta: str


class ToolCallReady(_Event):
    type: Literal["tool_call_ready"] = "tool_call_ready"
    id: str
    name: str
    arguments: dict[str, Any]


class ToolResult(_Event):
    type: Literal["tool_result"] = "tool_result"
    id: str
    name: str
    content: str
    is_error: bool = False


class InvalidToolCall(_Event):
    type: Literal["invalid_tool_call"] = "invalid_tool_call"
    id: str
    name: str
    error: str


class RequestRetry(_Event):
    """A model request failed and is tried again; drop this step's partial deltas."""

    type: Literal["request_retry"] = "request_retry"
    attempt: int
    error: str
    delay: float


class StepFinished(_Event):
    type: Literal["step_finished"] = "step_finished"
    usage: Usage
    finish_reason: str | None = None


class RunFinished(_Event):
    type: Literal["run_finished"] = "run_finished"
    result: RunResult


class RunFailed(_Event):
    """A run's failure as an event, for JSON streams (`agentkit run --json` ends with it).

    The loop raises instead of yielding this; `RunFailed.from_error(err)` describes `err`.
    """

    type: Literal["run_failed"] = "run_failed"
    error_type: str
    message: str
    usage: Usage | None = None

    @classmethod
    def from_error(cls, err: BaseException) -> RunFailed:
        return cls(error_type=type(err).__name__, message=str(err),
                   usage=getattr(err, "usage", None))


AgentEvent = Annotated[
    Union[  # noqa: UP007
        ThinkingDelta,
        TextDelta,
        ToolCallStarted,
        ToolCallArgumentsDelta,
        ToolCallReady,
        ToolResult,
        InvalidToolCall,
        RequestRetry,
        StepFinished,
        RunFinished,
    ],
    Field(discriminator="type"),
]
