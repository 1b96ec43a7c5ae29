"""Attribute names (OpenTelemetry GenAI semantic conventions, plus agentkit's own) and the
helpers that turn agentkit objects into attribute values. Imports no opentelemetry.

The `gen_ai.*` names follow the GenAI conventions (status "Development"); names under
`agentkit.*` are agentkit's own: run-level totals live there, apart from the per-request
`gen_ai.usage.*` on `chat` spans, so a backend summing usage does not count tokens twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from ..messages import AssistantMessage, Message, SystemMessage, ToolMessage, UserMessage

__all__ = [
    "error_type",
    "messages_json",
    "provider_name",
    "request_attributes",
]

# --- GenAI semantic conventions
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
AGENT_NAME = "gen_ai.agent.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_SEED = "gen_ai.request.seed"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
REASONING_TOKENS = "gen_ai.usage.reasoning.output_tokens"
CACHED_TOKENS = "gen_ai.usage.cache_read.input_tokens"
TOKEN_TYPE = "gen_ai.token.type"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"  # content: only with capture_content
TOOL_RESULT = "gen_ai.tool.call.result"  # content
INPUT_MESSAGES = "gen_ai.input.messages"  # content
OUTPUT_MESSAGES = "gen_ai.output.messages"  # content
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"  # content
ERROR_TYPE = "error.type"
HTTP_STATUS = "http.response.status_code"

# --- agentkit's own
RUN_ID = "agentkit.run.id"
PROFILE = "agentkit.profile"
STEP = "agentkit.step"
RETRIES = "agentkit.request.retries"  # earlier failed attempts of this request
RETRYABLE = "agentkit.request.retryable"
THINKING = "agentkit.request.thinking"
THINKING_BUDGET = "agentkit.request.thinking_budget"
MODE = "agentkit.request.mode"  # "thinking" / "instruct": the mode a policy chose
REASONING_EFFORT = "agentkit.request.reasoning_effort"
TOOL_IS_ERROR = "agentkit.tool.is_error"
RUN_STEPS = "agentkit.run.steps"
RUN_REQUESTS = "agentkit.run.requests"
RUN_INPUT_TOKENS = "agentkit.run.input_tokens"
RUN_OUTPUT_TOKENS = "agentkit.run.output_tokens"
RUN_REASONING_TOKENS = "agentkit.run.reasoning_tokens"
RUN_CACHED_TOKENS = "agentkit.run.cached_tokens"
RUN_TOOL_CALLS = "agentkit.run.tool_calls"
RUN_TOOL_ERRORS = "agentkit.run.tool_errors"
RUN_INVALID_CALLS = "agentkit.run.invalid_calls"
RUN_OUTPUT_TYPE = "agentkit.run.output_type"

CANCELLED = "cancelled"


def error_type(exc: BaseException) -> str:
    """The class name for `error.type` and records: qualified unless a builtin."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def provider_name(model: Any) -> str:
    """`gen_ai.provider.name`: the model's own `provider_name`, else its profile's name."""
    name = getattr(model, "provider_name", None)
    if isinstance(name, str):
        return name
    profile = getattr(model, "profile", None)
    if profile is not None and isinstance(getattr(profile, "name", None), str):
        return str(profile.name)
    return type(model).__name__


def request_attributes(model: Any, settings: Any, thinking: bool | None) -> dict[str, Any]:
    """What every `chat` span of a run says about the request: model, profile, settings.

    A setting the agent leaves unset falls back to the model's own default settings (as
    `OpenAICompatModel` does when it builds the body); unset settings are left out.
    """
    defaults = getattr(model, "settings", None)

    def pick(name: str) -> Any:
        value = getattr(settings, name, None)
        return getattr(defaults, name, None) if value is None else value

    if thinking is None:
        thinking = getattr(model, "thinking", None)
    attrs: dict[str, Any] = {OPERATION: "chat", PROVIDER: provider_name(model),
                             REQUEST_MODEL: str(model.name)}
    profile = getattr(model, "profile", None)
    if profile is not None and hasattr(profile, "name"):
        attrs[PROFILE] = str(profile.name)
    for key, name in ((REQUEST_TEMPERATURE, "temperature"), (REQUEST_TOP_P, "top_p"),
                      (REQUEST_MAX_TOKENS, "max_tokens"), (REQUEST_SEED, "seed"),
                      (THINKING_BUDGET, "thinking_budget"),
                      (REASONING_EFFORT, "reasoning_effort")):
        value = pick(name)
        if value is not None:
            attrs[key] = value
    if thinking is not None:
        attrs[THINKING] = bool(thinking)
    return attrs


def _parts(message: Message, clip: Callable[[str], str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if isinstance(message, AssistantMessage):
        if message.reasoning:
            parts.append({"type": "reasoning", "content": clip(message.reasoning)})
        if message.content:
            parts.append({"type": "text", "content": clip(message.content)})
        for tc in message.tool_calls:
            parts.append({"type": "tool_call", "id": tc.id, "name": tc.name,
                          "arguments": clip(tc.arguments)})
    elif isinstance(message, ToolMessage):
        parts.append({"type": "tool_call_response", "id": message.tool_call_id,
                      "response": clip(message.content)})
    elif isinstance(message, (UserMessage, SystemMessage)):
        content = message.content
        text = content if isinstance(content, str) else orjson.dumps(content).decode()
        parts.append({"type": "text", "content": clip(text)})
    return parts


def messages_json(messages: Sequence[Message], clip: Callable[[str], str],
                  max_messages: int = 50) -> str:
    """Messages as GenAI-convention JSON (`gen_ai.input.messages`), each text clipped and only
    the last `max_messages` kept (a note says how many were left out)."""
    kept = [m for m in messages if not isinstance(m, SystemMessage)]
    out: list[dict[str, Any]] = []
    if len(kept) > max_messages:
        out.append({"role": "agentkit", "parts": [
            {"type": "text", "content": f"[{len(kept) - max_messages} earlier messages left "
                                        "out]"}]})
        kept = kept[-max_messages:]
    out.extend({"role": m.role, "parts": _parts(m, clip)} for m in kept)
    return orjson.dumps(out).decode()
