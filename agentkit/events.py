"""The typed events a run streams. Each is a pydantic model with a `type` discriminator
and serialises to one JSON line (`event.model_dump_json()`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from .result import RunResult
from .usage import Usage

__all__ = [
    "AgentEvent",
    "ApprovalRequired",
    "ContextCompacted",
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
    "ToolProgress",
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


class ToolProgress(_Event):
    """A running tool reports how far it is (e.g. an MCP server's progress notification)."""

    type: Literal["tool_progress"] = "tool_progress"
    id: str
    progress: float
    total: float | None = None
    message: str | None = None


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


class ApprovalRequired(_Event):
    """A call waits for a person's decision; the run ends paused (`RunResult.state`)."""

    type: Literal["approval_required"] = "approval_required"
    id: str
    name: str
    arguments: dict[str, Any]
    arguments_hash: str


class StepFinished(_Event):
    type: Literal["step_finished"] = "step_finished"
    usage: Usage
    finish_reason: str | None = None
    #: "thinking" or "instruct" (None: the server's default was left alone).
    mode: str | None = None
    #: The model name the step was requested with, when a mode chose one.
    model: str | None = None
    #: Thinking was switched off but reasoning arrived anyway (the server ignored it).
    thinking_ignored: bool = False


class ContextCompacted(_Event):
    """The view sent to the model was compacted before this step's request."""

    type: Literal["context_compacted"] = "context_compacted"
    tokens_before: int
    tokens_after: int
    actions: list[str]


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
        ToolProgress,
        InvalidToolCall,
        RequestRetry,
        ApprovalRequired,
        StepFinished,
        ContextCompacted,
        RunFinished,
    ],
    Field(discriminator="type"),
]
