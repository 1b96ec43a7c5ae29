"""Thinking or Instruct, step by step: mode policies.

Each step, before the model request, the agent's policy looks at a `StepInfo` (the step
number, what went wrong in the steps so far, the usage, the run context) and returns a
`StepMode`: thinking on or off, optionally another model name and a thinking budget.

- `Always(thinking=True)`: one mode for every step (the default is the model's own).
- `PlanThenAct(plan_steps=1)`: Thinking to plan (the first steps) and to re-plan after a
  step went wrong; Instruct for the routine steps in between.
- `Escalate()`: Instruct until a step goes wrong, then Thinking until `cooldown` clean
  steps have passed.

A custom policy is any callable `(StepInfo) -> StepMode` (or an awaitable of one).
Policies are pure functions of the `StepInfo`, so one agent serves concurrent runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Union

if TYPE_CHECKING:
    from .context import RunContext
    from .usage import Usage

__all__ = [
    "DEFAULT_TRIGGERS",
    "NUDGE_EMPTY",
    "Always",
    "Escalate",
    "ModePolicy",
    "PlanThenAct",
    "Problem",
    "StepInfo",
    "StepMode",
    "StepRecord",
    "policy_named",
]

#: What can go wrong in a step (the triggers a policy reacts to).
Problem = Literal[
    "invalid_call",    # a call with unparseable or schema-invalid arguments, or an unknown tool
    "tool_error",      # a tool raised or timed out
    "reasoning_only",  # reasoning but neither an answer nor a call
    "empty_reply",     # nothing at all
    "bad_output",      # a final output that failed validation
    "repeated_call",   # the same call (name and arguments) as in the step before
]

DEFAULT_TRIGGERS: frozenset[Problem] = frozenset(
    ("invalid_call", "tool_error", "reasoning_only", "empty_reply", "bad_output",
     "repeated_call"))


@dataclass(frozen=True, slots=True)
class StepMode:
    """How one step is requested.

    `thinking`: on or off (off: Instruct mode). `model`: another model name for this step
    (None: the model's own, or its `instruct_model` when thinking is off). `thinking_budget`:
    a budget for this step (None: the agent's setting).
    """

    thinking: bool
    model: str | None = None
    thinking_budget: int | None = None

    @property
    def label(self) -> str:
        """"thinking" or "instruct" (how the mode is recorded)."""
        return "thinking" if self.thinking else "instruct"


@dataclass(frozen=True, slots=True)
class StepRecord:
    """What one finished step did: its mode and what went wrong in it."""

    step: int
    mode: StepMode | None
    problems: frozenset[Problem]


@dataclass(frozen=True, slots=True)
class StepInfo:
    """What a policy sees before step `step` (1-based)."""

    step: int
    history: tuple[StepRecord, ...]
    usage: Usage
    ctx: RunContext[Any]

    @property
    def last(self) -> StepRecord | None:
        """The step before this one (None on the first step)."""
        return self.history[-1] if self.history else None

    @property
    def last_problems(self) -> frozenset[Problem]:
        return self.history[-1].problems if self.history else frozenset()

    def steps_since_problem(self, triggers: frozenset[Problem] = DEFAULT_TRIGGERS) -> int | None:
        """Steps since the last one with a trigger problem (1: the last step); None: never."""
        for back, rec in enumerate(reversed(self.history), start=1):
            if rec.problems & triggers:
                return back
        return None

    @property
    def recent_problems(self) -> tuple[Problem, ...]:
        """Problems of the last three steps, oldest first."""
        return tuple(p for rec in self.history[-3:] for p in sorted(rec.problems))


ModePolicy = Callable[[StepInfo], Union[StepMode, Awaitable[StepMode]]]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Always:
    """The same mode for every step."""

    thinking: bool = True
    thinking_budget: int | None = None
    model: str | None = None

    def __call__(self, info: StepInfo) -> StepMode:
        return StepMode(self.thinking, self.model, self.thinking_budget)


@dataclass(frozen=True, slots=True)
class PlanThenAct:
    """Thinking for the first `plan_steps` steps and for `replan_steps` steps after a step
    with a trigger problem (the plan must change); Instruct for the steps in between."""

    plan_steps: int = 1
    replan_steps: int = 1
    triggers: frozenset[Problem] = DEFAULT_TRIGGERS
    thinking_budget: int | None = None

    def __post_init__(self) -> None:
        if self.plan_steps < 0 or self.replan_steps < 0:
            raise ValueError("plan_steps and replan_steps must be >= 0")
        _check_triggers(self.triggers)

    def __call__(self, info: StepInfo) -> StepMode:
        since = info.steps_since_problem(self.triggers)
        think = info.step <= self.plan_steps or (since is not None and since <= self.replan_steps)
        return StepMode(think, None, self.thinking_budget if think else None)


@dataclass(frozen=True, slots=True)
class Escalate:
    """Instruct until a step goes wrong, then Thinking until `cooldown` steps in a row went
    right; `start_thinking=True` plans the first step with Thinking too."""

    triggers: frozenset[Problem] = DEFAULT_TRIGGERS
    cooldown: int = 2
    start_thinking: bool = False
    thinking_budget: int | None = None

    def __post_init__(self) -> None:
        if self.cooldown < 1:
            raise ValueError("cooldown must be >= 1")
        _check_triggers(self.triggers)

    def __call__(self, info: StepInfo) -> StepMode:
        since = info.steps_since_problem(self.triggers)
        think = (since is not None and since <= self.cooldown) or (
            self.start_thinking and info.step == 1)
        return StepMode(think, None, self.thinking_budget if think else None)


def _check_triggers(triggers: frozenset[Problem]) -> None:
    unknown = set(triggers) - DEFAULT_TRIGGERS
    if unknown:
        raise ValueError(f"unknown triggers: {', '.join(sorted(unknown))}; known: "
                         f"{', '.join(sorted(DEFAULT_TRIGGERS))}")


#: Sent when, under a mode policy, a reply was empty (no answer, no call, no reasoning).
NUDGE_EMPTY = (
    "Your last reply was empty: no answer and no tool call reached me. "
    "Make the tool call you need now, or write your answer."
)


POLICY_NAMES = ("always", "always-instruct", "plan-then-act", "escalate")


def policy_named(name: str) -> ModePolicy:
    """A shipped policy by its command-line name (`agentkit tau2 run --agent-mode`)."""
    policies: dict[str, ModePolicy] = {
        "always": Always(thinking=True), "always-instruct": Always(thinking=False),
        "plan-then-act": PlanThenAct(), "escalate": Escalate()}
    try:
        return policies[name]
    except KeyError:
        raise ValueError(f"unknown mode policy {name!r}; known: {', '.join(POLICY_NAMES)}") \
            from None

