"""The OpenTelemetry observer: spans and metrics of runs, model requests and tool calls.

Imported only by `agentkit.telemetry.instrument()`. Span tree of one run::

    invoke_agent {agent}            run totals under agentkit.run.*
      chat {model}                  one per request attempt (a retry is a new span)
      execute_tool {tool}           one per executed call; current while the tool runs
        sandbox.exec python         (from inside the tool: sandbox, MCP, ... via `span()`)

The run and chat spans are never made current (the loop is an async generator that yields
between their start and end); their parent is explicit. A tool span is current only inside
the task running the tool, between `tool_start` and `tool_end`, where nothing yields.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import AbstractContextManager, aclosing, contextmanager
from typing import Any

import orjson
from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ..errors import ModelAPIError
from ..models.base import ModelRequest, ModelResponse, ModelStreamEvent
from . import conventions as c
from .hooks import NOOP, AttributeValue, RunObserver
from .metrics import Metrics

__all__ = ["Instrumentation", "OTelRunObserver"]

_SCOPE = "agentkit"


def _cancel_types() -> tuple[type[BaseException], ...]:
    import anyio

    return (GeneratorExit, anyio.get_cancelled_exc_class())


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("agentkit")
    except Exception:
        return "0"


class Instrumentation:
    """The installed configuration: tracer, instruments and content settings."""

    def __init__(self, tracer_provider: Any, meter_provider: Any, capture_content: bool,
                 content_limit: int) -> None:
        version = _version()
        self.tracer_provider, self.meter_provider = tracer_provider, meter_provider
        self.tracer = trace.get_tracer(_SCOPE, version, tracer_provider=tracer_provider)
        meter = otel_metrics.get_meter(_SCOPE, version, meter_provider=meter_provider)
        self.metrics = Metrics(meter)
        self.capture_content = capture_content
        self.content_limit = content_limit

    def observer(self, run: Any) -> RunObserver:
        """The observer of a new run: the no-op one while no SDK is configured."""
        if self.no_sdk():
            return NOOP
        return OTelRunObserver(self, run)

    def no_sdk(self) -> bool:
        """True while both providers are the API's no-op (or not-yet-configured) ones: a
        run then records nothing, so it skips the observer (and costs what it does off)."""
        tp = self.tracer_provider or trace.get_tracer_provider()
        mp = self.meter_provider or otel_metrics.get_meter_provider()
        return (isinstance(tp, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))
                and (isinstance(mp, otel_metrics.NoOpMeterProvider)
                     or type(mp).__name__ == "_ProxyMeterProvider"))

    def current_span(self) -> Any:
        return trace.get_current_span()

    def clip(self, text: str) -> str:
        limit = self.content_limit
        if len(text) <= limit:
            return text
        return f"{text[:limit]}… [{len(text) - limit} more characters]"

    def span(self, name: str, attributes: Mapping[str, AttributeValue] | None = None,
             ) -> AbstractContextManager[Any]:
        return self._span(name, attributes)

    @contextmanager
    def _span(self, name: str, attributes: Mapping[str, AttributeValue] | None) -> Iterator[Any]:
        span = self.tracer.start_span(name, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield span
        except BaseException as exc:
            fail(span, exc)
            raise
        finally:
            otel_context.detach(token)
            span.end()


def fail(span: Any, exc: BaseException) -> str:
    """Mark `span` failed by `exc`; returns the `error.type` set."""
    if isinstance(exc, _cancel_types()):
        span.set_attribute(c.ERROR_TYPE, c.CANCELLED)
        span.set_status(Status(StatusCode.ERROR, "cancelled"))
        return c.CANCELLED
    kind = c.error_type(exc)
    if isinstance(exc, ModelAPIError):
        if exc.status_code is not None:
            span.set_attribute(c.HTTP_STATUS, exc.status_code)
            kind = str(exc.status_code)
        span.set_attribute(c.RETRYABLE, exc.retryable)
    span.set_attribute(c.ERROR_TYPE, kind)
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
    return kind


class OTelRunObserver(RunObserver):
    """Spans and metrics of one run (see the module docstring for the tree)."""

    __slots__ = ("capture", "ctx", "inst", "invalid", "metric_attrs", "recording",
                 "request_attrs", "result", "run", "span", "started", "tool_errors")

    def __init__(self, inst: Instrumentation, run: Any) -> None:
        self.inst = inst
        self.run = run
        self.capture = inst.capture_content
        self.result: Any = None
        self.invalid = 0
        self.tool_errors = 0
        self.request_attrs = c.request_attributes(run.model, run.agent.settings, run.thinking)
        self.metric_attrs = {k: self.request_attrs[k]
                             for k in (c.OPERATION, c.PROVIDER, c.REQUEST_MODEL)}

    # ------------------------------------------------------------------ the run
    def run_start(self) -> None:
        run = self.run
        attrs: dict[str, Any] = {
            c.OPERATION: "invoke_agent", c.AGENT_NAME: run.agent.name,
            c.PROVIDER: self.request_attrs[c.PROVIDER],
            c.REQUEST_MODEL: self.request_attrs[c.REQUEST_MODEL], c.RUN_ID: run.ctx.run_id}
        if run.output is not None:
            attrs[c.RUN_OUTPUT_TYPE] = getattr(run.agent.output_type, "__name__",
                                               str(run.agent.output_type))
        if self.capture:
            if run.agent.instructions:
                attrs[c.SYSTEM_INSTRUCTIONS] = self.inst.clip(run.agent.instructions)
            attrs[c.INPUT_MESSAGES] = c.messages_json(run.messages, self.inst.clip)
        self.span = self.inst.tracer.start_span(f"invoke_agent {run.agent.name}",
                                                kind=SpanKind.INTERNAL, attributes=attrs)
        self.recording = self.span.is_recording()
        self.ctx = trace.set_span_in_context(self.span)
        self.started = time.perf_counter()

    def run_result(self, result: Any) -> None:
        self.result = result
        if self.capture and self.recording:
            output = result.output
            text = output if isinstance(output, str) else orjson.dumps(
                output, default=lambda o: o.model_dump(mode="json") if hasattr(
                    o, "model_dump") else str(o)).decode()
            self.span.set_attribute(c.OUTPUT_MESSAGES, orjson.dumps(
                [{"role": "assistant", "parts": [{"type": "text",
                                                  "content": self.inst.clip(text)}]}]).decode())

    def run_error(self, exc: BaseException) -> None:
        if isinstance(exc, GeneratorExit) and self.result is not None:
            return  # the consumer stopped after the result: not a failure
        kind = fail(self.span, exc)
        attrs = {**self.metric_attrs, c.OPERATION: "invoke_agent", c.ERROR_TYPE: kind}
        self.inst.metrics.duration.record(time.perf_counter() - self.started, attrs)
        self.started = -1.0

    def run_end(self) -> None:
        run, span = self.run, self.span
        if self.recording:
            u = run.usage
            span.set_attributes({
                c.RUN_STEPS: run.step, c.RUN_REQUESTS: u.requests,
                c.RUN_INPUT_TOKENS: u.input_tokens, c.RUN_OUTPUT_TOKENS: u.output_tokens,
                c.RUN_REASONING_TOKENS: u.reasoning_tokens, c.RUN_CACHED_TOKENS: u.cached_tokens,
                c.RUN_TOOL_CALLS: len(run.records), c.RUN_TOOL_ERRORS: self.tool_errors,
                c.RUN_INVALID_CALLS: self.invalid})
        if self.started >= 0:
            attrs = {**self.metric_attrs, c.OPERATION: "invoke_agent"}
            self.inst.metrics.duration.record(time.perf_counter() - self.started, attrs)
        span.end()

    def event(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> None:
        if name == "agentkit.invalid_tool_call":
            self.invalid += 1
        self.span.add_event(name, attributes)

    # ------------------------------------------------------------------ model requests
    async def chat(self, stream: AsyncGenerator[ModelStreamEvent, None], request: ModelRequest,
                   attempt: int) -> AsyncGenerator[ModelStreamEvent, None]:
        span = None
        if self.recording:
            attrs = {**self.request_attrs, c.STEP: self.run.step, c.RETRIES: attempt}
            if request.thinking is not None:  # this step's mode (a mode policy may switch it)
                attrs[c.THINKING] = request.thinking
                attrs[c.MODE] = "thinking" if request.thinking else "instruct"
            model_for = getattr(self.run.model, "model_for", None)  # e.g. its instruct_model
            if model_for is not None:
                attrs[c.REQUEST_MODEL] = str(model_for(request, request.thinking))
            elif request.model:
                attrs[c.REQUEST_MODEL] = request.model
            if request.settings.thinking_budget is not None:
                attrs[c.THINKING_BUDGET] = request.settings.thinking_budget
            if self.capture:
                attrs[c.INPUT_MESSAGES] = c.messages_json(request.messages, self.inst.clip)
            span = self.inst.tracer.start_span(f"chat {attrs[c.REQUEST_MODEL]}", self.ctx,
                                               kind=SpanKind.CLIENT, attributes=attrs)
        started = time.perf_counter()
        response: ModelResponse | None = None
        try:
            async with aclosing(stream):
                async for ev in stream:
                    if type(ev) is ModelResponse:
                        response = ev
                    yield ev
        except BaseException as exc:
            kind = fail(span, exc) if span is not None else c.error_type(exc)
            self.inst.metrics.duration.record(time.perf_counter() - started,
                                              {**self.metric_attrs, c.ERROR_TYPE: kind})
            if span is not None:
                span.end()
            raise
        self._response(span, response, time.perf_counter() - started)

    def _response(self, span: Any, response: ModelResponse | None, duration: float) -> None:
        attrs = dict(self.metric_attrs)
        if response is not None and response.model_name:
            attrs[c.RESPONSE_MODEL] = response.model_name
        self.inst.metrics.duration.record(duration, attrs)
        if response is None:
            if span is not None:
                span.end()
            return
        u = response.usage
        record = self.inst.metrics.token_usage.record
        record(u.input_tokens, {**attrs, c.TOKEN_TYPE: "input"})
        record(u.output_tokens, {**attrs, c.TOKEN_TYPE: "output"})
        if span is None:
            return
        message = response.message
        out: dict[str, Any] = {
            c.INPUT_TOKENS: u.input_tokens, c.OUTPUT_TOKENS: u.output_tokens,
            c.REASONING_TOKENS: u.reasoning_tokens, c.CACHED_TOKENS: u.cached_tokens,
            c.FINISH_REASONS: (message.finish_reason,) if message.finish_reason else ()}
        if response.model_name:
            out[c.RESPONSE_MODEL] = response.model_name
        response_id = getattr(response, "response_id", None)
        if response_id:
            out[c.RESPONSE_ID] = response_id
        if self.capture:
            out[c.OUTPUT_MESSAGES] = c.messages_json([message], self.inst.clip)
        span.set_attributes(out)
        span.end()

    # ------------------------------------------------------------------ tool calls
    def tool_start(self, call: Any) -> Any:
        started = time.perf_counter()
        if not self.recording:
            return (None, None, started)
        attrs: dict[str, Any] = {c.OPERATION: "execute_tool", c.TOOL_NAME: call.name,
                                 c.TOOL_CALL_ID: call.id, c.TOOL_TYPE: "function",
                                 c.STEP: self.run.step}
        if self.capture:
            attrs[c.TOOL_ARGUMENTS] = self.inst.clip(orjson.dumps(call.args or {}).decode())
        span = self.inst.tracer.start_span(f"execute_tool {call.name}", self.ctx,
                                           kind=SpanKind.INTERNAL, attributes=attrs)
        token = otel_context.attach(trace.set_span_in_context(span))
        return (span, token, started)

    def tool_end(self, handle: Any, call: Any) -> None:
        span, token, started = handle
        if token is not None:
            otel_context.detach(token)
        kind: str | None = None
        if call.error_type == c.CANCELLED:
            kind = c.CANCELLED
            if span is not None:
                span.set_attribute(c.ERROR_TYPE, kind)
                span.set_status(Status(StatusCode.ERROR, "cancelled"))
        elif call.exc is not None:
            kind = fail(span, call.exc) if span is not None else c.error_type(call.exc)
        elif call.is_error:
            kind = call.error_type or "tool_error"
            if span is not None:
                span.set_attribute(c.ERROR_TYPE, kind)
                span.set_status(Status(StatusCode.ERROR, kind))
        metrics = self.inst.metrics
        attrs: dict[str, Any] = {c.TOOL_NAME: call.name}
        if kind is not None:
            attrs[c.ERROR_TYPE] = kind
            self.tool_errors += 1
            metrics.tool_errors.add(1, attrs)
        metrics.tool_duration.record(time.perf_counter() - started, attrs)
        if span is not None:
            span.set_attribute(c.TOOL_IS_ERROR, kind is not None)
            if self.capture and call.output:
                span.set_attribute(c.TOOL_RESULT, self.inst.clip(call.output))
            span.end()
