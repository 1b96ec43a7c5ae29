"""A step's tool calls: check them, run them concurrently, answer them in the transcript.

`ToolSteps` is the tool half of the loop's run state (`agentkit.loop._Run` mixes it in);
the loop itself only sequences these calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import anyio
import orjson

from .errors import AgentError, StopRun, ToolRetriesExceeded, ToolRetry
from .events import ToolResult
from .messages import AssistantMessage, Message, ToolMessage
from .output import FINAL_TOOL_NAME, OutputSpec
from .result import ToolCallRecord
from .telemetry.hooks import capture_content
from .textsafe import valid_utf8
from .tooldef import ErrorResult, Tool, ToolArgumentsError
from .wire.history import broken_call_feedback

if TYPE_CHECKING:
    from .context import RunContext
    from .limits import Limits
    from .live import LiveEvents
    from .telemetry.hooks import RunObserver

__all__ = ["ToolCall", "ToolSteps", "broken_notice"]

log = logging.getLogger("agentkit.loop")  # one logger for the loop's records


class ToolCall:
    """A tool call of the current step: checked, then run (or rejected with a reason)."""

    __slots__ = ("args", "error", "error_type", "exc", "id", "is_error", "kwargs", "name",
                 "output", "retry", "tool", "unknown")

    def __init__(self, id: str, name: str) -> None:
        self.id = id
        self.name = name
        self.tool: Tool | None = None
        self.args: dict[str, Any] | None = None
        self.kwargs: dict[str, Any] | None = None
        self.error: str | None = None
        self.output = ""
        self.is_error = False
        self.retry = False  # the tool raised ToolRetry
        self.unknown = False  # an unknown name, answered by the agent's unknown_tool_handler
        self.exc: Exception | None = None  # what the tool raised
        self.error_type: str | None = None  # its class (or "TimeoutError"), for the record



class ToolSteps:
    """Checking, running and answering tool calls, over the run's state declared here."""

    tools: dict[str, Tool]
    unknown_tool: Tool | None
    limits: Limits
    output: OutputSpec | None
    messages: list[Message]
    records: list[ToolCallRecord]
    tool_retries: dict[str, int]
    stop: StopRun | None
    live: LiveEvents[None]
    ctx: RunContext[Any]
    obs: RunObserver
    step: int

    def fail(self, exc: AgentError) -> AgentError:
        raise NotImplementedError

    def remaining(self) -> float | None:
        raise NotImplementedError

    def check_calls(self, message: AssistantMessage) -> list[ToolCall]:
        """Parse and validate each call; a rejected call gets the exact reason."""
        calls: list[ToolCall] = []
        for tc in message.tool_calls:
            call = ToolCall(tc.id, tc.name)
            calls.append(call)
            try:
                args = orjson.loads(tc.arguments) if tc.arguments.strip() else {}
            except orjson.JSONDecodeError as exc:
                call.error = f"the arguments are not valid JSON ({exc})"
                continue
            if not isinstance(args, dict):
                call.error = "the arguments must be a JSON object"
                continue
            call.args = args
            tool = self.tools.get(tc.name)
            if tool is None and self.unknown_tool is not None:
                call.tool, call.unknown = self.unknown_tool, True
                call.kwargs = {"name": tc.name, "arguments": args}
                continue
            if tool is None:
                known = ", ".join(sorted(self.tools)) or "(none)"
                call.error = f"unknown tool {tc.name!r}; available tools: {known}"
                continue
            try:
                call.kwargs = tool.validate(args)
            except ToolArgumentsError as exc:
                call.error = str(exc)
                continue
            call.tool = tool
        return calls

    async def run_tools(self, calls: list[ToolCall]) -> AsyncGenerator[ToolCall, None]:
        """Run the calls concurrently (capped) and yield each as it finishes.

        A `StopRun` wins (kept in `self.stop`; calls still running are cancelled). The
        concurrent calls run in a task of their own, so this generator never yields inside
        a task group; closing it cancels that task and waits for the tools to unwind.
        """
        limiter = anyio.CapacityLimiter(max(1, self.limits.tool_concurrency))
        stops: list[StopRun] = []
        cancel: Callable[[], None] | None = None
        send, receive = anyio.create_memory_object_stream[ToolCall](len(calls))

        async def one(call: ToolCall) -> None:
            await self._run_one(call, limiter, stops, cancel)

        async def reported(call: ToolCall) -> None:
            try:
                await one(call)
            finally:
                send.send_nowait(call)  # finished, failed or cancelled: reported once

        async def batch() -> None:
            nonlocal cancel
            async with anyio.create_task_group() as tg:
                cancel = tg.cancel_scope.cancel
                for call in calls:
                    tg.start_soon(reported, call)

        with send, receive:
            if len(calls) == 1 or self.limits.tool_concurrency <= 1:
                for call in calls:  # one at a time, in call order
                    await reported(call)
                    yield receive.receive_nowait()
            else:
                task = asyncio.get_running_loop().create_task(batch())
                try:
                    for _ in calls:
                        yield await receive.receive()
                    await task
                finally:
                    if not task.done():
                        task.cancel()
                        with anyio.CancelScope(shield=True):
                            await asyncio.wait([task])
        self.stop = stops[0] if stops else None

    async def _run_one(self, call: ToolCall, limiter: anyio.CapacityLimiter, stops: list[StopRun],
                       cancel: Callable[[], None] | None) -> None:
        """Run one checked call and fill in its output (a tool's failure is the model's)."""
        tool = call.tool
        assert tool is not None
        async with limiter:
            timeout = tool.timeout if tool.timeout is not None else self.limits.tool_timeout
            left = self.remaining()  # measured after waiting for a slot
            if left is not None:
                timeout = max(0.0, left) if timeout is None else min(timeout, max(0.0, left))
            if stops:
                call.output = "Not run: another tool stopped the run."
                call.is_error = True
                return
            ctx = replace(self.ctx, tool_call_id=call.id)
            handle = self.obs.tool_start(call)
            try:
                with anyio.move_on_after(timeout) as scope:
                    value = await tool.call(ctx, call.kwargs or {})
                    if isinstance(value, ErrorResult):
                        call.output, call.is_error = value.text, True
                    else:
                        call.output = Tool.format_result(value)
                        call.is_error = call.unknown
                if scope.cancelled_caught:
                    call.output = f"Error: the tool {call.name!r} timed out after {timeout:g}s."
                    call.is_error = True
                    call.error_type = "TimeoutError"
                    log.info("tool %r (call %s) timed out after %gs", call.name, call.id,
                             timeout)
            except StopRun as exc:
                stops.append(exc)
                call.output = "The run was stopped by this tool."
                if cancel is not None:
                    cancel()
            except anyio.get_cancelled_exc_class():
                call.error_type = "cancelled"
                if not stops:
                    raise
                call.output = "Not run: another tool stopped the run."
                call.is_error = True
                raise
            except ToolRetry as exc:  # the tool asks for another try with better arguments
                call.output = f"{exc}\nFix the arguments and call {call.name!r} again."
                call.is_error = call.retry = True
                call.error_type = "ToolRetry"
                log.info("tool %r (call %s) asked for a retry: %s", call.name, call.id, exc)
            except Exception as exc:  # a tool's failure is the model's to see
                call.output = f"Error: {type(exc).__name__}: {exc}"
                call.is_error = True
                call.exc, call.error_type = exc, type(exc).__name__
                log.warning("tool %r (call %s) raised %s", call.name, call.id,
                            type(exc).__name__, exc_info=exc)
            finally:
                call.output = valid_utf8(call.output)  # file names, exception texts: any bytes
                self.obs.tool_end(handle, call)

    async def drain_tools(self, calls: list[ToolCall], reported: set[str]) -> None:
        """Run the calls; each `tool_result` goes out (through `live`) as its call completes."""
        async with aclosing(self.run_tools(calls)) as finished:
            async for call in finished:
                reported.add(call.id)
                self.live.emit(ToolResult(id=call.id, name=call.name, content=call.output,
                                          is_error=call.is_error, step=self.step))

    def count_retries(self, calls: list[ToolCall]) -> None:
        """Count `ToolRetry`s per tool (a success resets); past a tool's `retries`, end."""
        for call in calls:
            if call.tool is None or call.unknown:
                continue
            if not call.retry:
                self.tool_retries.pop(call.name, None)
                continue
            n = self.tool_retries[call.name] = self.tool_retries.get(call.name, 0) + 1
            if n > call.tool.retries:
                raise self.fail(ToolRetriesExceeded(
                    f"the tool {call.name!r} asked for a retry {n} times in a row, more than "
                    f"its retries={call.tool.retries}; last: {call.output.splitlines()[0]}",
                    tool=call.name, last_problem=call.output.splitlines()[0]))

    def append_results(self, calls: list[ToolCall]) -> None:
        """Answer the calls in the transcript; record the executions (not `final_result`)."""
        for call in calls:
            call.output = valid_utf8(call.output)  # file names, exception texts: any bytes
            self.messages.append(ToolMessage(tool_call_id=call.id, name=call.name,
                                             content=call.output, is_error=call.is_error))
            if call.name == FINAL_TOOL_NAME and self.output is not None:
                continue  # the structured result, not a tool execution: it is RunResult.output
            self.records.append(ToolCallRecord(id=call.id, name=call.name, arguments=call.args,
                                               result=call.output, is_error=call.is_error,
                                               step=self.step, error_type=call.error_type))


    def note_invalid_call(self, call_id: str, name: str, problem: str) -> None:
        """Log and record a call that was not run (the reason may quote arguments: DEBUG only)."""
        log.info("step %d: invalid call to %r (call %s) not run", self.step, name, call_id)
        log.debug("invalid call %s: %s", call_id, problem)
        attrs: dict[str, Any] = {"gen_ai.tool.name": name, "gen_ai.tool.call.id": call_id,
                                 "agentkit.step": self.step}
        if capture_content():
            attrs["agentkit.invalid_call.reason"] = problem
        self.obs.event("agentkit.invalid_tool_call", attrs)



def broken_notice(message: AssistantMessage) -> str:
    """The feedback for the calls a server sent broken (one line each)."""
    return "\n".join(broken_call_feedback(b.name, b.reason) for b in message.broken_tool_calls)
