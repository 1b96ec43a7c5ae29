"""What the loop asks of sessions and approvals, kept out of the loop itself.

- `start`: lock the session and load (and repair) its history, or restore a paused run;
- `commit`: append the messages finished since the last commit to the session;
- `gate`: after a reply's calls are checked, pause if any needs approval, or, on the
  resumed step, apply the decisions.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .approval import (
    CONSUMED,
    NOT_APPROVED,
    Deny,
    PendingApproval,
    RunState,
    arguments_hash,
    needs_approval,
    resolve_decisions,
)
from .errors import AgentError, UserError
from .messages import AssistantMessage, Message, ToolMessage
from .models.base import ModelResponse
from .sessions.repair import repair_messages
from .sessions.store import KEEP
from .usage import Usage

if TYPE_CHECKING:
    from .loop import _Run
    from .result import RunResult
    from .sessions import Session
    from .sessions.store import Lease
    from .toolcalls import ToolCall

__all__ = ["Resume", "RunHooks"]

@dataclass(frozen=True, slots=True)
class Resume:
    """What `agent.resume(...)` got: the paused state (None: the session's) and decisions."""

    state: RunState | None
    decisions: Mapping[str, Any] = field(default_factory=dict)


def _refusal(message: str) -> str:
    return message if message.startswith(NOT_APPROVED) else f"{NOT_APPROVED}: {message}"


def close_paused(state: RunState, why: str) -> list[Message]:
    """The paused reply and one denial per call: a paused run that will never resume."""
    return [state.reply, *(
        ToolMessage(tool_call_id=tc.id, name=tc.name, is_error=True,
                    content=f"Error: not run: {NOT_APPROVED} ({why})")
        for tc in state.reply.tool_calls)]


class RunHooks:
    """Sessions and approvals for one run (a no-op for a plain run)."""

    def __init__(self, run: _Run, session: Session | None, resume: Resume | None) -> None:
        self.run = run
        self.session = session
        self.resume = resume
        self.lease: Lease | None = None
        self.committed = 0
        self.decisions: dict[str, Any] | None = None
        self.resumed_step = -1
        self.elapsed = 0.0
        self.t0 = time.monotonic()

    async def start(self, history: list[Message] | None) -> list[Message]:
        """The history the run starts from, repaired; restores a paused run's counters."""
        run, state = self.run, None
        try:
            if self.session is not None:
                if history:
                    raise UserError("pass either history= or session=, not both")
                history, state = await self._from_session()
            elif self.resume is not None:
                state = self.resume.state
                if state is None:
                    raise UserError("resume() needs the paused run's state, or session=")
                if state.session_id is not None:
                    raise UserError(f"this run was paused in session {state.session_id!r}; "
                                    "resume it with session=")
                decisions = resolve_decisions(state, self.resume.decisions)
                CONSUMED.take(state.state_id)
                self._restore(state, decisions)
                history = state.messages
        except AgentError as exc:
            raise run.fail(exc) from None
        return repair_messages(history or [])

    async def _from_session(self) -> tuple[list[Message], RunState | None]:
        assert self.session is not None
        self.lease = lease = await self.session.lease()
        self.run.ctx.exit_stack.push_async_callback(lease.release)
        history, stored = await lease.load()
        if self.resume is None:
            if stored is not None:  # a new prompt while a run waits: its calls are denied
                closing = close_paused(stored, "the conversation went on without a decision")
                await lease.append(closing, paused=None)
                history = history + closing
            return history, None
        given = self.resume.state
        if stored is None or (given is not None and given.state_id != stored.state_id):
            raise UserError(f"session {self.session.id!r} has no such paused run (was it "
                            "resumed already?)")
        decisions = resolve_decisions(stored, self.resume.decisions)  # before consuming it
        await lease.append([], paused=None)  # consumed: a second resume finds nothing
        self._restore(stored, decisions)
        return history, stored

    def _restore(self, state: RunState, decisions: dict[str, Any]) -> None:
        run = self.run
        run.step = state.step - 1  # the loop steps into the paused step again
        run.usage.add(state.usage)
        run.records.extend(state.tool_calls)
        run.total_calls = state.total_calls
        run.tool_retries.update(state.tool_retries)
        run.invalid_streak = state.invalid_streak
        run.ctx.run_id = state.run_id
        run.replay = ModelResponse(message=state.reply, usage=Usage())
        if run.deadline is not None:
            run.deadline -= state.elapsed
        self.elapsed = state.elapsed
        self.decisions = decisions
        self.resumed_step = state.step

    async def commit(self, since: int | None = None, *, upto: int | None = None,
                     paused: Any = KEEP) -> None:
        """Append the messages since the last commit (`since`: set that point first)."""
        if since is not None:
            self.committed = since
        if self.lease is None:
            return
        messages = self.run.messages
        end = len(messages) if upto is None else upto
        new = messages[self.committed:end]
        if new or paused is not KEEP:
            try:
                if paused is KEEP:
                    await self.lease.append(new)
                else:
                    await self.lease.append(new, paused=paused)
            except AgentError as exc:
                raise self.run.fail(exc) from exc
        self.committed = end

    async def gate(self, calls: list[ToolCall]) -> RunResult | None:
        """A paused result if a call needs approval; on the resumed step, apply the decisions."""
        run = self.run
        if self.decisions is not None and run.step == self.resumed_step:
            decisions, self.decisions = self.decisions, None
            for call in calls:
                decision = decisions.get(call.id)
                if isinstance(decision, Deny):
                    call.tool = None
                    call.output = f"Error: not run: {_refusal(decision.message)}"
                    call.is_error = True
            return None
        pending: list[PendingApproval] = []
        for call in calls:
            rule = getattr(call.tool, "needs_approval", False)
            if call.tool is None or call.unknown or rule is False:
                continue
            args = call.args or {}
            if await needs_approval(rule, replace(run.ctx, tool_call_id=call.id), args):
                pending.append(PendingApproval(id=call.id, name=call.name, arguments=args,
                                               arguments_hash=arguments_hash(call.name, args)))
        if not pending:
            return None
        reply = run.messages[-1]
        assert isinstance(reply, AssistantMessage)
        state = RunState(
            state_id=uuid.uuid4().hex, run_id=run.ctx.run_id, agent_name=run.agent.name,
            session_id=None if self.session is None else self.session.id,
            messages=[] if self.session else list(run.messages[:-1]), reply=reply,
            pending=pending, step=run.step, usage=run.usage.model_copy(),
            tool_calls=list(run.records), total_calls=run.total_calls,
            tool_retries=dict(run.tool_retries), invalid_streak=run.invalid_streak,
            elapsed=self.elapsed + time.monotonic() - self.t0)
        if self.lease is not None:  # everything before the reply, and the paused run
            await self.commit(upto=len(run.messages) - 1, paused=state)
        result = run.result(None)
        result.status = "paused"
        result.pending_approvals = pending
        result.state = state
        return result
