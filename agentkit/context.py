"""What a tool can see of the run that called it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .usage import Usage

if TYPE_CHECKING:
    from .events import AgentEvent
    from .messages import Message

__all__ = ["RunContext"]

DepsT = TypeVar("DepsT")


@dataclass
class RunContext(Generic[DepsT]):
    """Per-run state handed to tools whose first parameter is typed `RunContext`.

    Each tool call gets a shallow copy with `tool_call_id` set. `state` is scratch
    space shared by the run's tools (for example a lazily created
    sandbox); `exit_stack` is closed when the run ends, however it ends, so a tool can
    register cleanup there.
    """

    deps: DepsT
    run_id: str
    messages: list[Message]
    usage: Usage
    step: int = 0
    tool_call_id: str | None = None  # set in the copy a tool receives: the call being run
    state: dict[str, Any] = field(default_factory=dict)
    exit_stack: AsyncExitStack = field(default_factory=AsyncExitStack)
    # where `emit` sends events while tools run (set by the loop; shared by the copies)
    event_sink: Callable[[Any], None] | None = field(default=None, repr=False, compare=False)

    def emit(self, event: AgentEvent) -> None:
        """Put an event (e.g. `ToolProgress`) on the run's stream from inside a running tool."""
        if self.event_sink is not None:
            self.event_sink(event)
