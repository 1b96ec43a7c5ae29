"""The tau2 environment: agent/user toolkits, tool-call dispatch, state setup and hashing."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel

from .tasks import EnvAssertion, EnvFunctionCall, HistoryMessage, InitializationData
from .toolkit import ToolKitBase

__all__ = [
    "Environment",
    "ReplayMismatchError",
    "ToolCallRecord",
    "ToolResultRecord",
    "to_json_str",
]

log = logging.getLogger(__name__)

Requestor = Literal["assistant", "user"]


@dataclass
class ToolCallRecord:
    """A tool call with parsed arguments, addressed to the agent's or the user's toolkit."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    requestor: Requestor = "assistant"


@dataclass
class ToolResultRecord:
    """The tool message tau2 produces for a call: content string plus error flag."""

    id: str
    content: str
    error: bool
    requestor: str = "assistant"


class ReplayMismatchError(ValueError):
    """A replayed mutating call returned something other than the recorded output."""


def _process(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, (bool, int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_process(item) for item in value]
    if isinstance(value, dict):
        return {k: _process(v) for k, v in value.items()}
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise ValueError(f"Unsupported type: {type(value)}")


def to_json_str(result: Any) -> str:
    """Serialise a tool result exactly as tau2 does (strings pass through unchanged)."""
    if isinstance(result, str):
        return result
    return json.dumps(_process(result), default=str)


def _parse_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _as_history_message(message: Any) -> HistoryMessage:
    if isinstance(message, HistoryMessage):
        return message
    if isinstance(message, Mapping):
        return HistoryMessage.model_validate(dict(message))
    if isinstance(message, BaseModel):
        return HistoryMessage.model_validate(message.model_dump())
    raise TypeError(f"Unsupported message type in history: {type(message).__name__}")


class Environment:
    """A domain environment: policy text, agent toolkit and optional user toolkit."""

    def __init__(
        self,
        domain_name: str,
        policy: str,
        tools: ToolKitBase,
        user_tools: ToolKitBase | None = None,
        solo_mode: bool = False,
    ) -> None:
        self.domain_name = domain_name
        self.policy = policy
        self.tools = tools
        self.user_tools = user_tools
        self.solo_mode = solo_mode
        if solo_mode:
            self._validate_solo_mode()
        self.sync_tools()

    # ------------------------------------------------------------------ tools
    def _validate_solo_mode(self) -> None:
        if self.user_tools is None:
            return
        overlap = set(self.tools.tools) & set(self.user_tools.tools)
        if overlap:
            raise ValueError(f"Tool names overlap: {overlap}")

    def tool_schemas(self) -> list[dict[str, Any]]:
        """Schemas of the agent's tools (plus the user's in solo mode)."""
        schemas = self.tools.tool_schemas()
        if self.solo_mode and self.user_tools is not None:
            schemas += self.user_tools.tool_schemas()
        return schemas

    def user_tool_schemas(self, include: list[str] | None = None) -> list[dict[str, Any]]:
        """Schemas of the user's tools, optionally restricted to ``include``."""
        if self.user_tools is None:
            return []
        schemas = self.user_tools.tool_schemas()
        if include is not None:
            known = {s["function"]["name"] for s in schemas}
            unknown = set(include) - known
            if unknown:
                raise ValueError(
                    f"Tool(s) not found: {sorted(unknown)}. Available: {sorted(known)}"
                )
            schemas = [s for s in schemas if s["function"]["name"] in include]
        return schemas

    def has_tool(self, name: str) -> bool:
        if self.tools.has_tool(name):
            return True
        return self.user_tools is not None and self.user_tools.has_tool(name)

    def is_mutating_tool(self, name: str) -> bool:
        """Whether replaying ``name`` can change state (unknown -> True, like tau2)."""
        for kit in (self.tools, self.user_tools):
            if kit is not None and kit.has_tool(name):
                return kit.tool_mutates_state(name)
        return True

    def sync_tools(self) -> None:
        """Propagate state between agent and user sides; a no-op except in telecom."""

    def make_tool_call(self, name: str, requestor: str = "assistant", **kwargs: Any) -> Any:
        """Run a tool for ``requestor`` without syncing; raises whatever the tool raises."""
        if requestor == "user":
            if self.solo_mode:
                raise ValueError("User tool calls are not allowed in solo mode")
            if self.user_tools is None:
                raise ValueError("User tools not available")
            return self.user_tools.use_tool(name, **kwargs)
        if requestor == "assistant":
            if self.solo_mode and self.user_tools is not None and self.user_tools.has_tool(name):
                return self.user_tools.use_tool(name, **kwargs)
            return self.tools.use_tool(name, **kwargs)
        raise ValueError(f"Invalid requestor: {requestor}")

    def get_response(self, call: ToolCallRecord) -> ToolResultRecord:
        """Run ``call``, sync, and return tau2's tool message (``"Error: ..."`` on failure)."""
        error = False
        try:
            result = self.make_tool_call(call.name, requestor=call.requestor, **call.arguments)
            self.sync_tools()
        except Exception as exc:  # tau2 turns every exception into an error result
            result = f"Error: {exc}"
            error = True
        return ToolResultRecord(
            id=call.id, content=to_json_str(result), error=error, requestor=call.requestor
        )

    # ------------------------------------------------------------------ state
    def _kit(self, env_type: str) -> ToolKitBase:
        if env_type == "user":
            if self.user_tools is None:
                raise ValueError("User tools not available")
            return self.user_tools
        if env_type == "assistant":
            return self.tools
        raise ValueError(f"Invalid environment type: {env_type}")

    def run_env_function_call(self, call: EnvFunctionCall) -> Any:
        """Call any toolkit function (including hidden setup functions), then sync."""
        kit = self._kit(call.env_type)
        func = getattr(kit, call.func_name, None)
        if func is None or call.func_name.startswith("_") or not callable(func):
            raise ValueError(f"Function {call.func_name} not found in {call.env_type} tools")
        result = func(**call.arguments)
        self.sync_tools()
        return result

    def run_env_assertion(
        self, assertion: EnvAssertion, raise_assertion_error: bool = True
    ) -> bool:
        """Evaluate an assertion function; True when its result equals ``assert_value``."""
        if not isinstance(assertion, EnvAssertion):
            raise ValueError(f"Assertion must be an EnvAssertion. Got {assertion}")
        result = self.run_env_function_call(assertion)
        if not isinstance(result, bool):
            raise ValueError(
                f"Function {assertion.func_name} returned {type(result)} instead of bool"
            )
        passed = result == assertion.assert_value
        if raise_assertion_error and not passed:
            raise AssertionError(assertion.message or f"Assertion failed: {assertion}")
        return passed

    def set_state(
        self,
        initialization_data: InitializationData | Mapping[str, Any] | None,
        initialization_actions: Iterable[EnvFunctionCall | Mapping[str, Any]] | None,
        message_history: Iterable[Any] | None,
        strict: bool = True,
    ) -> None:
        """Apply a task's initial state, then replay the mutating calls of ``message_history``.

        Replayed outputs are compared with the recorded ones (as parsed JSON when possible);
        in strict mode a difference raises :class:`ReplayMismatchError`.
        """
        if initialization_data is not None:
            init = InitializationData.model_validate(initialization_data)
            if init.agent_data is not None:
                self.tools.update_db(init.agent_data)
                if self.user_tools is not None and self.user_tools.db is not None:
                    self.user_tools.db = self.tools.db  # tau2 aliases the two DBs here
            if init.user_data is not None:
                if self.user_tools is None:
                    raise ValueError("User tools not available")
                self.user_tools.update_db(init.user_data)
                if self.tools.db is not None:
                    self.tools.db = self.user_tools.db
        for action in initialization_actions or ():
            self.run_env_function_call(EnvFunctionCall.model_validate(action))
        messages = [_as_history_message(m) for m in (message_history or ())]
        if self.solo_mode and any(m.role == "user" for m in messages):
            raise ValueError("User messages are not allowed in solo mode")
        for call, expected in _pair_tool_calls(messages):
            if not self.has_tool(call.name) or not self.is_mutating_tool(call.name):
                continue
            response = self.get_response(call)
            if _parse_or_text(response.content) != _parse_or_text(expected.content or ""):
                message = (
                    f"Tool call:\n{call}\n\nReturned:\n{response}\n\nExpected:\n{expected}"
                )
                if strict:
                    raise ReplayMismatchError(message)
                log.warning("replayed call %s differs from the record", call.name)
        self.sync_tools()

    # ------------------------------------------------------------------ hashes
    def get_db_hash(self) -> str:
        return self.tools.get_db_hash()

    def get_user_db_hash(self) -> str | None:
        if self.user_tools is None or self.user_tools.db is None:
            return None
        return self.user_tools.get_db_hash()


def _pair_tool_calls(
    messages: list[HistoryMessage],
) -> list[tuple[ToolCallRecord, HistoryMessage]]:
    """Pair each tool call in a history with the tool message that follows it."""
    pairs: list[tuple[ToolCallRecord, HistoryMessage]] = []
    i = 0
    while i < len(messages):
        message = messages[i]
        i += 1
        if message.role == "tool":
            raise ValueError(
                "Tool message not expected. Tool messages should always follow a tool call."
            )
        if not message.is_tool_call():
            continue
        for tc in message.tool_calls or []:
            if i >= len(messages):
                raise ValueError("Tool message expected. Got None.")
            reply = messages[i]
            i += 1
            if reply.role != "tool":
                raise ValueError(f"Tool message expected. Got {reply.role} message")
            if tc.id != reply.id:
                raise ValueError(f"Tool call id mismatch. Got {tc.id} and {reply.id}")
            requestor: Requestor = "user" if message.role == "user" else tc.requestor
            pairs.append(
                (ToolCallRecord(tc.id, tc.name, dict(tc.arguments), requestor), reply)
            )
    return pairs
