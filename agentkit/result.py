"""What a finished run returns."""

from __future__ import annotations

from typing import Any, Generic

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeVar

from .messages import Message
from .usage import Usage

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
