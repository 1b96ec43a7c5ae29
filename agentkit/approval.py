"""Human approval of tool calls: decisions, the paused run's state, and the fail-closed rules.

A reply that contains a call to a tool with `needs_approval` pauses the run before any of
that reply's calls runs. The run ends with `status="paused"` and a `RunState` (JSON with a
schema version) that `agent.resume(state, decisions=...)` continues, in this process or
another one. Rules:

- fail closed: a pending call without a decision is denied; a decision for an unknown call id,
  or a decision that is neither `Approve` nor `Deny`, is a `UserError` and nothing runs;
- a decision is bound to the call id, the tool name and a hash of the exact arguments
  (`Approve(arguments_hash=...)` refuses other arguments);
- a resume never asks the model again for the paused step, and a state is resumed once:
  with a session the store records it (across processes); without one, this process does.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .errors import UserError
from .messages import AssistantMessage, Message
from .result import ToolCallRecord
from .usage import Usage

__all__ = [
    "STATE_SCHEMA_VERSION",
    "Approve",
    "Decision",
    "Deny",
    "PendingApproval",
    "RunState",
    "arguments_hash",
    "needs_approval",
    "resolve_decisions",
]

log = logging.getLogger("agentkit.approval")

STATE_SCHEMA_VERSION = 1
NOT_APPROVED = "not approved"


class Approve(BaseModel):
    """Run the call. With `arguments_hash`, only if the arguments are the ones approved."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["approve"] = "approve"
    arguments_hash: str | None = None


class Deny(BaseModel):
    """Do not run the call; the model gets an error result with `message`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["deny"] = "deny"
    message: str = NOT_APPROVED


Decision = Annotated[Union[Approve, Deny], Field(discriminator="kind")]  # noqa: UP007
DECISION_ADAPTER: TypeAdapter[Approve | Deny] = TypeAdapter(Decision)


class PendingApproval(BaseModel):
    """A call waiting for a person's decision."""

    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    arguments: dict[str, Any]
    arguments_hash: str


class RunState(BaseModel):
    """A paused run: everything a resume needs, as JSON (`model_dump_json` / `model_validate_json`).

    `messages` is the transcript before the paused reply (empty for a run paused in a session,
    which holds it), `reply` the assistant message whose calls wait (none of them has run).
    The limits go on counting across the pause: `step`, `usage`, `total_calls`,
    `tool_retries` and `elapsed` (run time before the pause; waiting time is not counted).
    """

    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[1] = 1  # STATE_SCHEMA_VERSION
    state_id: str
    run_id: str
    agent_name: str = ""
    session_id: str | None = None
    messages: list[Message]
    reply: AssistantMessage
    pending: list[PendingApproval]
    step: int
    usage: Usage
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    total_calls: int = 0
    tool_retries: dict[str, int] = Field(default_factory=dict)  # ToolRetry in a row, per tool
    invalid_streak: int = 0
    elapsed: float = 0.0


def arguments_hash(name: str, arguments: Mapping[str, Any]) -> str:
    """`sha256:<hex>` of the tool name and the arguments as canonical JSON (sorted keys)."""
    body = orjson.dumps(dict(arguments), option=orjson.OPT_SORT_KEYS)
    return "sha256:" + hashlib.sha256(name.encode() + b"\0" + body).hexdigest()


async def needs_approval(rule: Any, ctx: Any, arguments: dict[str, Any]) -> bool:
    """Evaluate a tool's `needs_approval` (a bool or `rule(ctx, arguments)`, sync or async).

    Fails closed: a rule that raises, or returns anything but `False`, asks for approval.
    """
    if rule is None or rule is False:
        return False
    if rule is True:
        return True
    try:
        value = rule(ctx, dict(arguments))
        if inspect.isawaitable(value):
            value = await value
    except Exception:
        log.exception("a needs_approval rule raised; asking for approval")
        return True
    return value is not False


def resolve_decisions(state: RunState, decisions: Mapping[str, Any] | None
                      ) -> dict[str, Deny | Approve]:
    """One checked decision per pending call (missing: denied); raises `UserError` on bad input."""
    decisions = dict(decisions or {})
    pending = {p.id: p for p in state.pending}
    unknown = sorted(set(decisions) - set(pending))
    if unknown:
        raise UserError(f"decisions for unknown call ids: {', '.join(map(repr, unknown))}; "
                        f"pending: {', '.join(map(repr, pending)) or '(none)'}")
    calls = {tc.id: tc for tc in state.reply.tool_calls}
    out: dict[str, Deny | Approve] = {}
    for call_id, p in pending.items():
        tc = calls.get(call_id)
        try:
            actual = orjson.loads(tc.arguments) if tc is not None and tc.arguments.strip() else {}
        except orjson.JSONDecodeError:
            actual = None
        if tc is None or tc.name != p.name or not isinstance(actual, dict) \
                or arguments_hash(tc.name, actual) != p.arguments_hash:
            raise UserError(f"the paused state does not match its reply for call {call_id!r} "
                            "(was it edited?); nothing was run")
        if call_id not in decisions:
            out[call_id] = Deny(message=f"{NOT_APPROVED} (no decision was given)")
            continue
        decision = decisions[call_id]
        if isinstance(decision, Mapping):  # a decision as JSON: {"kind": "approve"|"deny", ...}
            try:
                decision = DECISION_ADAPTER.validate_python(decision)
            except ValidationError as exc:
                raise UserError(f"the decision for {call_id!r} is invalid: {exc}") from None
        if not isinstance(decision, (Approve, Deny)):
            raise UserError(f"the decision for {call_id!r} must be Approve() or Deny(...), "
                            f"not {decision!r}")
        if isinstance(decision, Approve) and decision.arguments_hash is not None \
                and decision.arguments_hash != p.arguments_hash:
            raise UserError(f"call {call_id!r}: the approved arguments hash does not match the "
                            "call's arguments; nothing was run")
        out[call_id] = decision
    return out


class _Consumed:
    """State ids resumed in this process (bounded), for resumes without a session."""

    def __init__(self, limit: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def take(self, state_id: str) -> None:
        with self._lock:
            if state_id in self._ids:
                raise UserError("this paused state was already resumed; a state resumes once")
            self._ids[state_id] = None
            while len(self._ids) > self._limit:
                self._ids.popitem(last=False)


CONSUMED = _Consumed()


def _complete_run_result() -> None:
    """`RunResult` refers to the types above; they need `ToolCallRecord`, so they come last."""
    from . import result

    setattr(result, "PendingApproval", PendingApproval)  # noqa: B010
    setattr(result, "RunState", RunState)  # noqa: B010
    result.RunResult.model_rebuild()


_complete_run_result()
