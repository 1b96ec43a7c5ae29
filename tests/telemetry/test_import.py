"""`import agentkit` (and an uninstrumented run) never imports opentelemetry; instrumented
with no SDK configured, a run works and nothing is recorded or sent."""

from __future__ import annotations

import subprocess
import sys


def run_probe(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    return out.stdout.strip()


def test_import_and_uninstrumented_run_stay_light() -> None:
    code = (
        "import sys, anyio, agentkit, agentkit.telemetry, agentkit.tau2, agentkit.sandbox\n"
        "from agentkit import Agent\n"
        "from agentkit.testing import ScriptedModel, reply\n"
        "r = anyio.run(Agent(ScriptedModel([reply('hi')])).run, 'x')\n"
        "assert r.output == 'hi'\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n")
    assert run_probe(code) == "[]"


def test_instrumented_without_an_sdk_is_a_quiet_no_op() -> None:
    code = (
        "import sys, anyio\n"
        "from agentkit import Agent, telemetry, tool\n"
        "from agentkit.testing import ScriptedModel, call, reply, tool_step\n"
        "from opentelemetry import trace\n"
        "telemetry.instrument()\n"
        "@tool\n"
        "def boom() -> str:\n"
        "    '''Fails.'''\n"
        "    raise ValueError('x')\n"
        "m = ScriptedModel([tool_step(call('boom', {})), reply('ok')])\n"
        "r = anyio.run(Agent(m, None, [boom]).run, 'x')\n"
        "assert r.output == 'ok' and r.tool_calls[0].error_type == 'ValueError'\n"
        "assert type(trace.get_tracer_provider()).__name__ == 'ProxyTracerProvider'\n"
        "print('opentelemetry.sdk' in sys.modules)\n"
        # an SDK configured later (the global provider) is picked up by the next run
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import "
        "InMemorySpanExporter\n"
        "exp = InMemorySpanExporter(); tp = TracerProvider()\n"
        "tp.add_span_processor(SimpleSpanProcessor(exp)); trace.set_tracer_provider(tp)\n"
        "anyio.run(Agent(ScriptedModel([reply('ok')])).run, 'x')\n"
        "print(sorted(s.name for s in exp.get_finished_spans()))\n")
    assert run_probe(code).splitlines() == ["False", "['chat scripted', 'invoke_agent agent']"]
