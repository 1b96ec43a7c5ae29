"""The agent loop: one async generator. `run` drains it; `run_sync` wraps `run`.

Per step: request → stream (events out) → check the tool calls → run the valid ones
concurrently → append the results in call order → next step. The generator never yields
while a cancel scope or task group of its own is open, so leaving an `async for` early,
or cancelling the consuming task, closes it cleanly: the in-flight HTTP stream is closed,
running tools are cancelled, and every tool call in the transcript gets an answer.
"""

from __future__ import annotations

import inspect
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import anyio

from .compaction import ContextManager, is_context_overflow
from .context import RunContext
from .errors import (
    AgentError,
    ContextOverflow,
    InvalidToolCallsExceeded,
    LimitExceeded,
    ModelAPIError,
    ModelBehaviorError,
    StopRun,
    UserError,
)
from .events import (
    AgentEvent,
    ApprovalRequired,
    InvalidToolCall,
    RequestRetry,
    RunFinished,
    TextDelta,
    ThinkingDelta,
    ToolCallArgumentsDelta,
    ToolCallReady,
    ToolCallStarted,
    ToolResult,
)
from .hooks import Resume, RunHooks
from .live import LiveEvents
from .messages import AssistantMessage, Message, SystemMessage, ToolMessage, UserMessage
from .models.base import (
    ModelRequest,
    ModelResponse,
    ModelStreamEvent,
    ReasoningPart,
    TextPart,
    ToolCallPart,
)
from .modes import NUDGE_EMPTY, Problem, StepMode, StepRecord
from .output import FINAL_TOOL_NAME, OutputSpec
from .result import RunResult, ToolCallRecord
from .settings import warn_unsent
from .stepmodes import ModeSteps
from .telemetry.hooks import observe
from .toolcalls import ToolSteps, broken_notice
from .tooldef import Tool
from .usage import Usage
from .wire.profiles import NUDGE_REASONING_ONLY

if TYPE_CHECKING:
    from .agent import Agent
    from .sessions import Session

__all__ = ["agent_loop", "close_open_calls"]

log = logging.getLogger(__name__)  # "agentkit.loop"; content only at DEBUG


class _Run(ToolSteps, ModeSteps):
    """The mutable state of one run; the agent itself stays immutable."""

    def __init__(self, agent: Agent[Any], messages: list[Message], deps: Any,
                 prompt_given: bool = True) -> None:
        self.agent = agent
        self.model = agent.resolved_model()
        self.limits = agent.limits
        self.output = agent.output_spec
        self.tools: dict[str, Tool] = {t.name: t for t in agent.tools}
        if self.output is not None:
            self.tools[FINAL_TOOL_NAME] = self.output.tool
        self.specs = [t.spec for t in self.tools.values()]
        handler = agent.unknown_tool_handler
        self.unknown_tool = None if handler is None else Tool(
            handler, name="(unknown tool)", description="", parameters={}, takes_context=True)
        self.messages = messages
        self.usage = Usage()
        self.records: list[ToolCallRecord] = []
        self.live: LiveEvents[None] = LiveEvents()  # what tools emit while running
        self.ctx: RunContext[Any] = RunContext(
            deps=deps, run_id=uuid.uuid4().hex, messages=messages, usage=self.usage,
            event_sink=self.live.emit)
        self.deadline = time.monotonic() + self.limits.timeout if self.limits.timeout else None
        self.thinking = agent.thinking if agent.thinking is not None else self.model.thinking
        self.step = 0
        self.invalid_streak = 0
        self.total_calls = 0
        self.nudges = 0
        self.response: ModelResponse | None = None
        self.stop: StopRun | None = None  # set by run_tools when a tool stopped the run
        self.tool_retries: dict[str, int] = {}  # ToolRetry in a row, per tool name
        self.replay: ModelResponse | None = None  # a resumed run's paused reply, not re-asked
        # modes: the policy, the finished steps, and what went wrong in this one
        self.policy = agent.mode
        self.history: list[StepRecord] = []
        self.mode: StepMode | None = None
        self.problems: set[Problem] = set()
        self.last_calls: set[bytes] = set()
        # context management: the view of the transcript that is sent
        self.window = None if agent.context is None else ContextManager(
            agent.context, getattr(self.model, "profile", None), self.specs, prompt_given)
        self.obs = observe(agent, self)  # telemetry (a no-op unless instrumented)

    async def add_toolsets(self) -> None:
        """Add the tools of the agent's toolsets (MCP servers), listed now; clashes fail."""
        from .toolsets import assemble_tools

        try:
            extra = await assemble_tools(self.agent.tools, self.agent.toolsets)
        except AgentError as exc:
            raise self.fail(exc) from exc
        if self.output is not None and any(t.name == FINAL_TOOL_NAME for t in extra):
            raise self.fail(UserError(f"a toolset offers a tool named {FINAL_TOOL_NAME!r}, "
                                      "which structured output uses; set a prefix"))
        self.tools.update((t.name, t) for t in extra)
        self.specs = [t.spec for t in self.tools.values()]

    def fail(self, exc: AgentError) -> AgentError:
        """`exc` with the transcript and usage as they stand."""
        close_open_calls(self.messages)
        exc.messages = list(self.messages)
        exc.usage = self.usage.model_copy()
        return exc

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def timed_out(self) -> AgentError:
        return self.fail(LimitExceeded(
            f"the run exceeded its time limit of {self.limits.timeout}s", limit="timeout"))

    def result(self, output: Any) -> RunResult:
        result = RunResult(output=output, messages=list(self.messages),
                           tool_calls=list(self.records), usage=self.usage.model_copy(),
                           steps=self.step, run_id=self.ctx.run_id)
        self.obs.run_result(result)
        return result

    def request(self, messages: list[Message], mode: StepMode | None,
                tools: list[Any] | None = None, max_tokens: int | None = None) -> ModelRequest:
        settings = self.agent.settings
        if mode is not None and mode.thinking_budget is not None:
            settings = replace(settings, thinking_budget=mode.thinking_budget)
        if max_tokens is not None:
            settings = replace(settings, max_tokens=max_tokens)
        return ModelRequest(messages=messages, tools=self.specs if tools is None else tools,
                            settings=settings,
                            thinking=self.thinking if mode is None else mode.thinking,
                            model=None if mode is None else mode.model)

    async def summarize(self, messages: list[Message], mode: StepMode) -> str:
        """One request outside the step count, for a context summary (usage counted)."""
        assert self.window is not None
        request = self.request(messages, mode, [], self.window.policy.summary_max_tokens)
        response: ModelResponse | None = None
        try:
            async with aclosing(self.model.stream(request)) as stream:
                async for ev in stream if self.deadline is None else self._until_deadline(
                        stream):
                    if isinstance(ev, ModelResponse):
                        response = ev
        except TimeoutError:
            raise self.timed_out() from None
        except ModelAPIError:
            self.usage.requests += 1
            raise
        if response is None:
            return ""
        self.usage.add(response.usage)
        self.usage.add_mode(mode.label, response.usage)
        return response.message.content

    async def model_turn(self) -> AsyncIterator[AgentEvent]:
        """Stream one model response into events (retrying failed requests); sets `response`."""
        self.response, self.replay = self.replay, None
        if self.response is not None:  # the paused reply of a resumed run: not asked again
            return
        window = self.window
        request = self.request(self.messages if window is None else window.view, self.mode)
        step, attempt, compacted = self.step, 0, False
        while True:
            ids: dict[int, str] = {}
            if window is not None:
                window.request_sent()
            try:
                async with aclosing(self.obs.chat(self.model.stream(request), request,
                                                  attempt)) as stream:
                    events = stream if self.deadline is None else self._until_deadline(stream)
                    async for ev in events:
                        kind = type(ev)
                        if kind is ReasoningPart:
                            yield ThinkingDelta(text=ev.text, step=step)  # type: ignore[union-attr]
                        elif kind is TextPart:
                            yield TextDelta(text=ev.text, step=step)  # type: ignore[union-attr]
                        elif kind is ToolCallPart:
                            assert isinstance(ev, ToolCallPart)
                            if ev.index not in ids:
                                ids[ev.index] = ev.id or f"call_{step}_{ev.index}"
                                yield ToolCallStarted(id=ids[ev.index], name=ev.name or "",
                                                      step=step)
                            if ev.arguments_delta:
                                yield ToolCallArgumentsDelta(id=ids[ev.index],
                                                             delta=ev.arguments_delta, step=step)
                        elif kind is ModelResponse:
                            assert isinstance(ev, ModelResponse)
                            self.response = ev
            except TimeoutError:
                self.usage.requests += request.sent is not False  # count what was sent
                raise self.timed_out() from None
            except ModelAPIError as exc:
                self.usage.requests += request.sent is not False  # count what was sent
                if is_context_overflow(exc, getattr(self.model, "profile", None)):
                    if window is None or compacted:
                        raise self.fail(ContextOverflow(
                            f"the request is longer than the model's context window: {exc}",
                            status_code=exc.status_code, body=exc.body)) from exc
                    compacted = True  # compact once, whatever the estimate, and retry
                    async for event in window.before_request(self.messages, self.summarize,
                                                             force=True, step=step):
                        yield event
                    request.messages = window.view
                    continue
                attempt += 1
                delay = self.limits.retry.delay(attempt, exc.retry_after) if exc.retryable \
                    else None
                left = self.remaining()
                if delay is None or (left is not None and delay > left):
                    raise self.fail(exc) from exc.__cause__  # the HTTP error, not exc itself
                log.info("model request failed (%s); retry %d in %.2fs", exc, attempt, delay)
                yield RequestRetry(attempt=attempt, error=str(exc), delay=delay, step=step)
                await anyio.sleep(delay)
                continue
            if self.response is None:
                self.usage.requests += request.sent is not False  # count what was sent
                raise self.fail(ModelAPIError("the model stream ended without a response"))
            return

    async def _until_deadline(
        self, stream: AsyncIterator[ModelStreamEvent]
    ) -> AsyncGenerator[ModelStreamEvent, None]:
        """`stream`, with each wait bounded by the run's deadline (TimeoutError past it)."""
        it = stream.__aiter__()
        while True:
            with anyio.fail_after(self.remaining()):
                try:
                    ev = await it.__anext__()
                except StopAsyncIteration:
                    return
            yield ev

    def note_invalid(self, problem: str, *, plain_text: bool = False) -> None:
        """Count an invalid reply or call; end the run when the budget is spent."""
        self.invalid_streak += 1
        n = self.invalid_streak
        if n >= self.limits.max_invalid_calls:
            what = (f"the model answered in plain text {n} times in a row instead of calling "
                    f"{FINAL_TOOL_NAME!r} with the structured result" if plain_text else
                    f"the model made invalid tool calls in {n} replies in a row")
            raise self.fail(InvalidToolCallsExceeded(f"{what}; the last problem: {problem}",
                                                     last_problem=problem))


async def _instructions(agent: Agent[Any], ctx: RunContext[Any]) -> str:
    """The agent's instructions for this run (a function of the context is called now)."""
    spec = agent.instructions
    if spec is None or isinstance(spec, str):
        return spec or ""
    value = spec(ctx)
    if inspect.isawaitable(value):
        value = await value
    if not isinstance(value, str):
        raise UserError(f"the instructions function returned {type(value).__name__}, not str")
    return value


def _start_messages(instructions: str, output: OutputSpec | None, prompt: str | None,
                    history: list[Message] | None) -> list[Message]:
    messages = list(history or [])
    while messages and isinstance(messages[0], SystemMessage):
        messages.pop(0)
    if output is not None:
        instructions = (instructions + "\n\n" + output.instructions).strip()
    if instructions:
        messages.insert(0, SystemMessage(content=instructions))
    if prompt is not None:
        messages.append(UserMessage(content=prompt))
    return messages


async def agent_loop(
    agent: Agent[Any],
    prompt: str | None,
    *,
    history: list[Message] | None = None,
    deps: Any = None,
    transcript: list[Message] | None = None,
    session: Session | None = None,
    resume: Resume | None = None,
) -> AsyncGenerator[AgentEvent, None]:
    """Run `agent` on `prompt` and yield its events; the last one is `RunFinished`.

    `transcript`, when given, is the list the run appends to: it stays consistent (every
    tool call answered) however the run ends, so a caller keeps it after any failure.
    `session` loads the history and keeps each completed exchange; `resume` continues a
    paused run (`agentkit.hooks`).
    """
    messages = transcript if transcript is not None else []
    try:
        run = _Run(agent, messages, deps, prompt is not None)
    except AgentError as exc:  # e.g. no API key: the run had not begun
        exc.messages = list(messages)
        raise
    hooks = RunHooks(run, session, resume)
    warn_unsent(run.model, agent.settings, run.thinking)  # once per model and setting
    limits, output = run.limits, run.output
    try:
        instructions = await _instructions(agent, run.ctx)
        history = await hooks.start(history)  # a session's history, a resumed run's state
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await run.ctx.exit_stack.aclose()  # e.g. a session lease taken by start()
        if isinstance(exc, AgentError):
            raise run.fail(exc) from exc.__cause__
        raise
    messages.extend(_start_messages(instructions, output, prompt, history))
    run.obs.run_start()
    try:
        async with run.ctx.exit_stack:
            await hooks.commit(since=len(messages) - (prompt is not None))  # the prompt
            if agent.toolsets:
                await run.add_toolsets()
            while True:
                run.step += 1
                run.ctx.step = run.step
                if run.step > limits.max_steps:
                    raise run.fail(LimitExceeded(
                        f"the run reached max_steps={limits.max_steps}", limit="max_steps"))
                replayed = run.replay is not None
                run.mode = await run.choose_mode()
                if run.window is not None and not replayed:
                    async for compacted in run.window.before_request(messages, run.summarize,
                                                                     step=run.step):
                        yield compacted
                async for event in run.model_turn():
                    yield event
                response = run.response
                assert response is not None
                run.usage.add(response.usage)
                if run.window is not None:
                    run.window.observe(response.usage.input_tokens)
                message = response.message
                messages.append(message)
                if not replayed:
                    yield run.record_mode(message, response)
                if limits.token_budget is not None and run.usage.total_tokens > limits.token_budget:
                    raise run.fail(LimitExceeded(
                        f"the run used {run.usage.total_tokens} tokens, over its budget of "
                        f"{limits.token_budget}", limit="token_budget"))

                if not message.tool_calls and not message.broken_tool_calls:
                    thought = bool(message.reasoning.strip())
                    # an empty reply is nudged too when a mode policy may escalate on it
                    if not message.content.strip() and (thought or run.policy is not None):
                        run.problems.add("reasoning_only" if thought else "empty_reply")
                        if run.nudges >= limits.reasoning_only_nudges:
                            what = "reasoning only" if thought else "an empty message"
                            raise run.fail(ModelBehaviorError(
                                f"the model replied with {what} (no answer and no tool "
                                f"call) {run.nudges + 1} time(s) in a row"))
                        run.nudges += 1
                        log.info("step %d: %s, no answer; nudging the model", run.step,
                                 "reasoning only" if thought else "an empty reply")
                        run.obs.event("agentkit.nudge", {"agentkit.step": run.step})
                        messages.append(UserMessage(
                            content=NUDGE_REASONING_ONLY if thought else NUDGE_EMPTY))
                        continue
                    await hooks.commit()
                    if output is None:
                        yield RunFinished(result=run.result(message.content), step=run.step)
                        return
                    value, problem = output.parse_text(message.content)
                    if problem is None:
                        yield RunFinished(result=run.result(value), step=run.step)
                        return
                    messages.append(UserMessage(content=output.retry_prompt(problem)))
                    run.problems.add("bad_output")
                    run.note_invalid(problem, plain_text=True)
                    continue
                run.nudges = 0

                calls = run.check_calls(message)
                for call in calls:
                    if call.error is None:
                        yield ToolCallReady(id=call.id, name=call.name, arguments=call.args or {},
                                            step=run.step)
                    else:
                        call.output = f"Error: {call.error}\nThe call was not run; fix it, retry."
                        call.is_error = True
                        run.note_invalid_call(call.id, call.name, call.error)
                        yield InvalidToolCall(id=call.id, name=call.name, error=call.error,
                                              step=run.step)
                for broken in message.broken_tool_calls:
                    run.note_invalid_call(broken.id, broken.name, broken.reason)
                    yield InvalidToolCall(id=broken.id, name=broken.name, error=broken.reason,
                                          step=run.step)
                paused = await hooks.gate(calls)  # a call needs approval: none of them runs
                if paused is not None:
                    for p in paused.pending_approvals:
                        yield ApprovalRequired(id=p.id, name=p.name, arguments=p.arguments,
                                               arguments_hash=p.arguments_hash, step=run.step)
                    yield RunFinished(result=paused, step=run.step)
                    return

                runnable = [c for c in calls if c.tool is not None]
                run.total_calls += sum(1 for c in runnable if c.name != FINAL_TOOL_NAME)
                if limits.max_tool_calls is not None and run.total_calls > limits.max_tool_calls:
                    for c in runnable:
                        c.output = "Error: not run: the run's tool-call limit was reached."
                        c.is_error = True
                    run.append_results(calls)
                    raise run.fail(LimitExceeded(
                        f"the run reached max_tool_calls={limits.max_tool_calls}",
                        limit="max_tool_calls"))

                final = next((c for c in runnable if c.name == FINAL_TOOL_NAME), None)
                run.stop = None
                reported: set[str] = set()
                if final is not None:
                    for c in runnable:
                        c.output = "Not run: the final result was given in the same reply."
                        c.is_error = c is not final
                    final.output = "Final result accepted."
                elif runnable:  # each result as its call completes; tool events as they come
                    async with aclosing(run.live.during(run.drain_tools(runnable, reported))) \
                            as live:
                        async for event in live:
                            yield event
                stop = run.stop
                run.append_results(calls)  # the transcript keeps call order
                run.note_problems(message, calls)
                if message.broken_tool_calls:
                    messages.append(UserMessage(content=broken_notice(message)))
                await hooks.commit()  # the exchange is complete
                for call in calls:
                    if call.id not in reported:
                        yield ToolResult(id=call.id, name=call.name, content=call.output,
                                         is_error=call.is_error, step=run.step)
                run.count_retries(calls)

                if final is not None and output is not None:
                    value = output.from_arguments(final.args or {})
                    yield RunFinished(result=run.result(value), step=run.step)
                    return
                if stop is not None:
                    yield RunFinished(result=run.result(stop.output), step=run.step)
                    return
                left = run.remaining()
                if left is not None and left <= 0:
                    raise run.timed_out()
                problems = [c.error for c in calls if c.error] + [
                    f"call to {b.name!r}: {b.reason}" for b in message.broken_tool_calls]
                if problems:  # a reply with invalid calls counts once
                    run.note_invalid(problems[-1])
                else:
                    run.invalid_streak = 0
    except BaseException as exc:
        if isinstance(exc, AgentError):  # also one a model raised: the transcript as it stands
            run.fail(exc)
        run.obs.run_error(exc)
        raise
    finally:
        close_open_calls(messages)
        run.obs.run_end()


def close_open_calls(messages: list[Message]) -> None:
    """Answer every unanswered tool call of the last assistant turn (a run cut short)."""
    for i in range(len(messages) - 1, -1, -1):
        msg = messages[i]
        if isinstance(msg, AssistantMessage):
            answered = {m.tool_call_id for m in messages[i + 1:] if isinstance(m, ToolMessage)}
            for tc in msg.tool_calls:
                if tc.id not in answered:
                    messages.append(ToolMessage(
                        tool_call_id=tc.id, name=tc.name, is_error=True,
                        content="Error: not run: the run was interrupted before this call ran."))
            return
        if not isinstance(msg, ToolMessage):
            return
