"""The seam between agentkit and OpenTelemetry; it imports no opentelemetry.

The loop holds one `RunObserver` per run and tells it about the run, each model request and
each tool call. The base class does nothing: that is what a run gets while instrumentation is
off (or the agent says `instrument=False`), so an uninstrumented run costs what it did before.
`agentkit.telemetry.instrument()` installs the real observer (`agentkit.telemetry.otel`).

Other parts of agentkit (the sandbox, MCP calls, approvals) and user tools report through the
module functions `span`, `annotate` and `add_event`, which act on the current span (inside a
tool: its `execute_tool` span) and do nothing while instrumentation is off. Code in the loop
itself (an approval decision, say) records on the run span through the run's observer:
``run.obs.event("agentkit.approval", {"gen_ai.tool.call.id": ..., "agentkit.approval.decision":
"denied"})`` (the run span is never current inside the loop, so `add_event` would miss it).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..models.base import ModelRequest, ModelStreamEvent
    from ..result import RunResult

__all__ = [
    "AttributeValue",
    "RunObserver",
    "SpanLike",
    "add_event",
    "annotate",
    "capture_content",
    "clip",
    "observe",
    "span",
]

AttributeValue = (str | bool | int | float | Sequence[str] | Sequence[int] | Sequence[float]
                  | Sequence[bool])


class SpanLike(Protocol):
    """What `span()` yields: an OpenTelemetry span, or a stand-in that ignores everything."""

    def set_attribute(self, key: str, value: AttributeValue) -> Any: ...

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> Any: ...

    def add_event(self, name: str, attributes: Mapping[str, AttributeValue] | None = None,
                  ) -> Any: ...

    def is_recording(self) -> bool: ...


class RunObserver:
    """What the loop reports about one run. This base ignores it all (instrumentation off).

    Call order: `run_start`; per model request attempt `chat` (it wraps the model's
    stream); per executed call `tool_start` ... `tool_end` (in the task running the tool, so
    the tool's span is current while the tool runs); `event` for things beside the calls
    (invalid calls, nudges, approvals); `run_result` when a result is built; `run_error`
    when the run raises (also when its consumer stops early); `run_end` last, always.
    """

    __slots__ = ()

    def run_start(self) -> None:
        """The run begins (its messages are in place)."""

    def chat(self, stream: AsyncGenerator[ModelStreamEvent, None], request: ModelRequest,
             attempt: int) -> AsyncGenerator[ModelStreamEvent, None]:
        """The model's stream for one request attempt (`attempt` 0 is the first try)."""
        return stream

    def tool_start(self, call: Any) -> Any:
        """A tool call starts; returns a handle for `tool_end`."""
        return None

    def tool_end(self, handle: Any, call: Any) -> None:
        """The call has ended: its `output`, `is_error`, `exc`, `error_type` are final."""

    def event(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> None:
        """Something that happened in the run outside a call (recorded on the run span)."""

    def run_result(self, result: RunResult) -> None:
        """The run produced its result."""

    def run_error(self, exc: BaseException) -> None:
        """The run is ending with `exc` (an error, a cancellation, or an early stop)."""

    def run_end(self) -> None:
        """The run is over (called exactly once, after everything else)."""


NOOP = RunObserver()

_active: Any = None  # the installed `otel.Instrumentation`, or None


def observe(agent: Any, run: Any) -> RunObserver:
    """The observer for a new run of `agent` (the no-op one unless instrumented)."""
    inst = _active
    if inst is None or not getattr(agent, "instrument", True):
        return NOOP
    return inst.observer(run)


class _NullSpan:
    __slots__ = ()

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        pass

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        pass

    def add_event(self, name: str, attributes: Mapping[str, AttributeValue] | None = None,
                  ) -> None:
        pass

    def is_recording(self) -> bool:
        return False


_NULL_SPAN = _NullSpan()


@contextmanager
def _null_span() -> Iterator[SpanLike]:
    yield _NULL_SPAN


def span(name: str, attributes: Mapping[str, AttributeValue] | None = None,
         ) -> AbstractContextManager[SpanLike]:
    """A child span of the current one, current inside the `with` block.

    An exception leaving the block is recorded on it (type, message, traceback) and sets
    its error status; a cancellation ends it with `error.type="cancelled"`. A stand-in
    that ignores everything while instrumentation is off. For features that run inside a
    tool call (sandbox executions, MCP requests) or around runs (tau2 simulations)::

        with telemetry.span("mcp.call search", {"agentkit.mcp.server": name}) as sp:
            reply = await session.call_tool(...)
            sp.set_attribute("agentkit.mcp.is_error", reply.isError)
    """
    inst = _active
    if inst is None:
        return _null_span()
    return inst.span(name, attributes)


def annotate(attributes: Mapping[str, AttributeValue]) -> None:
    """Set attributes on the current span (inside a tool: its `execute_tool` span)."""
    inst = _active
    if inst is not None:
        inst.current_span().set_attributes(attributes)


def add_event(name: str, attributes: Mapping[str, AttributeValue] | None = None) -> None:
    """Add an event to the current span (inside a tool: its `execute_tool` span), e.g. an
    approval decision: ``add_event("agentkit.approval", {"agentkit.approval.decision":
    "approved"})``."""
    inst = _active
    if inst is not None:
        inst.current_span().add_event(name, attributes)


def capture_content() -> bool:
    """Whether message content may be recorded (`instrument(capture_content=True)`)."""
    inst = _active
    return bool(inst is not None and inst.capture_content)


def clip(text: str) -> str:
    """`text` cut to the configured content limit, with a note of what was cut."""
    inst = _active
    limit = inst.content_limit if inst is not None else 4096
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"
