"""The mode bookkeeping of a run: ask the policy each step, note what went wrong, record modes.

`ModeSteps` is mixed into the loop's run state (`agentkit.loop._Run`); the policies
themselves are in `agentkit.modes`.
"""

from __future__ import annotations

import inspect
import logging
from typing import TYPE_CHECKING, Any

import orjson

from .errors import AgentError, UserError
from .events import StepFinished
from .modes import Problem, StepInfo, StepMode, StepRecord
from .output import FINAL_TOOL_NAME

if TYPE_CHECKING:
    from .context import RunContext
    from .messages import AssistantMessage
    from .models.base import Model, ModelResponse
    from .modes import ModePolicy
    from .toolcalls import ToolCall
    from .usage import Usage

__all__ = ["ModeSteps"]

log = logging.getLogger("agentkit.loop")
_IGNORED_SWITCH: set[str] = set()  # models already reported for ignoring "thinking off"


class ModeSteps:
    """Per-step mode choice and records, over the run's state declared here."""

    policy: ModePolicy | None
    history: list[StepRecord]
    mode: StepMode | None
    problems: set[Problem]
    last_calls: set[bytes]
    thinking: bool | None
    model: Model
    usage: Usage
    ctx: RunContext[Any]
    step: int

    def fail(self, exc: AgentError) -> AgentError:
        raise NotImplementedError

    async def choose_mode(self) -> StepMode | None:
        """Close the last step's record and ask the mode policy for this step's mode."""
        if self.step > 1:
            self.history.append(StepRecord(self.step - 1, self.mode, frozenset(self.problems)))
        self.problems = set()
        if self.policy is None:
            return None
        try:
            mode = self.policy(StepInfo(self.step, tuple(self.history), self.usage, self.ctx))
            if inspect.isawaitable(mode):
                mode = await mode
        except Exception as exc:
            raise self.fail(UserError(f"the mode policy failed: {exc}")) from exc
        if not isinstance(mode, StepMode):
            raise self.fail(UserError(f"the mode policy returned {mode!r}, not a StepMode"))
        return mode


    def note_problems(self, message: AssistantMessage, calls: list[ToolCall]) -> None:
        """What went wrong in this step's calls (for the mode policy)."""
        keys: set[bytes] = set()
        for c in calls:
            if c.error is not None or c.unknown:
                self.problems.add("bad_output" if c.name == FINAL_TOOL_NAME else "invalid_call")
            elif c.is_error and c.tool is not None:
                self.problems.add("tool_error")
            if c.args is not None:
                args = orjson.dumps(c.args, option=orjson.OPT_SORT_KEYS)
                keys.add(c.name.encode() + b"\0" + args)
        if message.broken_tool_calls:
            self.problems.add("invalid_call")
        if keys & self.last_calls:
            self.problems.add("repeated_call")
        self.last_calls = keys

    def record_mode(self, message: AssistantMessage, response: ModelResponse) -> StepFinished:
        """Record the step's mode on its message and usage; the `step_finished` event."""
        mode = self.mode
        thinking = self.thinking if mode is None else mode.thinking
        label = None if thinking is None else ("thinking" if thinking else "instruct")
        ignored = thinking is False and (
            bool(message.reasoning.strip()) or response.usage.reasoning_tokens > 0)
        if ignored:
            name = (mode.model if mode is not None else None) or self.model.name
            if name not in _IGNORED_SWITCH:
                _IGNORED_SWITCH.add(name)
                log.warning("the server of %r ignored 'thinking off': reasoning still arrived "
                            "(recorded as thinking_ignored)", name)
        if label is not None:
            message.mode = label
            self.usage.add_mode(label, response.usage, thinking_ignored=ignored)
        return StepFinished(usage=response.usage, finish_reason=message.finish_reason,
                            step=self.step, mode=label,
                            model=mode.model if mode is not None else None,
                            thinking_ignored=ignored)

