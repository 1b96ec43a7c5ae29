"""The transcript: provider-neutral chat messages.

Messages are pydantic models so a transcript serialises to JSON and loads back
(`dump_messages` / `load_messages`). How each message is written on the wire
(which reasoning field, which turns keep their reasoning) is the profile's job.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "AssistantMessage",
    "BrokenToolCall",
    "CompactionMarker",
    "Message",
    "SystemMessage",
    "ToolCall",
    "ToolMessage",
    "UserMessage",
    "dump_messages",
    "load_messages",
]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SystemMessage(_Msg):
    role: Literal["system"] = "system"
    content: str


class UserMessage(_Msg):
    role: Literal["user"] = "user"
    content: str | list[dict[str, Any]]


class ToolCall(_Msg):
    """A call the model made. `arguments` is always valid JSON text (an object)."""

    id: str
    name: str
    arguments: str = "{}"


class BrokenToolCall(_Msg):
    """A call whose arguments could not be parsed: kept for the record, never replayed."""

    id: str
    name: str
    raw_arguments: str
    reason: str


class AssistantMessage(_Msg):
    role: Literal["assistant"] = "assistant"
    content: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    broken_tool_calls: list[BrokenToolCall] = Field(default_factory=list)
    finish_reason: str | None = None
    #: "thinking" or "instruct": the mode the step was requested in (None: not recorded).
    mode: str | None = None


class ToolMessage(_Msg):
    role: Literal["tool"] = "tool"
    tool_call_id: str
    name: str
    content: str
    is_error: bool = False


class CompactionMarker(_Msg):
    """A context compaction, recorded in the transcript; never sent to a model.

    Positions count the transcript's messages after its leading system messages, markers
    excluded. Replaying the markers in order (`agentkit.compaction.sent_view`) rebuilds
    exactly what later requests sent.
    """

    role: Literal["compaction"] = "compaction"
    tokens_before: int
    tokens_after: int
    #: Tool results cut to their first `head` and last `tail` characters.
    shortened: list[int] = Field(default_factory=list)
    head: int = 0
    tail: int = 0
    #: Assistant messages whose replayed reasoning was dropped.
    reasoning_dropped: list[int] = Field(default_factory=list)
    #: Positions [start, end) replaced by one user message holding `summary`.
    summarized: tuple[int, int] | None = None
    summary: str | None = None
    summary_mode: str | None = None


Message = Annotated[
    Union[SystemMessage, UserMessage, AssistantMessage, ToolMessage,  # noqa: UP007
          CompactionMarker],
    Field(discriminator="role"),
]

_ADAPTER: TypeAdapter[list[Message]] = TypeAdapter(list[Message])


def dump_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Plain JSON-ready dicts of a transcript."""
    return _ADAPTER.dump_python(messages, mode="json")


def load_messages(data: Any) -> list[Message]:
    """Messages back from `dump_messages` output, a JSON string or bytes."""
    if isinstance(data, (str, bytes)):
        return _ADAPTER.validate_json(data)
    return _ADAPTER.validate_python(data)
