"""The seam between the loop and a model server.

A `Model` turns a `ModelRequest` into an async stream of small events: reasoning and
text deltas, tool-call fragments, and exactly one final `ModelResponse` carrying the
assembled `AssistantMessage` and the usage. Wire formats live behind this seam.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..messages import AssistantMessage, Message
from ..usage import Usage

__all__ = [
    "Model",
    "ModelRequest",
    "ModelResponse",
    "ModelSettings",
    "ModelStreamEvent",
    "ReasoningPart",
    "TextPart",
    "ToolCallPart",
    "ToolSpec",
]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What the model is told about a tool."""

    name: str
    description: str
    parameters: dict[str, Any]

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass(slots=True)
class ModelSettings:
    """Per-request knobs. `None` means the server's default; `extra_body` is sent as is."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    thinking_budget: int | None = None
    reasoning_effort: str | None = None
    parallel_tool_calls: bool | None = None
    seed: int | None = None
    request_timeout: float | None = None  # seconds for one HTTP request (not the run)
    extra_body: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ModelRequest:
    messages: list[Message]
    tools: list[ToolSpec]
    settings: ModelSettings
    thinking: bool | None = None  # None: the model's own default
    #: Set by a model that can tell: False when an attempt starts, True once its HTTP
    #: request reached the server. None: unknown (usage counts the attempt as sent).
    sent: bool | None = None
    model: str | None = None  # another model name for this request (None: the model's own)


@dataclass(slots=True)
class ReasoningPart:
    text: str


@dataclass(slots=True)
class TextPart:
    text: str


@dataclass(slots=True)
class ToolCallPart:
    """A streamed fragment of tool call number `index` of this response.

    `id` and `name` are set on the first fragment of a call; `arguments_delta` is raw text.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments_delta: str = ""


@dataclass(slots=True)
class ModelResponse:
    """The last event of every model stream."""

    message: AssistantMessage
    usage: Usage
    model_name: str | None = None
    response_id: str | None = None  # the server's id of the completion, when it sent one


ModelStreamEvent = ReasoningPart | TextPart | ToolCallPart | ModelResponse


@runtime_checkable
class Model(Protocol):
    """Anything that streams a response for a request.

    Raise `agentkit.errors.ModelAPIError` (with `retryable`) for server failures, also when
    a stream breaks midway; the loop owns retries.
    """

    @property
    def name(self) -> str: ...

    @property
    def thinking(self) -> bool | None: ...

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]: ...
