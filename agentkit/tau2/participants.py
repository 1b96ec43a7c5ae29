"""A conversation participant driven by agentkit's core loop (:class:`agentkit.Agent`).

Each turn is one ``agent.stream(...)`` run: the loop streams the model's thinking and text,
runs the tool calls through the conversation's tool executor (one at a time, in call order,
never validated against the schema first; calls to unknown tools go to the executor too --
the environment decides, as in tau2-bench), and ends when the model answers with text.
A reply with neither text nor tool calls (empty, or reasoning only) raises
:class:`EmptyReplyError`: as in tau2-bench, the simulation fails and is retried whole.
Every model message and tool result becomes a :class:`SimMessage`; the core events are
passed through for streaming.

The same class plays the agent (tools with requestor ``assistant``) and an LLM user simulator
(requestor ``user``): each side keeps its own transcript, where its own messages are the
assistant turns and the other side's visible text arrives as user turns.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any, Literal

from ..agent import Agent
from ..context import RunContext
from ..errors import ModelBehaviorError
from ..events import StepFinished, ToolResult
from ..messages import AssistantMessage, Message, ToolCall, ToolMessage, UserMessage
from ..tooldef import ErrorResult, Tool
from ..usage import Usage
from .orchestrator import EmptyMessageError, ToolExecutor, TurnItem
from .simulation import SimMessage, SimToolCall, split_thinking, visible_text

__all__ = [
    "EmptyReplyError",
    "LoopParticipant",
    "MalformedToolCallError",
    "PassThroughTool",
    "visible_text",
]

Requestor = Literal["assistant", "user"]


class MalformedToolCallError(RuntimeError):
    """A model emitted tool-call arguments that are not a JSON object.

    tau2-bench crashes the simulation here (and retries it as an infrastructure error).
    """


class EmptyReplyError(EmptyMessageError):
    """A model replied with neither visible text nor tool calls (empty, or reasoning only).

    tau2-bench rejects such a message and the simulation is retried whole (infrastructure
    error); nothing is nudged or forwarded.
    """


class PassThroughTool(Tool):
    """A tool whose arguments reach the function unvalidated (the environment checks them)."""

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return arguments


class LoopParticipant:
    """One side of a conversation, on the core loop.

    ``agent``: the model, instructions and settings (its tools are replaced by ``tool_schemas``
    run through the conversation's executor). ``requestor``: whose toolkit the calls go to.
    """

    def __init__(self, agent: Agent[Any], requestor: Requestor,
                 tool_schemas: Sequence[dict[str, Any]] = ()) -> None:
        self.requestor: Requestor = requestor
        self.usage = Usage()
        self.modes: list[str] = []  # the mode of each model request, as the loop recorded it
        self.history: list[Message] = []
        self._executor: ToolExecutor | None = None
        self._calls: dict[str, SimToolCall] = {}  # the current step's calls, by id
        self._results: dict[str, SimMessage] = {}
        tools = [self._make_tool(s) for s in tool_schemas]
        # The conversation enforces tau2's limits: the core loop must not cut a turn short or
        # time an environment call out; calls run one at a time in call order; a reply with
        # reasoning only is not nudged (it fails the simulation, as in tau2).
        limits = replace(agent.limits, max_steps=10_000, max_invalid_calls=1_000_000,
                         tool_concurrency=1, tool_timeout=None, reasoning_only_nudges=0)
        self.agent = agent.replace(tools=tools, output_type=None, limits=limits,
                                   unknown_tool_handler=self._unknown_tool)
        self.tool_names = {t.name for t in tools}

    # ------------------------------------------------------------------ tools
    def _make_tool(self, schema: dict[str, Any]) -> Tool:
        fn_schema = schema.get("function", schema)

        async def run(ctx: RunContext[Any], **kwargs: Any) -> str | ErrorResult:
            return await self._run_call(ctx)

        return PassThroughTool.from_schema(
            fn_schema["name"], fn_schema.get("description", ""),
            fn_schema.get("parameters") or {"type": "object", "properties": {}}, run,
            takes_context=True)

    async def _unknown_tool(self, ctx: RunContext[Any], name: str,
                            arguments: dict[str, Any]) -> str | ErrorResult:
        """A call to a tool this side does not have: the environment answers it."""
        return await self._run_call(ctx)

    async def _run_call(self, ctx: RunContext[Any]) -> str | ErrorResult:
        executor = self._executor
        call = self._calls.get(ctx.tool_call_id or "")
        if executor is None or call is None:
            raise RuntimeError(f"tool call {ctx.tool_call_id!r} ran but is not pending")
        result = await executor(call)
        self._results[call.id] = result
        content = result.content or ""
        return ErrorResult(content) if result.error else content  # the model sees it as is

    # ------------------------------------------------------------------ history
    def start(self, history: Sequence[SimMessage]) -> None:
        """Seed this side's transcript from the conversation so far (its own view of it)."""
        self.history = []
        names: dict[str, str] = {}
        for m in history:
            own = m.role == self.requestor
            if m.role in ("assistant", "user") and own:
                calls = [ToolCall(id=c.id, name=c.name, arguments=json.dumps(c.arguments))
                         for c in m.tool_calls or []]
                names.update({c.id: c.name for c in calls})
                self.history.append(AssistantMessage(content=m.content or "", tool_calls=calls))
            elif m.role in ("assistant", "user") and not m.is_tool_call():
                self.history.append(UserMessage(content=visible_text(m.content)))
            elif m.role == "tool" and m.requestor == self.requestor:
                self.history.append(ToolMessage(
                    tool_call_id=m.id or "", name=names.get(m.id or "", ""),
                    content=m.content or "", is_error=m.error))

    # ------------------------------------------------------------------ a turn
    def _record_step(self, message: AssistantMessage) -> SimMessage:
        if message.broken_tool_calls:
            bad = message.broken_tool_calls[0]
            raise MalformedToolCallError(
                f"{self.requestor} tool call {bad.name!r} has malformed arguments: {bad.reason}")
        calls = []
        for tc in message.tool_calls:
            try:
                args = json.loads(tc.arguments) if tc.arguments.strip() else {}
            except ValueError as exc:
                raise MalformedToolCallError(
                    f"{self.requestor} tool call {tc.name!r}: arguments are not JSON") from exc
            if not isinstance(args, dict):
                raise MalformedToolCallError(
                    f"{self.requestor} tool call {tc.name!r}: arguments are not a JSON object")
            calls.append(SimToolCall(id=tc.id, name=tc.name, arguments=args,
                                     requestor=self.requestor))
        # what the other side sees is the text without inline thinking; the record keeps
        # that text as the content and the thinking as reasoning
        text, inline = split_thinking(message.content)
        reasoning = "\n\n".join(r for r in (message.reasoning.strip(), inline) if r)
        if not calls and not text.strip():
            raise EmptyReplyError(
                f"{self.requestor} sent an empty message (no text and no tool calls"
                + (", reasoning only)" if reasoning else ")"))
        return SimMessage(
            role=self.requestor,
            content=text if text.strip() else None,
            tool_calls=calls or None,
            reasoning=reasoning or None,
        )

    async def turn(self, incoming: str | None, tools: ToolExecutor) -> AsyncIterator[TurnItem]:
        """Run the core loop until the model answers with text; yield records and events."""
        self._executor = tools
        prompt = visible_text(incoming) if incoming is not None else None
        stream = self.agent.stream(prompt, history=self.history)
        try:
            async with stream:
                async for event in stream:
                    yield event
                    if isinstance(event, StepFinished):
                        self.usage.add(event.usage)
                        if event.mode is not None:
                            self.modes.append(event.mode)
                            self.usage.add_mode(event.mode, event.usage,
                                                thinking_ignored=event.thinking_ignored)
                        message = stream.messages[-1]
                        assert isinstance(message, AssistantMessage)
                        current = self._record_step(message)
                        current.usage = event.usage
                        self._calls = {c.id: c for c in current.tool_calls or []}
                        self._results = {}
                        yield current
                        if not current.tool_calls:
                            break
                    elif isinstance(event, ToolResult):
                        record = self._results.get(event.id)
                        if record is None:
                            raise RuntimeError(  # the executor itself failed
                                f"{self.requestor} tool call {event.name!r} ({event.id}) got no "
                                f"environment answer: {event.content}")
                        yield record.model_copy(update={"requestor": self.requestor})
        except ModelBehaviorError as exc:  # reasoning only (no nudges): tau2's empty message
            raise EmptyReplyError(f"{self.requestor} sent an empty message: {exc}") from exc
        finally:
            self.history = [m for m in stream.messages if m.role != "system"]
            self._calls, self._results = {}, {}
