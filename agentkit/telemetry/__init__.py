"""OpenTelemetry traces and metrics of agent runs, on the GenAI semantic conventions.

    from agentkit import telemetry
    telemetry.instrument()            # the global tracer/meter providers the app configured

Spans: `invoke_agent {agent}` per run, parent of `chat {model}` per model request attempt
and `execute_tool {tool}` per call (a sandbox execution inside it); tau2 runs add a span per
simulation. Metrics: `gen_ai.client.token.usage`, `gen_ai.client.operation.duration`,
`agentkit.tool.duration`, `agentkit.tool.errors`. Message content (prompts, reasoning,
answers, tool arguments and results) only with `capture_content=True`, and clipped.

Only `opentelemetry-api` is needed (`pip install 'agentkit[otel]'`); it is imported by
`instrument()`, never by `import agentkit`. Nothing is sent anywhere unless the application
configures an SDK with exporters. `span`, `annotate` and `add_event` let features and tools
add their own spans, attributes and events (no-ops while instrumentation is off).
"""

from __future__ import annotations

from typing import Any

from . import hooks
from .hooks import AttributeValue, SpanLike, add_event, annotate, capture_content, clip, span

__all__ = [
    "AttributeValue",
    "SpanLike",
    "add_event",
    "annotate",
    "capture_content",
    "clip",
    "instrument",
    "is_instrumented",
    "span",
    "uninstrument",
]


def instrument(tracer_provider: Any = None, meter_provider: Any = None, *,
               capture_content: bool = False, content_limit: int = 4096) -> None:
    """Turn instrumentation on for every agent in the process (replacing an earlier call).

    `tracer_provider` / `meter_provider`: None uses OpenTelemetry's global providers (also
    ones set later). `capture_content`: record prompts, reasoning, answers, tool arguments
    and results, each text clipped to `content_limit` characters. An agent built with
    `Agent(..., instrument=False)` stays silent.
    """
    if content_limit < 1:
        raise ValueError("content_limit must be at least 1")
    try:
        from .otel import Instrumentation
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("agentkit.telemetry needs opentelemetry-api: "
                          "pip install 'agentkit[otel]'") from exc
    hooks._active = Instrumentation(tracer_provider, meter_provider, capture_content,
                                    content_limit)


def uninstrument() -> None:
    """Turn instrumentation off (runs already going finish their spans)."""
    hooks._active = None


def is_instrumented() -> bool:
    """Whether `instrument()` is in effect."""
    return hooks._active is not None
