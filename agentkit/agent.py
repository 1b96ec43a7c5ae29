"""`Agent`: an immutable definition of a model, instructions, tools and limits."""

from __future__ import annotations

import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Generic, Union, cast

from typing_extensions import TypeVar, Unpack

from .context import RunContext
from .errors import UserError
from .events import AgentEvent, RunFinished
from .messages import Message, SystemMessage
from .models.base import Model, ModelSettings
from .output import FINAL_TOOL_NAME, OutputSpec
from .result import RunResult
from .retry import RetryPolicy
from .settings import (
    RunSettings,
    check_limits,
    check_model_settings,
    check_thinking,
    split_settings,
)
from .tooldef import Tool
from .toolsets import Toolset, is_toolset

if TYPE_CHECKING:
    from types import TracebackType

    from .approval import Approve, Deny, RunState
    from .compaction import ContextPolicy
    from .modes import ModePolicy
    from .sessions import Session

__all__ = ["Agent", "AgentStream", "Instructions", "Limits"]

OutputT = TypeVar("OutputT", default=str)
DepsT = TypeVar("DepsT", default=Any)
# (ctx, name, arguments) -> the text the model gets back (marked as an error) for a call to
# a tool the agent does not have; default: the loop explains and lists the tools.
UnknownToolHandler = Callable[[RunContext[Any], str, dict[str, Any]], Any]
# The system prompt, or a function of the run context (sync or async) computing it per run.
Instructions = Union[  # noqa: UP007 - a runtime alias on Python 3.10
    str, Callable[[RunContext[DepsT]], str], Callable[[RunContext[DepsT]], Awaitable[str]], None]
_closing: set[Any] = set()  # close tasks of dropped streams, kept alive until done


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

    def __post_init__(self) -> None:
        check_limits(self)



_LIMIT_NAMES = {f.name for f in fields(Limits)}


class AgentChanges(RunSettings, total=False):
    """What `agent.replace(...)` may change: the constructor's arguments and any setting."""

    model: Model | str | None
    instructions: Instructions[Any]
    tools: Sequence[Tool | Toolset | Callable[..., Any]]
    output_type: Any
    name: str
    limits: Limits
    settings: ModelSettings
    unknown_tool_handler: UnknownToolHandler | None
    mode: ModePolicy | None
    context: ContextPolicy | None
    instrument: bool


class Agent(Generic[OutputT, DepsT]):
    """A model, instructions and tools. Immutable, so one agent serves concurrent runs.

    Keyword settings (`RunSettings`): any `Limits` field (`max_steps`, `timeout`, ...), any
    `ModelSettings` field (`temperature`, `max_tokens`, `thinking_budget`, ...) and
    `thinking`; each is checked here. `output_type` asks for a validated result of that type;
    `instructions` may be a function of the run context (sync or async), called at the start
    of each run; `deps_type` names the type of `deps=` when no instructions function does;
    `unknown_tool_handler` answers calls to tools the agent does not have, as a simulated
    environment would. `mode` is a policy choosing Thinking or Instruct per step
    (`agentkit.modes`); `context` an `agentkit.ContextPolicy` keeping long runs inside the
    context window; `instrument=False` turns telemetry off for this agent's runs even when
    `agentkit.telemetry.instrument()` is on. `Agent[OutputT, DepsT]` is inferred from these
    arguments.
    """

    __slots__ = ("_model", "_model_spec", "_output_spec", "context", "instructions",
                 "instrument", "limits", "mode", "name", "output_type", "settings", "thinking",
                 "tools", "toolsets", "unknown_tool_handler")

    _model: Model | None
    _model_spec: Model | str | None
    _output_spec: OutputSpec | None
    instructions: Instructions[DepsT]
    tools: tuple[Tool, ...]
    toolsets: tuple[Toolset, ...]  # e.g. MCP servers: their tools are listed at each run's start
    output_type: Any
    thinking: bool | None
    name: str
    limits: Limits
    settings: ModelSettings
    unknown_tool_handler: UnknownToolHandler | None
    mode: ModePolicy | None
    context: ContextPolicy | None
    instrument: bool

    def __init__(
        self,
        model: Model | str | None = None,
        instructions: Instructions[DepsT] = None,
        tools: Sequence[Tool | Toolset | Callable[..., Any]] = (),
        *,
        output_type: type[OutputT] | None = None,
        deps_type: type[DepsT] | None = None,
        name: str = "agent",
        limits: Limits | None = None,
        settings: ModelSettings | None = None,
        unknown_tool_handler: UnknownToolHandler | None = None,
        mode: ModePolicy | None = None,
        context: ContextPolicy | None = None,
        instrument: bool = True,
        **kwargs: Unpack[RunSettings],
    ) -> None:
        limit_kw, setting_kw, other = split_settings(kwargs, _LIMIT_NAMES, "Agent()")
        if instructions is not None and not isinstance(instructions, str) \
                and not callable(instructions):
            raise UserError("instructions must be a string or a function of the run context, "
                            f"got {type(instructions).__name__}")
        set_ = object.__setattr__
        set_(self, "_model_spec", model)
        set_(self, "_model", model if not isinstance(model, (str, type(None))) else None)
        set_(self, "instructions", instructions)
        toolsets = tuple(t for t in tools if is_toolset(t))
        built = tuple(t if isinstance(t, Tool) else Tool.from_function(cast(Callable[..., Any], t))
                      for t in tools if not is_toolset(t))
        names = [t.name for t in built]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise UserError(f"two tools share a name: {', '.join(dupes)}")
        if output_type is not None and output_type is not str and FINAL_TOOL_NAME in names:
            raise UserError(f"a tool is named {FINAL_TOOL_NAME!r}, the name the structured "
                            "output uses with output_type set: rename the tool")
        set_(self, "tools", built)
        set_(self, "toolsets", toolsets)
        set_(self, "output_type", output_type)
        set_(self, "_output_spec", OutputSpec.for_type(output_type))  # built once, shared
        set_(self, "thinking", check_thinking(other.get("thinking")))
        set_(self, "name", name)
        set_(self, "limits", replace(limits or Limits(), **limit_kw))
        set_(self, "settings", check_model_settings(
            replace(settings or ModelSettings(), **setting_kw)))
        set_(self, "unknown_tool_handler", unknown_tool_handler)
        if mode is not None and not callable(mode):
            raise UserError(f"mode must be a mode policy (a callable), got {mode!r}")
        set_(self, "mode", mode)
        if context is not None:
            from .compaction import ContextPolicy

            if not isinstance(context, ContextPolicy):
                raise UserError(f"context must be an agentkit.ContextPolicy, got {context!r}")
        set_(self, "context", context)
        set_(self, "instrument", instrument)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("Agent is immutable; use agent.replace(...) for a changed copy")

    def __repr__(self) -> str:
        return f"Agent(name={self.name!r}, tools={[t.name for t in self.tools]})"

    def replace(self, **changes: Unpack[AgentChanges]) -> Agent[Any, Any]:
        """A copy with some constructor arguments or settings changed (checked again)."""
        base: dict[str, Any] = {
            "model": self._model_spec, "instructions": self.instructions,
            "tools": (*self.tools, *self.toolsets),
            "output_type": self.output_type, "thinking": self.thinking, "name": self.name,
            "limits": self.limits, "settings": self.settings,
            "unknown_tool_handler": self.unknown_tool_handler,
            "mode": self.mode, "context": self.context, "instrument": self.instrument,
        }
        base.update(changes)
        return Agent(**base)  # checked again, as a new agent

    def _for_run(self, settings: Mapping[str, Any] | None,
                 overrides: Mapping[str, Any]) -> Agent[OutputT, DepsT]:
        """This agent, or a copy sharing its model with one run's settings changed."""
        if not settings and not overrides:
            return self
        limit_kw, setting_kw, other = split_settings(
            {**(settings or {}), **overrides}, _LIMIT_NAMES, "the run")
        self.resolved_model()  # resolve once, so the copy shares the model and its pool
        clone = object.__new__(type(self))
        for cls in type(self).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if hasattr(self, slot):
                    object.__setattr__(clone, slot, getattr(self, slot))
        set_ = object.__setattr__
        set_(clone, "limits", replace(self.limits, **limit_kw))
        set_(clone, "settings", check_model_settings(replace(self.settings, **setting_kw)))
        if "thinking" in other:
            set_(clone, "thinking", check_thinking(other["thinking"]))
        return clone

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
        """Release the model's HTTP connections and close the toolsets (a later run reopens)."""
        try:
            close = getattr(self._model, "aclose", None)
            if close is not None:
                await close()
        finally:
            for toolset in self.toolsets:
                await toolset.aclose()

    async def __aenter__(self) -> Agent[OutputT, DepsT]:
        """Open every toolset (connect the MCP servers); leaving closes them."""
        from contextlib import AsyncExitStack

        async with AsyncExitStack() as stack:
            for toolset in self.toolsets:
                await stack.enter_async_context(toolset)
            stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def stream(
        self,
        prompt: str | None = None,
        *,
        history: Sequence[Message] | None = None,
        deps: DepsT | None = None,
        transcript: list[Message] | None = None,
        session: Session | None = None,
        settings: RunSettings | None = None,
        **overrides: Unpack[RunSettings],
    ) -> AgentStream[OutputT]:
        """The run's events; the last one is `RunFinished`. Use it as a context manager:

            async with agent.stream(prompt) as stream:
                async for event in stream: ...

        Leaving the block (after a `break`, an error or a cancellation) stops the model
        request and the running tools. `stream.messages` (or `transcript`, a list the
        caller passes) holds the transcript as it stands. `session` (`agentkit.sessions`)
        loads the history and stores each completed exchange. `settings` and keyword
        overrides change limits and model settings for this run only.
        """
        if session is not None and history:
            raise UserError("pass either history= or session=, not both")
        if session is None and prompt is None and not any(
                not isinstance(m, SystemMessage) for m in history or ()):
            raise UserError("nothing to answer: the prompt is None and the history has no "
                            "messages (pass a prompt, or a history ending where the model "
                            "should go on)")
        agent = self._for_run(settings, overrides)
        return AgentStream(agent, prompt, list(history or []), deps, transcript,
                           session=session)

    async def run(
        self,
        prompt: str | None = None,
        *,
        history: Sequence[Message] | None = None,
        deps: DepsT | None = None,
        transcript: list[Message] | None = None,
        session: Session | None = None,
        settings: RunSettings | None = None,
        **overrides: Unpack[RunSettings],
    ) -> RunResult[OutputT]:
        """Run to the end and return the result (the stream, drained).

        Pass `transcript=[]` to keep the transcript when the run is cancelled (a run
        error carries it as `err.messages`).
        """
        return await _drain(self.stream(prompt, history=history, deps=deps,
                                        transcript=transcript, session=session,
                                        settings=settings, **overrides))

    def run_sync(
        self,
        prompt: str | None = None,
        *,
        history: Sequence[Message] | None = None,
        deps: DepsT | None = None,
        transcript: list[Message] | None = None,
        session: Session | None = None,
        settings: RunSettings | None = None,
        **overrides: Unpack[RunSettings],
    ) -> RunResult[OutputT]:
        """`run` for scripts: starts an event loop. Not for use inside one."""
        stream = self.stream(prompt, history=history, deps=deps, transcript=transcript,
                             session=session, settings=settings,
                             **overrides)  # argument errors raise here
        return self._sync(lambda: _drain(stream))

    def resume_stream(
        self, state: RunState | None = None, *,
        decisions: Mapping[str, Approve | Deny] | None = None,
        session: Session | None = None, deps: DepsT | None = None,
        transcript: list[Message] | None = None,
    ) -> AgentStream[OutputT]:
        """Continue a paused run (`result.state`, or the one stored in `session`).

        Approved calls run, denied ones (and calls without a decision) get an error result
        the model sees; then the loop goes on. The model is not asked again for the paused
        step, and a state resumes once (with a session, across processes).
        """
        from .hooks import Resume

        if state is None and session is None:
            raise UserError("resume() needs the paused run's state, or session=")
        return AgentStream(self, None, [], deps, transcript, session=session,
                           resume=Resume(state, dict(decisions or {})))

    async def resume(
        self, state: RunState | None = None, *,
        decisions: Mapping[str, Approve | Deny] | None = None,
        session: Session | None = None, deps: DepsT | None = None,
        transcript: list[Message] | None = None,
    ) -> RunResult[OutputT]:
        """`resume_stream`, drained: the result of the continued run."""
        return await _drain(self.resume_stream(state, decisions=decisions, session=session,
                                               deps=deps, transcript=transcript))

    def resume_sync(
        self, state: RunState | None = None, *,
        decisions: Mapping[str, Approve | Deny] | None = None,
        session: Session | None = None, deps: DepsT | None = None,
    ) -> RunResult[OutputT]:
        """`resume` for scripts: starts an event loop. Not for use inside one."""
        stream = self.resume_stream(state, decisions=decisions, session=session, deps=deps)
        return self._sync(lambda: _drain(stream))

    def _sync(self, run: Callable[[], Awaitable[RunResult[OutputT]]]) -> RunResult[OutputT]:
        import anyio

        try:
            import asyncio

            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise UserError("run_sync() was called inside an event loop; use `await agent.run()`")

        async def main() -> RunResult[OutputT]:
            try:
                return await run()
            finally:
                await self.aclose()  # the event loop ends with this call: release the pool

        return anyio.run(main)


async def _drain(stream: AgentStream[OutputT]) -> RunResult[OutputT]:
    async with stream as events:
        async for event in events:
            if isinstance(event, RunFinished):
                return event.result
    raise RuntimeError("the run ended without a result")  # pragma: no cover


class AgentStream(Generic[OutputT]):
    """Async iterator over a run's events, and an async context manager that closes it.

    A stream that was started and is dropped unclosed before the run finished warns
    (`ResourceWarning`) and is closed at once, which stops its request.
    """

    def __init__(self, agent: Agent[Any, Any], prompt: str | None, history: list[Message],
                 deps: Any, transcript: list[Message] | None = None,
                 **loop_options: Any) -> None:
        from .loop import agent_loop

        self.messages: list[Message] = transcript if transcript is not None else []
        self.result: RunResult[OutputT] | None = None
        self._started = self._done = False
        self._gen: AsyncGenerator[AgentEvent, None] = agent_loop(
            agent, prompt, history=history, deps=deps, transcript=self.messages, **loop_options)

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        return self

    async def __anext__(self) -> AgentEvent:
        self._started = True
        try:
            event = await self._gen.__anext__()
        except BaseException:
            self._done = True  # finished, failed or cancelled: the generator is closed
            raise
        if isinstance(event, RunFinished):
            self.result = event.result
        return event

    async def aclose(self) -> None:
        self._done = True
        await self._gen.aclose()

    async def __aenter__(self) -> AgentStream[OutputT]:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    def __del__(self) -> None:
        if not self._started or self._done:
            return
        if self.result is None:
            warnings.warn(
                "an agent stream was dropped before its run finished; its request is being "
                "stopped now. Use `async with agent.stream(...) as stream:` so leaving the "
                "loop early closes it", ResourceWarning, stacklevel=2, source=self)
        try:
            import asyncio

            task = asyncio.get_running_loop().create_task(self._gen.aclose())
        except RuntimeError:  # no running asyncio loop: the generator's finalizer closes it
            return
        _closing.add(task)
        task.add_done_callback(_closing.discard)
