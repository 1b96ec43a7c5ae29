"""A conversation participant driven by agentkit's core loop (:class:`agentkit.Agent`).

Each turn is one ``agent.stream(...)`` run: the loop streams the model's thinking and text,
runs the tool calls through the conversation's tool executor (one at a time, in call order,
never validated against the schema first -- the environment decides, as in tau2-bench), and
ends when the model answers with text. Every model message and tool result becomes a
:class:`SimMessage`; the core events are passed through for streaming.

The same class plays the agent (tools with requestor ``assistant``) and an LLM user simulator
(requestor ``user``): each side keeps its own transcript, where its own messages are the
assistant turns and the other side's visible text arrives as user turns.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any, Literal

import anyio

from ..agent import Agent
from ..events import InvalidToolCall, StepFinished, ToolResult
from ..messages import AssistantMessage, Message, ToolCall, ToolMessage, UserMessage
from ..tooldef import Tool
from ..usage import Usage
from .orchestrator import ToolExecutor, TurnItem
from .simulation import SimMessage, SimToolCall

__all__ = ["LoopParticipant", "MalformedToolCallError", "PassThroughTool", "visible_text"]

Requestor = Literal["assistant", "user"]

_THINK_BLOCK = re.compile(r"<think>.*?</think>\s*", re.S)


def visible_text(text: str | None) -> str:
    """What the other side may see of a message: inline ``<think>`` blocks removed."""
    if not text:
        return ""
    text = _THINK_BLOCK.sub("", text)
    if "</think>" in text:  # an opening tag swallowed by the server's template
        text = text.split("</think>", 1)[1]
    return text.strip()


class MalformedToolCallError(RuntimeError):
    """A model emitted tool-call arguments that are not a JSON object.

    tau2-bench crashes the simulation here (and retries it as an infrastructure error).
    """


class PassThroughTool(Tool):
    """A tool whose arguments reach the function unvalidated (the environment checks them)."""

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return arguments


class _Batch:
    """The valid tool calls of the current model step, executed strictly in call order."""

    def __init__(self, calls: list[SimToolCall]) -> None:
        self.calls = calls
        self.claimed = [False] * len(calls)
        self.done = [anyio.Event() for _ in calls]
        self.results: dict[str, SimMessage] = {}

    def claim(self, name: str, arguments: dict[str, Any]) -> int:
        """The position of the pending call being run (same name and arguments, else name)."""
        free = [i for i, c in enumerate(self.calls) if not self.claimed[i] and c.name == name]
        if not free:
            raise RuntimeError(f"tool {name!r} ran but no call to it is pending")
        i = next((j for j in free if self.calls[j].arguments == arguments), free[0])
        self.claimed[i] = True
        return i


class LoopParticipant:
    """One side of a conversation, on the core loop.

    ``agent``: the model, instructions and settings (its tools are replaced by ``tool_schemas``
    run through the conversation's executor). ``requestor``: whose toolkit the calls go to.
    """

    def __init__(self, agent: Agent[Any], requestor: Requestor,
                 tool_schemas: Sequence[dict[str, Any]] = ()) -> None:
        self.requestor: Requestor = requestor
        self.usage = Usage()
        self.history: list[Message] = []
        self._executor: ToolExecutor | None = None
        self._batch: _Batch | None = None
        tools = [self._make_tool(s) for s in tool_schemas]
        # the conversation enforces tau2's limits; the core loop must not cut a turn short,
        # and the tools run one at a time in call order (see _Batch)
        limits = replace(agent.limits, max_steps=10_000, max_invalid_calls=1_000_000,
                         tool_concurrency=1_000_000)
        self.agent = agent.replace(tools=tools, output_type=None, limits=limits)
        self.tool_names = {t.name for t in tools}

    # ------------------------------------------------------------------ tools
    def _make_tool(self, schema: dict[str, Any]) -> Tool:
        fn_schema = schema.get("function", schema)
        name = fn_schema["name"]

        async def run(**kwargs: Any) -> str:
            return await self._run_call(name, kwargs)

        return PassThroughTool.from_schema(
            name, fn_schema.get("description", ""),
            fn_schema.get("parameters") or {"type": "object", "properties": {}}, run)

    async def _run_call(self, name: str, arguments: dict[str, Any]) -> str:
        batch, executor = self._batch, self._executor
        assert batch is not None and executor is not None
        i = batch.claim(name, arguments)
        if i > 0:
            await batch.done[i - 1].wait()
        try:
            result = await executor(batch.calls[i])
            batch.results[batch.calls[i].id] = result
        finally:
            batch.done[i].set()
        return result.content or ""

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
        return SimMessage(
            role=self.requestor,
            content=message.content if message.content else None,
            tool_calls=calls or None,
            reasoning=message.reasoning or None,
        )

    async def turn(self, incoming: str | None, tools: ToolExecutor) -> AsyncIterator[TurnItem]:
        """Run the core loop until the model answers with text; yield records and events."""
        self._executor = tools
        prompt = visible_text(incoming) if incoming is not None else None
        stream = self.agent.stream(prompt, history=self.history)
        current: SimMessage | None = None
        try:
            async with stream:
                async for event in stream:
                    yield event
                    if isinstance(event, StepFinished):
                        self.usage.add(event.usage)
                        message = stream.messages[-1]
                        assert isinstance(message, AssistantMessage)
                        if not message.tool_calls and not message.broken_tool_calls \
                                and not message.content.strip() and message.reasoning.strip():
                            continue  # reasoning only: the core loop nudges the model again
                        current = self._record_step(message)
                        current.usage = event.usage
                        valid = [c for c in current.tool_calls or [] if c.name in self.tool_names]
                        self._batch = _Batch(valid)
                        yield current
                        if not current.tool_calls:
                            break
                    elif isinstance(event, InvalidToolCall) and current is not None:
                        # unknown tool: the environment's own answer goes in the record
                        call = next((c for c in current.tool_calls or [] if c.id == event.id),
                                    None)
                        if call is not None and self._batch is not None:
                            self._batch.results[call.id] = await tools(call)
                    elif isinstance(event, ToolResult) and current is not None:
                        assert self._batch is not None
                        record = self._batch.results.get(event.id)
                        if record is None:  # not run (should not happen): keep what the model saw
                            record = SimMessage(role="tool", id=event.id, content=event.content,
                                                error=event.is_error)
                        yield record.model_copy(update={"requestor": self.requestor})
        finally:
            self.history = [m for m in stream.messages if m.role != "system"]
            self._batch = None
