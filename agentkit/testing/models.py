"""In-process model doubles: `ScriptedModel` (a FIFO script) and `FunctionModel`.

Both implement the `Model` protocol directly, without HTTP: a `Step` is streamed as
`ReasoningPart`, `TextPart` and `ToolCallPart` events cut like the loopback server cuts its
chunks, then one `ModelResponse`. Scripted faults raise `ModelAPIError`.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from contextlib import aclosing
from typing import Any

from ..errors import AgentError, ModelAPIError
from ..messages import AssistantMessage, BrokenToolCall, Message, ToolCall
from ..models.base import (
    ModelRequest,
    ModelResponse,
    ModelStreamEvent,
    ReasoningPart,
    TextPart,
    ToolCallPart,
)
from ..usage import Usage
from .render import Chunking, call_ids, plan_deltas, wire_usage
from .script import Step

__all__ = ["FunctionModel", "ScriptExhaustedError", "ScriptedModel", "stream_step"]

StepFunction = Callable[[list[Message], ModelRequest], Step | str | Awaitable[Step | str]]


class ScriptExhaustedError(AgentError, AssertionError):
    """The model was asked for more responses than were scripted.

    An `AgentError` (the run attaches the transcript and usage, as for any run error) and an
    `AssertionError` (a test failure)."""


def _prompt_chars(messages: list[Message]) -> int:
    n = 0
    for m in messages:
        content = getattr(m, "content", "")
        n += len(content) if isinstance(content, str) else len(json.dumps(content))
        for tc in getattr(m, "tool_calls", ()):
            n += len(tc.name) + len(tc.arguments)
    return n


def _fault_error(step: Step, model: str) -> ModelAPIError | None:
    fault = step.fault
    if fault is None or fault.kind == "cut":
        return None
    if fault.kind == "disconnect":
        return ModelAPIError(f"{model}: connection closed by server (scripted)",
                             retryable=True)
    return ModelAPIError(f"{model}: HTTP {fault.status} (scripted)", status_code=fault.status,
                         retryable=fault.retryable, retry_after=fault.retry_after,
                         body=fault.body)


def _assemble(step: Step, ids: list[str]) -> AssistantMessage:
    calls: list[ToolCall] = []
    broken: list[BrokenToolCall] = []
    for c, cid in zip(step.tool_calls, ids, strict=True):
        try:
            parsed = json.loads(c.arguments)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            calls.append(ToolCall(id=cid, name=c.name, arguments=c.arguments))
        else:
            broken.append(BrokenToolCall(id=cid, name=c.name, raw_arguments=c.arguments,
                                         reason="arguments are not a JSON object"))
    return AssistantMessage(content=step.text, reasoning=step.thinking, tool_calls=calls,
                            broken_tool_calls=broken,
                            finish_reason=step.effective_finish_reason)


async def stream_step(
    step: Step, *, model_name: str, prompt_chars: int = 0, chunking: Chunking | None = None,
) -> AsyncGenerator[ModelStreamEvent, None]:
    """Stream one step as model events (the shared engine of the in-process doubles).

    `delay` sleeps first, `chunk_delay` between events; a `cut_after(n)` fault yields `n`
    delta events and then raises a retryable `ModelAPIError`.
    """
    if not isinstance(step, Step):
        raise TypeError(f"in-process models replay Step objects, got {type(step).__name__} "
                        "(RawStep needs LoopbackServer)")
    if step.delay > 0:
        import anyio

        await anyio.sleep(step.delay)
    error = _fault_error(step, model_name)
    if error is not None:
        raise error
    limit = step.fault.n_chunks if step.fault is not None else None
    ids = call_ids(step)
    sent = 0
    for d in plan_deltas(step, chunking or Chunking(), ids):
        if limit is not None and sent >= limit:
            break
        if step.chunk_delay > 0 and sent:
            import anyio

            await anyio.sleep(step.chunk_delay)
        kind = d[0]
        if kind == "reasoning":
            yield ReasoningPart(d[1])
        elif kind == "text":
            yield TextPart(d[1])
        else:
            yield ToolCallPart(index=d[1], id=d[2], name=d[3], arguments_delta=d[4])
        sent += 1
    if limit is not None:
        raise ModelAPIError(f"{model_name}: stream cut after {sent} chunk(s) (scripted)",
                            retryable=True)
    u = wire_usage(step, prompt_chars)
    usage = Usage(requests=1, input_tokens=u["prompt_tokens"],
                  output_tokens=u["completion_tokens"],
                  reasoning_tokens=u["completion_tokens_details"]["reasoning_tokens"],
                  cached_tokens=u["prompt_tokens_details"]["cached_tokens"])
    yield ModelResponse(message=_assemble(step, ids), usage=usage, model_name=model_name)


def _snapshot(request: ModelRequest) -> ModelRequest:
    return dataclasses.replace(request, messages=list(request.messages),
                               tools=list(request.tools))


class ScriptedModel:
    """A model that plays `steps` in order, one per request.

    `.requests` holds what each call received (message lists copied). Asking for more
    responses than scripted raises `ScriptExhaustedError`; `assert_complete()` fails while
    steps remain. Events are cut by `chunking` like the loopback server's chunks.
    """

    def __init__(self, steps: Iterable[Step] = (), name: str = "scripted",
                 thinking: bool | None = True, chunking: Chunking | None = None) -> None:
        self._name = name
        self._thinking = thinking
        self._chunking = chunking or Chunking()
        self._steps: deque[Step] = deque()
        self.requests: list[ModelRequest] = []
        self.add_steps(*steps)

    @property
    def name(self) -> str:
        return self._name

    @property
    def thinking(self) -> bool | None:
        return self._thinking

    @property
    def remaining(self) -> int:
        return len(self._steps)

    def add_steps(self, *steps: Step) -> None:
        for s in steps:
            if not isinstance(s, Step):
                raise TypeError(f"ScriptedModel steps must be Step objects, got {s!r}")
        self._steps.extend(steps)

    def assert_complete(self) -> None:
        if self._steps:
            raise AssertionError(
                f"ScriptedModel {self._name!r}: {len(self._steps)} scripted step(s) were never "
                f"requested ({len(self.requests)} request(s) made)")

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        self.requests.append(_snapshot(request))
        if not self._steps:
            raise ScriptExhaustedError(
                f"ScriptedModel {self._name!r}: request #{len(self.requests)} but the script "
                "is exhausted (add a step, or the loop made an unexpected extra call)")
        step = self._steps.popleft()
        events = stream_step(step, model_name=self._name,
                             prompt_chars=_prompt_chars(request.messages), chunking=self._chunking)
        async with aclosing(events):
            async for event in events:
                yield event


class FunctionModel:
    """A model whose response is a function of the conversation.

    `fn(messages, request)` returns a `Step` (or a plain string, meaning `reply(text)`),
    sync or async. `.requests` records every request.
    """

    def __init__(self, fn: StepFunction, name: str = "function",
                 thinking: bool | None = True, chunking: Chunking | None = None) -> None:
        self._fn = fn
        self._name = name
        self._thinking = thinking
        self._chunking = chunking or Chunking()
        self.requests: list[ModelRequest] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def thinking(self) -> bool | None:
        return self._thinking

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        snap = _snapshot(request)
        self.requests.append(snap)
        result: Any = self._fn(list(request.messages), snap)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, str):
            result = Step(text=result)
        if not isinstance(result, Step):
            raise TypeError(f"FunctionModel function must return a Step or str, got {result!r}")
        events = stream_step(result, model_name=self._name,
                             prompt_chars=_prompt_chars(request.messages), chunking=self._chunking)
        async with aclosing(events):
            async for event in events:
                yield event
