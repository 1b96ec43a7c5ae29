"""A generic three-party conversation: an agent, a user and an environment of tools.

The turn protocol is tau2-bench's half-duplex one (MIT, Sierra Research), with nothing
domain-specific in it:

- Unless a history is given, the conversation opens with a fixed agent greeting, so the user
  speaks first.
- A participant's turn is a run of messages: each may carry tool calls, whose results go back
  to the caller; the turn ends with a message without tool calls, whose text goes to the other
  party (what the user sees is only that text).
- A **step** is one routing: one participant message, or one batch of tool results. The
  conversation ends when the user's text holds a stop token (USER_STOP), the agent's text holds
  an agent stop token (AGENT_STOP; none by default), the step count reaches ``max_steps``, the
  cumulative count of error tool results reaches ``max_errors``, or ``timeout`` passes. The limit
  checks are skipped while tool calls await their results, so a batch always gets its answers.
- A message with neither text nor tool calls is invalid (:class:`EmptyMessageError`); like
  every exception in the conversation it propagates, and the caller retries the simulation.
- A resumed history that ends with unanswered tool calls has them run through the tool
  executor first (one routing step), then the caller continues.

Participants and the tool executor are small protocols, so the same loop serves other
simulations. :func:`simulate` yields events while the conversation runs (the participants'
core loop events, each trajectory message as it is recorded) and ends with a
:class:`SimulationFinished` event carrying the :class:`SimulationResult`.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, Protocol, Union, runtime_checkable

from pydantic import BaseModel, ConfigDict

from ..usage import Usage
from .simulation import STOP_TOKENS, SimMessage, SimToolCall, SimulationResult, TerminationReason

__all__ = [
    "DEFAULT_GREETING",
    "ConversationEvent",
    "EmptyMessageError",
    "MessageRecorded",
    "Participant",
    "ParticipantEvent",
    "ProtocolViolation",
    "SimulationConfig",
    "SimulationFinished",
    "ToolExecutor",
    "TurnItem",
    "simulate",
]

DEFAULT_GREETING = "Hi! How can I help you today?"

Side = Literal["agent", "user"]

ToolExecutor = Callable[[SimToolCall], Awaitable[SimMessage]]
"""Runs one tool call for its requestor and returns the tool-result message."""


class ProtocolViolation(RuntimeError):
    """A participant broke the turn protocol (e.g. results that answer no pending call)."""


class EmptyMessageError(ProtocolViolation):
    """A participant sent a message with neither text nor tool calls (tau2 rejects it)."""


class ParticipantEvent(BaseModel):
    """A core loop event (thinking/text deltas, tool calls...) of one participant."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    type: Literal["participant_event"] = "participant_event"
    side: Side
    event: Any


class MessageRecorded(BaseModel):
    """A message was added to the trajectory (``step`` is the step count after it)."""

    type: Literal["message"] = "message"
    side: Side
    message: SimMessage
    step: int


class SimulationFinished(BaseModel):
    type: Literal["simulation_finished"] = "simulation_finished"
    result: SimulationResult


ConversationEvent = Union[ParticipantEvent, MessageRecorded, SimulationFinished]  # noqa: UP007

TurnItem = Union[SimMessage, Any]  # noqa: UP007
"""What a participant's turn yields: trajectory messages, or core events to pass through."""


@runtime_checkable
class Participant(Protocol):
    """One side of the conversation (the agent or the user).

    ``start`` seeds the participant with the conversation so far (a resumed history, or the
    greeting). ``turn`` answers ``incoming`` (the other side's visible text, or None when the
    participant continues after its own tool results). It yields :class:`SimMessage` records
    -- its messages (text and/or tool calls, calls run through ``tools``) and the tool results,
    in order -- and may yield core events in between; it ends after a message without tool
    calls. ``usage`` accumulates the participant's model usage.
    """

    usage: Usage

    def start(self, history: Sequence[SimMessage]) -> None: ...

    def turn(self, incoming: str | None, tools: ToolExecutor) -> AsyncIterator[TurnItem]: ...


@dataclass
class SimulationConfig:
    """Limits and tokens of a conversation (defaults as in tau2-bench's CLI)."""

    max_steps: int = 200
    max_errors: int = 10
    timeout: float | None = None
    greeting: str = DEFAULT_GREETING
    user_stop_tokens: tuple[str, ...] = STOP_TOKENS
    agent_stop_tokens: tuple[str, ...] = ()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _stop_token(text: str | None, tokens: tuple[str, ...]) -> str | None:
    if not text:
        return None
    return next((t for t in tokens if t in text), None)


class _State:
    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.messages: list[SimMessage] = []
        self.steps = 0
        self.errors = 0
        self.reason: TerminationReason | None = None
        self.stop_token: str | None = None
        self.started = time.monotonic()

    def limit_reached(self, stopped: bool = False) -> TerminationReason | None:
        """tau2's post-step check (only called when no tool call is pending).

        Steps and errors override a stop made on the same step (as in tau2); the wall-clock
        timeout only applies to a conversation still running.
        """
        reason = None
        if self.steps >= self.config.max_steps:
            reason = TerminationReason.MAX_STEPS
        if self.errors >= self.config.max_errors:
            reason = TerminationReason.TOO_MANY_ERRORS
        if reason is None and not stopped and self.config.timeout is not None \
                and time.monotonic() - self.started >= self.config.timeout:
            reason = TerminationReason.TIMEOUT
        return reason


def _pending_calls(history: Sequence[SimMessage]) -> list[SimToolCall]:
    """The tool calls of the last message that have no result after it."""
    i = len(history) - 1
    while i >= 0 and history[i].role == "tool":
        i -= 1
    if i < 0 or not history[i].is_tool_call():
        return []
    caller = history[i]
    answered = Counter(m.id for m in history[i + 1:])
    pending = []
    for c in caller.tool_calls or []:
        if answered[c.id] > 0:
            answered[c.id] -= 1
        else:
            pending.append(c.model_copy(update={"requestor": caller.role}))
    return pending


def _next_side(history: Sequence[SimMessage]) -> tuple[Side, str | None]:
    """Who speaks after ``history`` and what they receive (tau2's resume rules)."""
    last = history[-1]
    if last.role == "assistant":
        if last.is_tool_call():
            raise ProtocolViolation("history ends with unanswered agent tool calls")
        return "user", last.content or ""
    if last.role == "user":
        if last.is_tool_call():
            raise ProtocolViolation("history ends with unanswered user tool calls")
        return "agent", last.content or ""
    if last.role == "tool":
        return ("agent" if last.requestor == "assistant" else "user"), None
    raise ProtocolViolation(f"history cannot end with a {last.role} message")


async def simulate(
    agent: Participant,
    user: Participant,
    tools: ToolExecutor,
    *,
    task_id: str = "",
    history: Sequence[SimMessage] | None = None,
    config: SimulationConfig | None = None,
    simulation_id: str | None = None,
) -> AsyncIterator[ConversationEvent]:
    """Run the conversation, yielding events; the last one is :class:`SimulationFinished`.

    Every failure (a model server that keeps failing, malformed tool-call JSON, an empty
    message, a model error of the core loop) propagates as an exception, as in tau2-bench;
    the caller decides whether to retry the whole simulation (an infrastructure error).
    """
    config = config or SimulationConfig()
    state = _State(config)
    start_time = _now()
    parties: dict[Side, Participant] = {"agent": agent, "user": user}

    if history:
        state.messages = [m.model_copy(deep=True) for m in history]
        for m in state.messages:
            m.turn_idx = None
        state.errors = 0  # tau2 counts errors of the new conversation only
        pending_calls = _pending_calls(state.messages)
        if pending_calls:  # tau2 routes them to the environment first
            caller: Side = "agent" if pending_calls[0].requestor == "assistant" else "user"
            for i, c in enumerate(pending_calls):
                answer = await tools(c)
                answer.requestor, answer.timestamp = c.requestor, answer.timestamp or _now()
                state.messages.append(answer)
                state.errors += int(answer.error)
                state.steps += int(i == len(pending_calls) - 1)
                yield MessageRecorded(side=caller, message=answer, step=state.steps)
            state.reason = state.limit_reached()
        side, incoming = _next_side(state.messages)
        last = state.messages[-1]
        if last.role in ("user", "assistant") and not last.is_tool_call():
            tokens = config.user_stop_tokens if last.role == "user" else config.agent_stop_tokens
            state.stop_token = _stop_token(last.content, tokens)
            if state.stop_token:
                state.reason = (TerminationReason.USER_STOP if last.role == "user"
                                else TerminationReason.AGENT_STOP)
    else:
        greeting = SimMessage(role="assistant", content=config.greeting, timestamp=_now())
        state.messages = [greeting]
        side, incoming = "user", config.greeting
    # the side about to speak receives the last text as its incoming message, not as history
    delivered = state.messages[:-1] if incoming is not None else state.messages
    parties[side].start(list(delivered))
    parties["user" if side == "agent" else "agent"].start(list(state.messages))

    while state.reason is None:
        party = parties[side]
        requestor: Literal["assistant", "user"] = "assistant" if side == "agent" else "user"
        pending = 0
        due: Counter[str] = Counter()
        final_text: str | None = None
        turn_over = False
        async with aclosing(party.turn(incoming, tools)) as items:  # type: ignore[type-var]
            async for item in items:
                if not isinstance(item, SimMessage):
                    yield ParticipantEvent(side=side, event=item)
                    continue
                item.timestamp = item.timestamp or _now()
                state.messages.append(item)
                if item.role == "tool":
                    if pending <= 0 or due[item.id or ""] <= 0:
                        raise ProtocolViolation(
                            f"{side} produced a tool result ({item.id}) that answers no "
                            "pending call")
                    due[item.id or ""] -= 1
                    item.requestor = requestor
                    state.errors += int(item.error)
                    pending -= 1
                    if pending == 0:
                        state.steps += 1
                        yield MessageRecorded(side=side, message=item, step=state.steps)
                        state.reason = state.limit_reached()
                        if state.reason is not None:
                            break
                    else:
                        yield MessageRecorded(side=side, message=item, step=state.steps)
                    continue
                if pending:
                    raise ProtocolViolation(f"{side} spoke with {pending} tool results due")
                if item.role != requestor:
                    raise ProtocolViolation(f"{side} produced a {item.role} message")
                if not item.tool_calls and not item.has_text():
                    raise EmptyMessageError(
                        f"{side} sent an empty message (no text and no tool calls)")
                state.steps += 1
                yield MessageRecorded(side=side, message=item, step=state.steps)
                if item.tool_calls:
                    for c in item.tool_calls:
                        c.requestor = requestor
                    pending = len(item.tool_calls)
                    due = Counter(c.id for c in item.tool_calls)
                    continue
                final_text = item.content or ""
                tokens = config.user_stop_tokens if side == "user" else config.agent_stop_tokens
                state.stop_token = _stop_token(final_text, tokens)
                if state.stop_token is not None:
                    state.reason = (TerminationReason.USER_STOP if side == "user"
                                    else TerminationReason.AGENT_STOP)
                state.reason = state.limit_reached(state.reason is not None) or state.reason
                turn_over = True
                break
        if state.reason is not None:
            break
        if not turn_over:
            raise ProtocolViolation(f"the {side}'s turn ended without a message to the other side")
        side = "user" if side == "agent" else "agent"
        incoming = final_text

    for i, m in enumerate(state.messages):
        m.turn_idx = i
    assert state.reason is not None
    result = SimulationResult(
        id=simulation_id or uuid.uuid4().hex,
        task_id=task_id,
        termination_reason=state.reason,
        stop_token=state.stop_token,
        messages=state.messages,
        steps=state.steps,
        num_errors=state.errors,
        start_time=start_time,
        end_time=_now(),
        duration=time.monotonic() - state.started,
        agent_usage=agent.usage.model_copy(),
        user_usage=user.usage.model_copy(),
        agent_modes=list(getattr(agent, "modes", ())),
    )
    yield SimulationFinished(result=result)
