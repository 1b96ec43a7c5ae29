"""Typed errors. Every run error carries the transcript as it stood."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .messages import Message
    from .usage import Usage

__all__ = [
    "AgentError",
    "ContextOverflow",
    "InvalidToolCallsExceeded",
    "LimitExceeded",
    "ModelAPIError",
    "ModelBehaviorError",
    "StopRun",
    "ToolRetriesExceeded",
    "ToolRetry",
    "UserError",
]


class AgentError(Exception):
    """Base of the errors a run raises; `messages` and `usage` survive the failure."""

    def __init__(self, message: str, *, messages: list[Message] | None = None,
                 usage: Usage | None = None) -> None:
        super().__init__(message)
        self.messages: list[Message] = list(messages or [])
        if usage is None:
            from .usage import Usage

            usage = Usage()
        self.usage: Usage = usage


class UserError(AgentError):
    """The caller configured something wrongly (missing key, bad setting)."""


class LimitExceeded(AgentError):
    """A run limit (steps, tool calls, tokens, time) was reached. `limit` names it."""

    def __init__(self, message: str, *, limit: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.limit = limit


class InvalidToolCallsExceeded(AgentError):
    """Too many invalid tool calls in a row; `last_problem` says what was wrong with the last."""

    def __init__(self, message: str, *, last_problem: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.last_problem = last_problem


class ModelBehaviorError(AgentError):
    """The model produced something the loop cannot go on from (e.g. reasoning only, twice)."""


class ModelAPIError(AgentError):
    """The model server failed. `retryable` says whether the loop may try again."""

    def __init__(self, message: str, *, status_code: int | None = None, retryable: bool = False,
                 retry_after: float | None = None, body: Any = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after
        self.body = body


class ToolRetriesExceeded(AgentError):
    """A tool raised `ToolRetry` more often in a row than its `retries`; `tool` names it."""

    def __init__(self, message: str, *, tool: str, last_problem: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.tool = tool
        self.last_problem = last_problem


class ToolRetry(Exception):
    """Raise from a tool to have the model call it again with better arguments.

    The message is what the model is told, e.g. `raise ToolRetry("n must be positive")`.
    Each tool allows `retries` of these in a row (`@tool(retries=2)`, default 1); they are
    counted apart from invalid calls and from other exceptions (which the model just sees).
    """
class ContextOverflow(ModelAPIError):
    """The server refused the request as longer than its context window, also after the
    run compacted its context (when it manages context) and tried once more."""


class StopRun(Exception):
    """Raise from a tool to end the run now; `output` becomes the run's output."""

    def __init__(self, output: Any = None) -> None:
        super().__init__("run stopped by tool")
        self.output = output
