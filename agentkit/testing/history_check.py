"""DashScope-style request validation for the loopback server.

Real servers reject some requests with HTTP 400; a fake that accepts them hides loop bugs.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["THINKING_NON_STREAM_ERROR", "check_history", "check_thinking_stream"]

THINKING_NON_STREAM_ERROR: dict[str, Any] = {
    "error": {
        "code": "invalid_parameter_error",
        "message": "parameter.enable_thinking must be set to false for non-streaming calls",
        "type": "invalid_request_error",
    }
}


def check_thinking_stream(body: dict[str, Any]) -> dict[str, Any] | None:
    """The DashScope 400 body when thinking is on without streaming, else None."""
    if body.get("enable_thinking") is True and not body.get("stream"):
        return THINKING_NON_STREAM_ERROR
    return None


def _error(message: str) -> dict[str, Any]:
    return {"error": {"code": "invalid_parameter_error", "message": message,
                      "type": "invalid_request_error"}}


def check_history(body: dict[str, Any]) -> dict[str, Any] | None:
    """A 400 body if the messages break the pairing rules DashScope enforces, else None.

    Rules: `messages` is a non-empty list of objects with a known role; every assistant
    `tool_calls` entry has JSON-object arguments and is answered by a `tool` message (before
    the next user/assistant message); every `tool` message answers a pending call.
    """
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return _error("messages must be a non-empty list")
    pending: dict[str, str] = {}
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            return _error(f"messages[{i}] must be an object")
        role = msg.get("role")
        if role not in ("system", "user", "assistant", "tool", "developer"):
            return _error(f"messages[{i}].role {role!r} is not supported")
        if role in ("user", "assistant", "system", "developer") and pending:
            return _error(
                'An assistant message with "tool_calls" must be followed by tool messages '
                f'responding to each "tool_call_id"; missing: {sorted(pending)} '
                f"(before messages[{i}])")
        if role == "assistant":
            for j, tc in enumerate(msg.get("tool_calls") or []):
                fn = (tc or {}).get("function") or {}
                call_id = (tc or {}).get("id")
                if not call_id or not isinstance(call_id, str):
                    return _error(f"messages[{i}].tool_calls[{j}].id is missing")
                try:
                    args = json.loads(fn.get("arguments", ""))
                except (TypeError, ValueError):
                    args = None
                if not isinstance(args, dict):
                    return _error(
                        f"messages[{i}].tool_calls[{j}].function.arguments must be a JSON "
                        "object")
                pending[call_id] = str(fn.get("name", ""))
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            if call_id not in pending:
                return _error(
                    f'messages[{i}] with role "tool" must be a response to a preceding '
                    f'message with "tool_calls" (tool_call_id {call_id!r})')
            del pending[call_id]
    if pending:
        return _error(
            'An assistant message with "tool_calls" must be followed by tool messages '
            f'responding to each "tool_call_id"; missing: {sorted(pending)}')
    return None
