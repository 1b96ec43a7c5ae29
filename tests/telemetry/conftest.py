"""The OpenTelemetry SDK's in-memory exporters, installed for one test at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentkit import telemetry
from agentkit.models import OpenAICompatModel
from agentkit.testing import LoopbackServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Captured:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name.startswith(prefix)]

    def one(self, prefix: str) -> ReadableSpan:
        (span,) = self.named(prefix)
        return span

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        pid = parent.context.span_id
        return [s for s in self.spans() if s.parent is not None and s.parent.span_id == pid]

    def metrics(self) -> dict[str, list[Any]]:
        """Metric name -> its data points."""
        data = self.reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out.setdefault(metric.name, []).extend(metric.data.data_points)
        return out


def install(capture_content: bool = False) -> Captured:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry.instrument(tracer_provider, meter_provider, capture_content=capture_content)
    return Captured(exporter, reader, tracer_provider)


@pytest.fixture
def otel() -> Iterator[Captured]:
    yield install()
    telemetry.uninstrument()


@pytest.fixture
def otel_content() -> Iterator[Captured]:
    yield install(capture_content=True)
    telemetry.uninstrument()


ModelFactory = Callable[..., OpenAICompatModel]


@pytest.fixture
async def http_model() -> AsyncIterator[ModelFactory]:
    """`http_model(server, api_key=..., **kw)`: a DashScope-profile model on a loopback
    server, its connection pool closed on the test's own event loop."""
    made: list[OpenAICompatModel] = []

    def factory(server: LoopbackServer, api_key: str = "test", **kw: Any) -> OpenAICompatModel:
        model = OpenAICompatModel("qwen3-max", base_url=server.base_url, api_key=api_key,
                                  profile="dashscope", **kw)
        made.append(model)
        return model

    yield factory
    for model in made:
        await model.aclose()
