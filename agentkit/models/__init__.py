"""Model implementations. `OpenAICompatModel` is imported lazily (it pulls in openai)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import (
    Model,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ModelStreamEvent,
    ReasoningPart,
    TextPart,
    ToolCallPart,
    ToolSpec,
)

if TYPE_CHECKING:
    from .openai_compat import OpenAICompatModel

__all__ = [
    "Model",
    "ModelRequest",
    "ModelResponse",
    "ModelSettings",
    "ModelStreamEvent",
    "OpenAICompatModel",
    "ReasoningPart",
    "TextPart",
    "ToolCallPart",
    "ToolSpec",
]


def __getattr__(name: str) -> Any:
    if name == "OpenAICompatModel":
        from .openai_compat import OpenAICompatModel

        return OpenAICompatModel
    raise AttributeError(name)
