"""Answers to what a server asks the client: sampling (an agentkit model) and elicitation.

Both are off unless the user opts in: without `sampling_model=` the client does not declare
sampling and the SDK refuses the request; without an elicitation callback every elicitation
is declined.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from ..messages import AssistantMessage, Message, SystemMessage, UserMessage
from ..models.base import Model, ModelRequest, ModelResponse, ModelSettings

__all__ = ["ElicitationCallback", "make_elicitation_callback", "make_sampling_callback"]

# (message, requested JSON schema) -> the answer's fields, or None to decline
ElicitationCallback = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None] | Any]


def make_sampling_callback(model: Model) -> Callable[..., Awaitable[Any]]:
    """A sampling callback that asks `model` (text in, text out; no tools)."""
    import mcp.types as types

    async def sample(context: Any, params: Any) -> Any:
        messages: list[Message] = []
        if params.system_prompt:
            messages.append(SystemMessage(content=params.system_prompt))
        for m in params.messages:
            blocks = m.content if isinstance(m.content, list) else [m.content]
            text = "\n".join(str(getattr(b, "text", f"[{b.type} content]")) for b in blocks)
            messages.append(UserMessage(content=text) if m.role == "user"
                            else AssistantMessage(content=text))
        settings = ModelSettings(max_tokens=params.max_tokens, temperature=params.temperature)
        response: ModelResponse | None = None
        stream = model.stream(ModelRequest(messages=messages, tools=[], settings=settings))
        try:
            async for event in stream:
                if isinstance(event, ModelResponse):
                    response = event
        finally:
            await stream.aclose()
        if response is None:
            return types.ErrorData(code=types.INTERNAL_ERROR, message="the model gave no answer")
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=response.message.content),
            model=response.model_name or model.name, stop_reason="endTurn")

    return sample


def make_elicitation_callback(user: ElicitationCallback | None) -> Callable[..., Awaitable[Any]]:
    """An elicitation callback: `user(message, schema)` answers; without one, decline."""
    import mcp.types as types

    async def elicit(context: Any, params: Any) -> Any:
        if user is None or getattr(params, "mode", "form") != "form":
            return types.ElicitResult(action="decline")
        answer = user(params.message, dict(params.requested_schema or {}))
        if inspect.isawaitable(answer):
            answer = await answer
        if answer is None:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content=dict(answer))

    return elicit
