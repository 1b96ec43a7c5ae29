"""CPU cost of the agent loop per step, against two baselines measured in the same run.

A 10-step tool loop against the loopback server (run in a child process, so only the
client's CPU is counted). Each step is shaped like a real Thinking-mode stream: about 40
reasoning deltas, then one tool call in about 6 argument fragments (DashScope's shape).

- agentkit: `Agent` + `OpenAICompatModel` (the real thing: events, validation, transcript).
- openai-sdk: a minimal hand-written loop on `AsyncOpenAI(...).chat.completions.create(
  stream=True)`.
- httpx-floor: a minimal loop on plain httpx that reads the SSE lines (`aiter_lines`) and
  parses them itself with `json`; httpx-orjson: the same splitting raw bytes and parsing
  with orjson — the strongest floor, and the one the ratio is taken against.

Two telemetry rows: agentkit instrumented (`agentkit.telemetry.instrument`) with the
OpenTelemetry SDK and in-memory exporters, and instrumented with no SDK configured (the API's
no-op providers); each is compared with the uninstrumented agentkit row of the same round.

Then 500 concurrent agentkit runs in one process: wall time and peak memory per run; and
the memory per run in flight (peak RSS growth ÷ runs, each in a fresh process) of agentkit
and the two minimal loops at 50 and 500 concurrent runs (`--memory 50,500`).

    .venv/bin/python benchmarks/loop_overhead.py [--runs 30] [--rounds 6] [--concurrent 500]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import anyio

HERE = Path(__file__).resolve().parent
STEPS_PER_RUN = 10
TOOL_ARGS = {"query": "flights from Paris to Tokyo", "date": "2024-05-20", "passengers": 2,
             "cabin": "economy", "flexible": True}


def lookup(query: str, date: str, passengers: int, cabin: str, flexible: bool) -> str:
    return "3 flights found"


TOOL_SPEC = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Search flights.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}, "date": {"type": "string"},
                           "passengers": {"type": "integer"}, "cabin": {"type": "string"},
                           "flexible": {"type": "boolean"}},
            "required": ["query", "date", "passengers", "cabin", "flexible"],
        },
    },
}


# ---------------------------------------------------------------- baselines (minimal loops)
def _append_step(messages: list[dict[str, Any]], content: list[str],
                 calls: dict[int, dict[str, Any]]) -> None:
    """Append the assistant turn and the results of its calls (run inline)."""
    tool_calls = [{"id": c["id"], "type": "function",
                   "function": {"name": c["name"], "arguments": "".join(c["args"])}}
                  for c in calls.values()]
    messages.append({"role": "assistant", "content": "".join(content), "tool_calls": tool_calls})
    for c in tool_calls:
        args = json.loads(c["function"]["arguments"])
        messages.append({"role": "tool", "tool_call_id": c["id"], "content": lookup(**args)})


async def openai_sdk_run(client: Any, prompt: str) -> int:
    """A minimal loop on the SDK's streaming client (one client shared by all runs)."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    steps = 0
    while True:
        steps += 1
        stream = await client.chat.completions.create(
            model="qwen3-max", messages=messages, tools=[TOOL_SPEC], stream=True,  # type: ignore[list-item]
            stream_options={"include_usage": True},
            extra_body={"enable_thinking": True})
        reasoning, content, calls = [], [], {}  # type: ignore[var-annotated]
        async for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            extra = delta.model_extra or {}
            if extra.get("reasoning_content"):
                reasoning.append(extra["reasoning_content"])
            if delta.content:
                content.append(delta.content)
            for tc in delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": "", "name": "", "args": []})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function and tc.function.name:
                    slot["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    slot["args"].append(tc.function.arguments)
        if not calls:
            return steps
        _append_step(messages, content, calls)


async def httpx_floor_run(client: Any, prompt: str, fast: bool = False) -> int:
    """The floor: plain httpx, SSE lines split and parsed by hand.

    `fast=False` reads `aiter_lines()` and parses with `json`; `fast=True` splits
    `aiter_bytes()` itself and parses with orjson (the strongest minimal floor). One
    `httpx.AsyncClient` is shared by all runs, as agentkit shares its connection pool.
    """
    import orjson

    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    steps = 0
    while True:
        steps += 1
        body = {"model": "qwen3-max", "messages": messages, "tools": [TOOL_SPEC],
                "stream": True, "stream_options": {"include_usage": True},
                "enable_thinking": True}
        reasoning, content, calls = [], [], {}  # type: ignore[var-annotated]
        async with client.stream("POST", "/chat/completions", json=body) as resp:
            async for line in (_byte_lines(resp) if fast else resp.aiter_lines()):
                if not line.startswith(_DATA[fast]) or line == _DONE[fast]:
                    continue
                chunk = orjson.loads(line[6:]) if fast else json.loads(line[6:])
                if not chunk["choices"]:
                    continue
                delta = chunk["choices"][0]["delta"]
                if delta.get("reasoning_content"):
                    reasoning.append(delta["reasoning_content"])
                if delta.get("content"):
                    content.append(delta["content"])
                for tc in delta.get("tool_calls") or []:
                    slot = calls.setdefault(tc["index"], {"id": "", "name": "", "args": []})
                    fn = tc.get("function") or {}
                    if tc.get("id"):
                        slot["id"] = tc["id"]
                    if fn.get("name"):
                        slot["name"] = fn["name"]
                    if fn.get("arguments"):
                        slot["args"].append(fn["arguments"])
        if not calls:
            return steps
        _append_step(messages, content, calls)


_DATA = {False: "data: ", True: b"data: "}
_DONE = {False: "data: [DONE]", True: b"data: [DONE]"}


async def _byte_lines(resp: Any) -> Any:
    rest = b""
    async for block in resp.aiter_bytes():
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line
    if rest:
        yield rest


# ---------------------------------------------------------------- agentkit
def make_agent(base_url: str) -> Any:
    from agentkit import Agent, tool
    from agentkit.models import OpenAICompatModel

    model = OpenAICompatModel("qwen3-max", base_url=base_url, api_key="bench", profile="dashscope")
    return Agent(model, None, [tool(lookup)], max_steps=STEPS_PER_RUN + 2)


async def agentkit_run(agent: Any, prompt: str) -> int:
    result = await agent.run(prompt)
    return int(result.steps)


# ---------------------------------------------------------------- telemetry rows
TELEMETRY_ROWS = ("otel-sdk", "otel-no-sdk")


def telemetry_loops(agent: Any) -> list[tuple[str, Any]]:
    """The agentkit loop instrumented: with the SDK (in-memory span exporter and metric
    reader, spans cleared after each run), and with no SDK configured (global providers)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentkit import telemetry
    from agentkit.telemetry import hooks

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    telemetry.instrument(tracer_provider, meter_provider)
    with_sdk = hooks._active
    telemetry.instrument()
    no_sdk = hooks._active
    telemetry.uninstrument()  # the plain "agentkit" row runs uninstrumented

    def instrumented(inst: Any) -> Any:
        async def run(prompt: str) -> int:
            hooks._active = inst  # switched per run, so instrument() is not in the figure
            try:
                return await agentkit_run(agent, prompt)
            finally:
                hooks._active = None
                exporter.clear()
        return run

    return [("otel-sdk", instrumented(with_sdk)), ("otel-no-sdk", instrumented(no_sdk))]


def telemetry_ratios(rounds: dict[str, list[dict[str, float]]]) -> dict[str, float]:
    """CPU per step of each telemetry row over the plain agentkit row (median per round)."""
    return {name: statistics.median(
        r["cpu_ms_per_step"] / a["cpu_ms_per_step"]
        for r, a in zip(rounds[name], rounds["agentkit"], strict=True))
        for name in TELEMETRY_ROWS}


def print_telemetry(res: dict[str, Any]) -> None:
    for name in TELEMETRY_ROWS:
        r = res[name]
        print(f"{name:<14}{r['cpu_ms_per_step']:>12.2f}{r['wall_ms_per_step']:>14.2f}"
              f"{r['ratio']:>9.2f}   {res['telemetry'][name]:.3f}× agentkit CPU")


# ---------------------------------------------------------------- measurement
async def measure(name: str, fn: Any, runs: int) -> dict[str, float]:
    await fn("warm-up")
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    steps = 0
    for i in range(runs):
        steps += await fn(f"run {i}")
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    assert steps == runs * STEPS_PER_RUN, (name, steps)
    return {"cpu_ms_per_step": 1000 * cpu / steps, "wall_ms_per_step": 1000 * wall / steps}


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def concurrent(agent: Any, n: int, trace: bool) -> dict[str, float]:
    """`n` runs at once. Untraced: wall time and peak RSS growth; traced: Python heap peak."""
    await agent.run("warm-up")
    gc.collect()
    peak_rss, base_rss = 0, rss_kb()
    stop = anyio.Event()

    async def sample() -> None:
        nonlocal peak_rss
        while not stop.is_set():
            peak_rss = max(peak_rss, rss_kb())
            await anyio.sleep(0.005)

    if trace:
        tracemalloc.start()
    t0, cpu0 = time.perf_counter(), time.process_time()
    steps: list[int] = []

    async def one(i: int) -> None:
        steps.append(await agentkit_run(agent, f"concurrent {i}"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(sample)
        async with anyio.create_task_group() as runs:
            for i in range(n):
                runs.start_soon(one, i)
        stop.set()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert len(steps) == n and all(s == STEPS_PER_RUN for s in steps)
    if trace:
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {"traced_peak_kb_per_run": traced_peak / 1024 / n}
    return {"wall_s": wall, "cpu_ms_per_step": 1000 * cpu / (n * STEPS_PER_RUN),
            "rss_peak_kb_per_run": (peak_rss - base_rss) / n}


async def _memory(kind: str, n: int, base_url: str) -> float:
    """RSS growth ÷ runs in flight: `n` runs of `kind` at once, after one warm-up run."""
    import httpx
    from openai import AsyncOpenAI

    closers: list[Any] = []
    if kind == "agentkit":
        agent = make_agent(base_url)
        fn: Any = lambda p: agentkit_run(agent, p)  # noqa: E731
        closers.append(agent.resolved_model().aclose)
    elif kind == "openai-sdk":
        sdk = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
        fn = lambda p: openai_sdk_run(sdk, p)  # noqa: E731
        closers.append(sdk.close)
    else:
        plain = httpx.AsyncClient(base_url=base_url, timeout=60,
                                  limits=httpx.Limits(max_connections=1000))
        fn = lambda p: httpx_floor_run(plain, p, fast=True)  # noqa: E731
        closers.append(plain.aclose)
    await fn("warm-up")
    gc.collect()
    base = peak = rss_kb()
    stop = anyio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_kb())
            await anyio.sleep(0.005)

    steps: list[int] = []

    async def one(i: int) -> None:
        steps.append(await fn(f"concurrent {i}"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(sample)
        async with anyio.create_task_group() as runs:
            for i in range(n):
                runs.start_soon(one, i)
        stop.set()
    assert steps == [STEPS_PER_RUN] * n
    for close in closers:
        await close()
    return (peak - base) / n


def memory_per_run(kind: str, n: int, base_url: str) -> float:
    """`_memory` in a fresh interpreter, so no earlier run's high-water mark hides growth."""
    import subprocess

    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", kind, "--concurrent", str(n),
         "--base-url", base_url], check=True, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
            str(HERE.parent), os.environ.get("PYTHONPATH")]))})
    return float(out.stdout.strip().splitlines()[-1])


MEMORY_KINDS = ("httpx-orjson", "openai-sdk", "agentkit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrent", type=int, default=500)
    parser.add_argument("--memory", default="50,500",
                        help="runs in flight for the memory-per-run figures ('' to skip)")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        print(anyio.run(_memory, args.memory_child, args.concurrent, args.base_url))
        return

    from agentkit.testing import Chunking, LoopbackServer

    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])
    chunking = Chunking(reasoning_parts=40, argument_parts=6)
    server = LoopbackServer(responder="_bench_responder:ten_step_loop", chunking=chunking,
                            record=False, process=True)
    with server:
        base = server.base_url

        async def run_all() -> dict[str, Any]:
            import httpx
            from openai import AsyncOpenAI

            agent = make_agent(base)
            sdk = AsyncOpenAI(base_url=base, api_key="bench", max_retries=0)
            plain = httpx.AsyncClient(base_url=base, timeout=30)
            out: dict[str, Any] = {}
            # interleave the three so drift on the machine hits each alike
            # Interleaved rounds, so drift on the machine hits each loop alike; each figure is
            # the median over rounds, and the ratio the median of per-round ratios.
            rounds: dict[str, list[dict[str, float]]] = {}
            extra = telemetry_loops(agent)
            for _ in range(args.rounds):
                for name, fn in (
                    ("httpx-floor", lambda p: httpx_floor_run(plain, p)),
                    ("httpx-orjson", lambda p: httpx_floor_run(plain, p, fast=True)),
                    ("openai-sdk", lambda p: openai_sdk_run(sdk, p)),
                    ("agentkit", lambda p: agentkit_run(agent, p)),
                    *extra,
                ):
                    r = await measure(name, fn, max(1, args.runs // args.rounds))
                    rounds.setdefault(name, []).append(r)
            for name, rs in rounds.items():
                out[name] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                out[name]["ratio"] = statistics.median(
                    r["cpu_ms_per_step"] / f["cpu_ms_per_step"]
                    for r, f in zip(rs, rounds["httpx-orjson"], strict=True))
            out["telemetry"] = telemetry_ratios(rounds)
            await sdk.close()
            await plain.aclose()
            if args.concurrent:
                out["concurrent"] = await concurrent(agent, args.concurrent, trace=False)
                out["concurrent"].update(await concurrent(agent, args.concurrent, trace=True))
            return out

        res = anyio.run(run_all)
        memory = {(kind, int(n)): memory_per_run(kind, int(n), base)
                  for n in filter(None, args.memory.split(",")) for kind in MEMORY_KINDS}

    print(f"loop overhead: {STEPS_PER_RUN}-step tool loop, ~40 reasoning deltas + 1 call in 6 "
          f"fragments per step, {args.runs} runs each (python {sys.version.split()[0]})")
    print(f"{'loop':<14}{'CPU ms/step':>12}{'wall ms/step':>14}{'× floor':>9}"
          "   (floor: httpx-orjson, the fastest minimal loop)")
    for name in ("httpx-orjson", "httpx-floor", "openai-sdk", "agentkit"):
        r = res[name]
        print(f"{name:<14}{r['cpu_ms_per_step']:>12.2f}{r['wall_ms_per_step']:>14.2f}"
              f"{r['ratio']:>9.2f}")
    print_telemetry(res)
    sdk = res["openai-sdk"]["cpu_ms_per_step"]
    print(f"agentkit vs openai-sdk loop: {res['agentkit']['cpu_ms_per_step'] / sdk:.2f}× "
          f"(medians over {args.rounds} interleaved rounds)")
    if "concurrent" in res:
        c = res["concurrent"]
        print(f"{args.concurrent} concurrent runs ({STEPS_PER_RUN} steps each): "
              f"wall {c['wall_s']:.2f} s, client CPU {c['cpu_ms_per_step']:.2f} ms/step, "
              f"peak RSS growth {c['rss_peak_kb_per_run']:.1f} KB/run, "
              f"peak traced Python heap {c['traced_peak_kb_per_run']:.1f} KB/run "
              "(a separate traced pass)")
    for n in sorted({n for _, n in memory}):
        figures = ", ".join(f"{kind} {memory[kind, n]:.0f} KB" for kind in MEMORY_KINDS)
        print(f"memory per run in flight, {n} concurrent runs (RSS growth ÷ runs, fresh "
              f"process each): {figures}")


if __name__ == "__main__":
    main()
