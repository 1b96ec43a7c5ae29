"""`Agent`: an immutable definition of a model, instructions, tools and limits."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from .context import RunContext
from .errors import UserError
from .events import AgentEvent, RunFinished
from .messages import Message
from .models.base import Model, ModelSettings
from .output import OutputSpec
from .result import RunResult
from .retry import RetryPolicy
from .tooldef import Tool

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

    from .approval import Approve, Deny, RunState
    from .sessions import Session

__all__ = ["Agent", "AgentStream", "Limits"]

OutputT = TypeVar("OutputT")
# (ctx, name, arguments) -> the text the model gets back (marked as an error) for a call to
# a tool the agent does not have; default: the loop explains and lists the tools.
UnknownToolHandler = Callable[[RunContext[Any], str, dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Limits:
    """What bounds a run. Exceeding one raises `LimitExceeded` (transcript attached).

    | knob | bounds | on expiry |
    |---|---|---|
    | max_steps | model requests per run (retries excluded) | LimitExceeded("max_steps") |
    | max_tool_calls | tool executions per run | LimitExceeded("max_tool_calls") |
    | token_budget | input + output tokens per run | LimitExceeded("token_budget") |
    | timeout | wall-clock seconds per run | LimitExceeded("timeout") |
    | tool_timeout | seconds per tool call (a tool's `timeout` wins) | error result to the model |
    | tool_concurrency | tool calls run at once (1: in call order) | calls wait their turn |
    | max_invalid_calls | invalid calls/replies in a row | InvalidToolCallsExceeded |
    | reasoning_only_nudges | replies with reasoning only, each nudged | ModelBehaviorError |
    | retry | retries of failed model requests | the ModelAPIError is raised |
    """

    max_steps: int = 50
    max_tool_calls: int | None = None
    token_budget: int | None = None
    timeout: float | None = None
    tool_timeout: float | None = 120.0
    tool_concurrency: int = 8
    max_invalid_calls: int = 3
    reasoning_only_nudges: int = 1
    retry: RetryPolicy = field(default_factory=RetryPolicy)


_LIMIT_NAMES = {f.name for f in fields(Limits)}
_SETTING_NAMES = {f.name for f in fields(ModelSettings)}


class Agent(Generic[OutputT]):
    """A model, instructions and tools. Immutable, so one agent serves concurrent runs.

    Keyword settings: any `Limits` field (`max_steps`, `timeout`, ...), any `ModelSettings`
    field (`temperature`, `max_tokens`, `thinking_budget`, ...), `thinking`, `output_type`,
    `name`, `unknown_tool_handler` (answers calls to tools the agent does not have, as a
    simulated environment would).
    """

    __slots__ = ("_model", "_model_spec", "_output_spec", "instructions", "limits", "name",
                 "output_type", "settings", "thinking", "tools", "unknown_tool_handler")

    _model: Model | None
    _model_spec: Model | str | None
    _output_spec: OutputSpec | None
    instructions: str | None
    tools: tuple[Tool, ...]
    output_type: Any
    thinking: bool | None
    name: str
    limits: Limits
    settings: ModelSettings
    unknown_tool_handler: UnknownToolHandler | None

    def __init__(
        self,
        model: Model | str | None = None,
        instructions: str | None = None,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        *,
        output_type: type[OutputT] | Any = None,
        thinking: bool | None = None,
        name: str = "agent",
        limits: Limits | None = None,
        settings: ModelSettings | None = None,
        unknown_tool_handler: UnknownToolHandler | None = None,
        **kwargs: Any,
    ) -> None:
        limit_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in _LIMIT_NAMES}
        setting_kw = {k: kwargs.pop(k) for k in list(kwargs) if k in _SETTING_NAMES}
        if kwargs:
            raise TypeError(f"Agent() got unknown settings: {', '.join(sorted(kwargs))}")
        set_ = object.__setattr__
        set_(self, "_model_spec", model)
        set_(self, "_model", model if not isinstance(model, (str, type(None))) else None)
        set_(self, "instructions", instructions)
        built = tuple(t if isinstance(t, Tool) else Tool.from_function(t) for t in tools)
        names = [t.name for t in built]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise UserError(f"two tools share a name: {', '.join(dupes)}")
        set_(self, "tools", built)
        set_(self, "output_type", output_type)
        set_(self, "_output_spec", OutputSpec.for_type(output_type))  # built once, shared
        set_(self, "thinking", thinking)
        set_(self, "name", name)
        set_(self, "limits", replace(limits or Limits(), **limit_kw))
        set_(self, "settings", replace(settings or ModelSettings(), **setting_kw))
        set_(self, "unknown_tool_handler", unknown_tool_handler)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("Agent is immutable; use agent.replace(...) for a changed copy")

    def __repr__(self) -> str:
        return f"Agent(name={self.name!r}, tools={[t.name for t in self.tools]})"

    def replace(self, **changes: Any) -> Agent[Any]:
        """A copy with some arguments changed."""
        base: dict[str, Any] = {
            "model": self._model_spec, "instructions": self.instructions, "tools": self.tools,
            "output_type": self.output_type, "thinking": self.thinking, "name": self.name,
            "limits": self.limits, "settings": self.settings,
            "unknown_tool_handler": self.unknown_tool_handler,
        }
        base.update(changes)
        return Agent(**base)

    @property
    def output_spec(self) -> OutputSpec | None:
        """How the structured output is asked for and validated (None: plain text)."""
        return self._output_spec

    def resolved_model(self) -> Model:
        """The model object; a name or None becomes an `OpenAICompatModel` on first use."""
        if self._model is None:
            from .models.openai_compat import OpenAICompatModel

            spec = self._model_spec
            model = OpenAICompatModel(spec) if isinstance(spec, str) else OpenAICompatModel()
            object.__setattr__(self, "_model", model)
        return cast(Model, self._model)

    async def aclose(self) -> None:
        """Release the model's HTTP connections, if a model was created (a later run reopens)."""
        close = getattr(self._model, "aclose", None)
        if close is not None:
            await close()

    def stream(
        self, prompt: str | None, *, history: Sequence[Message] | None = None, deps: Any = None,
        session: Session | None = None,
    ) -> AgentStream:
        """The run's events as an async iterator; the last event is `RunFinished`.

        Leaving the `async for` early, or cancelling the task, stops the model request and
        the running tools; `stream.messages` holds the transcript as it stands. `session`
        (`agentkit.sessions`) loads the history and stores each completed exchange.
        """
        if session is not None and history:
            raise UserError("pass either history= or session=, not both")
        return AgentStream(self, prompt, list(history or []), deps, session=session)

    async def run(
        self, prompt: str | None, *, history: Sequence[Message] | None = None, deps: Any = None,
        session: Session | None = None,
    ) -> RunResult:
        """Run to the end and return the result (the stream, drained)."""
        return await _drain(self.stream(prompt, history=history, deps=deps, session=session))

    def run_sync(
        self, prompt: str | None, *, history: Sequence[Message] | None = None, deps: Any = None,
        session: Session | None = None,
    ) -> RunResult:
        """`run` for scripts: starts an event loop. Not for use inside one."""
        return self._sync(lambda: self.run(prompt, history=history, deps=deps, session=session))

    def resume_stream(
        self, state: RunState | None = None, *,
        decisions: Mapping[str, Approve | Deny] | None = None,
        session: Session | None = None, deps: Any = None,
    ) -> AgentStream:
        """Continue a paused run (`result.state`, or the one stored in `session`).

        Approved calls run, denied ones (and calls without a decision) get an error result
        the model sees; then the loop goes on. The model is not asked again for the paused
        step, and a state resumes once (with a session, across processes).
        """
        from .hooks import Resume

        if state is None and session is None:
            raise UserError("resume() needs the paused run's state, or session=")
        return AgentStream(self, None, [], deps, session=session,
                           resume=Resume(state, dict(decisions or {})))

    async def resume(
        self, state: RunState | None = None, *,
        decisions: Mapping[str, Approve | Deny] | None = None,
        session: Session | None = None, deps: Any = None,
    ) -> RunResult:
        """`resume_stream`, drained: the result of the continued run."""
        return await _drain(self.resume_stream(state, decisions=decisions, session=session,
                                               deps=deps))

    def resume_sync(
        self, state: RunState | None = None, *,
        decisions: Mapping[str, Approve | Deny] | None = None,
        session: Session | None = None, deps: Any = None,
    ) -> RunResult:
        """`resume` for scripts: starts an event loop. Not for use inside one."""
        return self._sync(lambda: self.resume(state, decisions=decisions, session=session,
                                              deps=deps))

    def _sync(self, run: Callable[[], Any]) -> RunResult:
        import anyio

        async def main() -> RunResult:
            try:
                return cast(RunResult, await run())
            finally:
                await self.aclose()  # the event loop ends with this call: release the pool

        try:
            import asyncio

            asyncio.get_running_loop()
        except RuntimeError:
            return anyio.run(main)
        raise UserError("run_sync() was called inside an event loop; use `await agent.run()`")


async def _drain(stream: AgentStream) -> RunResult:
    async with stream as events:
        async for event in events:
            if isinstance(event, RunFinished):
                return event.result
    raise RuntimeError("the run ended without a result")  # pragma: no cover


class AgentStream:
    """Async iterator over a run's events; also an async context manager that closes it."""

    def __init__(self, agent: Agent[Any], prompt: str | None, history: list[Message],
                 deps: Any, **loop_options: Any) -> None:
        from .loop import agent_loop

        self.messages: list[Message] = []
        self.result: RunResult | None = None
        self._gen: AsyncGenerator[AgentEvent, None] = agent_loop(
            agent, prompt, history=history, deps=deps, transcript=self.messages, **loop_options)

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        return self

    async def __anext__(self) -> AgentEvent:
        event = await self._gen.__anext__()
        if isinstance(event, RunFinished):
            self.result = event.result
        return event

    async def aclose(self) -> None:
        await self._gen.aclose()

    async def __aenter__(self) -> AgentStream:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()
