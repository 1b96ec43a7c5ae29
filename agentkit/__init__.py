"""agentkit: Thinking-mode tool-calling agents.

The public names below load on first use, so `import agentkit` stays fast and never
imports openai or docker.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .lazy import lazy_exports

# agentkit logs under "agentkit.*" (loop, models, sandbox, tools, ...); silent until the
# application configures logging.
logging.getLogger("agentkit").addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from .agent import Agent
    from .approval import Approve, Deny, PendingApproval, RunState
    from .compaction import ContextPolicy
    from .context import RunContext
    from .errors import (
        AgentError,
        ContextOverflow,
        InvalidToolCallsExceeded,
        LimitExceeded,
        ModelAPIError,
        ModelBehaviorError,
        StopRun,
        ToolRetriesExceeded,
        ToolRetry,
        UserError,
    )
    from .events import (
        AgentEvent,
        ApprovalRequired,
        ContextCompacted,
        InvalidToolCall,
        RequestRetry,
        RunFailed,
        RunFinished,
        StepFinished,
        TextDelta,
        ThinkingDelta,
        ToolCallArgumentsDelta,
        ToolCallReady,
        ToolCallStarted,
        ToolResult,
    )
    from .messages import (
        AssistantMessage,
        CompactionMarker,
        Message,
        SystemMessage,
        ToolCall,
        ToolMessage,
        UserMessage,
        dump_messages,
        load_messages,
    )
    from .models.base import ModelSettings
    from .modes import StepMode
    from .result import RunResult, ToolCallRecord
    from .settings import RunSettings
    from .tooldef import Tool, ToolArgumentsError, tool
    from .usage import Usage

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Agent": "agent",
    "ContextPolicy": "compaction",
    "ContextOverflow": "errors",
    "ContextCompacted": "events",
    "CompactionMarker": "messages",
    "StepMode": "modes",
    "Approve": "approval",
    "Deny": "approval",
    "PendingApproval": "approval",
    "RunState": "approval",
    "ApprovalRequired": "events",
    "RunContext": "context",
    "AgentError": "errors",
    "InvalidToolCallsExceeded": "errors",
    "LimitExceeded": "errors",
    "ModelAPIError": "errors",
    "ModelBehaviorError": "errors",
    "StopRun": "errors",
    "ToolRetriesExceeded": "errors",
    "ToolRetry": "errors",
    "UserError": "errors",
    "AgentEvent": "events",
    "InvalidToolCall": "events",
    "RequestRetry": "events",
    "RunFailed": "events",
    "RunFinished": "events",
    "StepFinished": "events",
    "TextDelta": "events",
    "ThinkingDelta": "events",
    "ToolCallArgumentsDelta": "events",
    "ToolCallReady": "events",
    "ToolCallStarted": "events",
    "ToolResult": "events",
    "AssistantMessage": "messages",
    "Message": "messages",
    "SystemMessage": "messages",
    "ToolCall": "messages",
    "ToolMessage": "messages",
    "UserMessage": "messages",
    "dump_messages": "messages",
    "load_messages": "messages",
    "ModelSettings": "models.base",
    "RunResult": "result",
    "ToolCallRecord": "result",
    "RunSettings": "settings",
    "Tool": "tooldef",
    "ToolArgumentsError": "tooldef",
    "tool": "tooldef",
    "Usage": "usage",
}

__all__ = [
    "Agent",
    "AgentError",
    "AgentEvent",
    "ApprovalRequired",
    "Approve",
    "AssistantMessage",
    "CompactionMarker",
    "ContextCompacted",
    "ContextOverflow",
    "ContextPolicy",
    "Deny",
    "InvalidToolCall",
    "InvalidToolCallsExceeded",
    "LimitExceeded",
    "Message",
    "ModelAPIError",
    "ModelBehaviorError",
    "ModelSettings",
    "PendingApproval",
    "RequestRetry",
    "RunContext",
    "RunFailed",
    "RunFinished",
    "RunResult",
    "RunSettings",
    "RunState",
    "StepFinished",
    "StepMode",
    "StopRun",
    "SystemMessage",
    "TextDelta",
    "ThinkingDelta",
    "Tool",
    "ToolArgumentsError",
    "ToolCall",
    "ToolCallArgumentsDelta",
    "ToolCallReady",
    "ToolCallRecord",
    "ToolCallStarted",
    "ToolMessage",
    "ToolResult",
    "ToolRetriesExceeded",
    "ToolRetry",
    "Usage",
    "UserError",
    "UserMessage",
    "__version__",
    "dump_messages",
    "load_messages",
    "tool",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
