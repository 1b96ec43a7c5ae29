"""A real OTLP/HTTP export: the SDK's OTLP exporters send a run's spans and metrics to a
receiver on 127.0.0.1, which decodes the protobuf payloads with `opentelemetry-proto`."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from agentkit import Agent, telemetry, tool
from agentkit.models import OpenAICompatModel
from agentkit.testing import LoopbackServer, call, reply, tool_step

pytestmark = pytest.mark.anyio


class Receiver:
    """An OTLP/HTTP collector stand-in: keeps every decoded export request."""

    def __init__(self) -> None:
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []
        self.content_types: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.content_types.add(self.headers.get("Content-Type", ""))
                reply: Any
                if self.path == "/v1/traces":
                    receiver.traces.append(ExportTraceServiceRequest.FromString(body))
                    reply = ExportTraceServiceResponse()
                elif self.path == "/v1/metrics":
                    receiver.metrics.append(ExportMetricsServiceRequest.FromString(body))
                    reply = ExportMetricsServiceResponse()
                else:
                    self.send_error(404)
                    return
                out = reply.SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def spans(self) -> list[Span]:
        return [s for req in self.traces for rs in req.resource_spans
                for ss in rs.scope_spans for s in ss.spans]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def attrs(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        v = kv.value
        kind = v.WhichOneof("value")
        out[kv.key] = ([x.string_value for x in v.array_value.values] if kind == "array_value"
                       else getattr(v, kind))
    return out


@tool
def double(n: int) -> int:
    """Double a number."""
    if n < 0:
        raise ValueError("negative")
    return 2 * n


async def test_spans_and_metrics_arrive_whole_over_otlp_http(receiver: Receiver,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    resource = Resource.create({"service.name": "agentkit-test"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces")))
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{receiver.url}/v1/metrics"), export_interval_millis=60_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    telemetry.instrument(tracer_provider, meter_provider)
    try:
        steps = [tool_step(call("double", {"n": 21}), call("double", {"n": -1}),
                           thinking="double them"),
                 reply("42", thinking="done")]
        async with LoopbackServer(steps) as server:
            model = OpenAICompatModel("qwen3-max", base_url=server.base_url, api_key="k",
                                      profile="dashscope")
            try:
                result = await Agent(model, None, [double], name="doubler").run("double 21")
            finally:
                await model.aclose()
        assert result.output == "42"
        assert tracer_provider.force_flush(10_000) and meter_provider.force_flush(10_000)
    finally:
        telemetry.uninstrument()
        tracer_provider.shutdown()
        meter_provider.shutdown()

    assert receiver.content_types == {"application/x-protobuf"}
    spans = receiver.spans()
    by_name: dict[str, list[Span]] = {}
    for s in spans:
        by_name.setdefault(s.name, []).append(s)
    assert sorted(by_name) == ["chat qwen3-max", "execute_tool double", "invoke_agent doubler"]
    (run,) = by_name["invoke_agent doubler"]
    assert len(by_name["chat qwen3-max"]) == 2 and len(by_name["execute_tool double"]) == 2
    trace_ids = {s.trace_id for s in spans}
    assert len(trace_ids) == 1 and len(run.trace_id) == 16 and run.parent_span_id == b""
    for s in spans:
        if s is not run:
            assert s.parent_span_id == run.span_id
        assert s.end_time_unix_nano >= s.start_time_unix_nano > 0
    assert run.kind == Span.SPAN_KIND_INTERNAL
    assert {s.kind for s in by_name["chat qwen3-max"]} == {Span.SPAN_KIND_CLIENT}
    ra = attrs(run)
    assert ra["gen_ai.agent.name"] == "doubler" and ra["agentkit.run.steps"] == 2
    assert ra["agentkit.run.tool_errors"] == 1 and ra["agentkit.run.id"] == result.run_id
    chat = attrs(by_name["chat qwen3-max"][0])
    assert chat["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert chat["gen_ai.usage.output_tokens"] > 0 and chat["agentkit.request.thinking"] is True
    (failed_span,) = [s for s in by_name["execute_tool double"]
                      if s.status.code == Status.STATUS_CODE_ERROR]
    assert attrs(failed_span)["error.type"] == "ValueError"
    (event,) = failed_span.events
    ev = {kv.key: kv.value.string_value for kv in event.attributes}
    assert event.name == "exception" and ev["exception.message"] == "negative"
    assert "raise ValueError" in ev["exception.stacktrace"]
    scope = receiver.traces[0].resource_spans[0].scope_spans[0].scope
    assert scope.name == "agentkit"
    resource_attrs = {kv.key: kv.value.string_value
                      for kv in receiver.traces[0].resource_spans[0].resource.attributes}
    assert resource_attrs["service.name"] == "agentkit-test"

    names = {m.name: m for req in receiver.metrics for rm in req.resource_metrics
             for sm in rm.scope_metrics for m in sm.metrics}
    assert {"gen_ai.client.token.usage", "gen_ai.client.operation.duration",
            "agentkit.tool.duration", "agentkit.tool.errors"} <= set(names)
    usage = names["gen_ai.client.token.usage"]
    assert usage.unit == "{token}" and usage.histogram.data_points
    assert sum(p.count for p in usage.histogram.data_points) == 4  # 2 requests x in/out
    assert names["agentkit.tool.errors"].sum.data_points[0].as_int == 1
