"""User simulators: an LLM playing the customer, or a scripted user.

The LLM user's system prompt is the global guideline file (the tools variant when the user
has tools, as in telecom) followed by ``<scenario>`` holding the task's user scenario; it sees
only the agent's visible text and the results of its own tool calls, and ends the chat with
``###STOP###``, ``###TRANSFER###`` or ``###OUT-OF-SCOPE###``. The prompt structure follows
tau2-bench (MIT, Sierra Research); the guideline texts are read from the tau2 data directory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from ..agent import Agent
from ..models.base import Model
from ..usage import Usage
from .orchestrator import ToolExecutor, TurnItem
from .participants import LoopParticipant
from .simulation import SimMessage, SimToolCall

__all__ = [
    "ScriptedUser",
    "UserToolCalls",
    "llm_user",
    "user_guidelines",
    "user_system_prompt",
]

USER_SYSTEM_PROMPT = "{guidelines}\n\n<scenario>\n{instructions}\n</scenario>"


def user_guidelines(data_dir: str | Path | None = None, with_tools: bool = False) -> str:
    """The global user-simulation guidelines from ``<data>/tau2/user_simulator/``."""
    from .data import read_text, resolve_data_dir

    name = "simulation_guidelines_tools.md" if with_tools else "simulation_guidelines.md"
    return read_text(resolve_data_dir(data_dir) / "tau2" / "user_simulator" / name)


def user_system_prompt(scenario: str, guidelines: str) -> str:
    """Guidelines, then the scenario (``str(task.user_scenario)``) in ``<scenario>`` tags."""
    guidelines = guidelines.replace("<PERSONA_GUIDELINES>", "")
    return USER_SYSTEM_PROMPT.format(guidelines=guidelines, instructions=scenario)


def llm_user(
    model: Model | str,
    scenario: str,
    *,
    tool_schemas: Sequence[dict[str, Any]] = (),
    data_dir: str | Path | None = None,
    guidelines: str | None = None,
    **settings: Any,
) -> LoopParticipant:
    """An LLM user simulator on the core loop (``settings``: Agent settings, e.g. temperature).

    ``tool_schemas``: the user's tools (telecom's phone); calls go to the user's toolkit.
    """
    if guidelines is None:
        guidelines = user_guidelines(data_dir, with_tools=bool(tool_schemas))
    agent: Agent[Any] = Agent(model=model, instructions=user_system_prompt(scenario, guidelines),
                              name="user", **settings)
    return LoopParticipant(agent, "user", tool_schemas)


class UserToolCalls:
    """A scripted user turn that calls tools (``calls``: (name, arguments) pairs)."""

    def __init__(self, *calls: tuple[str, dict[str, Any]]) -> None:
        if not calls:
            raise ValueError("UserToolCalls needs at least one call")
        self.calls = list(calls)


class ScriptedUser:
    """A user that says (or calls) what it is told, in order, whatever the agent says.

    ``script`` items: a string (a message to the agent; the turn ends there) or
    :class:`UserToolCalls` (tool calls whose results come back before the next item).
    Running past the script raises ``RuntimeError``. ``received`` keeps what the agent said.
    """

    def __init__(self, script: Sequence[str | UserToolCalls]) -> None:
        self.script = list(script)
        self.position = 0
        self.usage = Usage()
        self.received: list[str | None] = []
        self._ids = 0

    def start(self, history: Sequence[SimMessage]) -> None:
        return None

    def _next(self) -> str | UserToolCalls:
        if self.position >= len(self.script):
            raise RuntimeError(f"ScriptedUser ran out of script after {self.position} items")
        item = self.script[self.position]
        self.position += 1
        return item

    async def turn(self, incoming: str | None, tools: ToolExecutor) -> AsyncIterator[TurnItem]:
        self.received.append(incoming)
        while True:
            item = self._next()
            if isinstance(item, str):
                yield SimMessage(role="user", content=item)
                return
            calls = []
            for name, arguments in item.calls:
                self._ids += 1
                calls.append(SimToolCall(id=f"user_call_{self._ids}", name=name,
                                         arguments=dict(arguments), requestor="user"))
            yield SimMessage(role="user", tool_calls=calls)
            for call in calls:
                yield await tools(call)
