"""What agentkit adds to an MCP tool call, against the official SDK's own client, same run.

The server is the SDK-built test server (`tests/mcp_integration/mcp_test_server.py`, its
`echo` tool), over stdio and over Streamable HTTP on 127.0.0.1. Per transport:

- sdk: `mcp.Client.call_tool("echo", ...)` on its own connection (the baseline).
- agentkit: the path the loop runs for one call of an MCP tool: `Tool.validate` (jsonschema)
  and `Tool.call` -> `MCPServer` -> the SDK session -> the result as text.
- agent run: a whole `Agent.run` (scripted model: one tool step, then the answer) with the
  MCP tool, against the same run with an equivalent local tool (what MCP adds to a run).
- 100 concurrent calls over one connection: wall time, agentkit against the SDK.

Rounds are interleaved; medians are reported.

    .venv/bin/python benchmarks/mcp_overhead.py [--calls 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parent.parent
SERVER = str(ROOT / "tests" / "mcp_integration" / "mcp_test_server.py")
ARGS = {"text": "hello from the benchmark"}


def start_http() -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, SERVER, "http", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the HTTP test server did not start")


async def paired(a: Any, b: Any, n: int) -> tuple[float, float]:
    """Median seconds per call of `a` and of `b`, called alternately `n` times each."""
    ta, tb = [], []
    for i in range(n):
        for fn, times in ((a, ta), (b, tb)) if i % 2 else ((b, tb), (a, ta)):
            t = time.perf_counter()
            await fn()
            times.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


async def concurrent(fn: Any, n: int = 100) -> float:
    t = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(fn)
    return time.perf_counter() - t


async def bench(kind: str, target: Any, calls: int, rounds: int) -> dict[str, float]:
    from mcp import Client, StdioServerParameters

    from agentkit import Agent, RunContext, tool
    from agentkit.mcp import MCPServer
    from agentkit.testing import ScriptedModel, call, reply, tool_step
    from agentkit.usage import Usage

    if kind == "stdio":
        sdk_target: Any = StdioServerParameters(command=sys.executable, args=[SERVER, "stdio"])
        server = MCPServer.stdio(sys.executable, [SERVER, "stdio"])
    else:
        sdk_target, server = target, MCPServer.http(target)

    @tool
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    def run_of(tools: list[Any]) -> Any:
        async def run() -> None:
            model = ScriptedModel([tool_step(call("echo", ARGS)), reply("done")])
            result = await Agent(model, tools=tools).run("echo")
            assert result.tool_calls[0].result == ARGS["text"]
        return run

    out: dict[str, list[float]] = {k: [] for k in
                                   ("sdk", "agentkit", "run_mcp", "run_local", "c_sdk", "c_ak")}
    async with Client(sdk_target) as client, server:
        mcp_tool = {t.name: t for t in await server.list_tools()}["echo"]
        ctx = RunContext(deps=None, run_id="bench", messages=[], usage=Usage(),
                         tool_call_id="c1")

        async def sdk_call() -> None:
            result = await client.call_tool("echo", ARGS)
            assert result.content[0].text == ARGS["text"]

        async def agentkit_call() -> None:
            assert await mcp_tool.call(ctx, mcp_tool.validate(ARGS)) == ARGS["text"]

        for _ in range(10):  # warm up both paths
            await sdk_call()
            await agentkit_call()
        for _ in range(rounds):
            sdk, ak = await paired(sdk_call, agentkit_call, calls)
            out["sdk"].append(sdk)
            out["agentkit"].append(ak)
            local, remote = await paired(run_of([echo]), run_of([server]), calls // 2)
            out["run_local"].append(local)
            out["run_mcp"].append(remote)
            out["c_sdk"].append(await concurrent(sdk_call))
            out["c_ak"].append(await concurrent(agentkit_call))
    return {k: statistics.median(v) for k, v in out.items()}


def report(kind: str, r: dict[str, float]) -> None:
    us = 1e6
    print(f"\n[{kind}]")
    print(f"  one call, sdk Client.call_tool        {r['sdk'] * us:9.0f} us")
    print(f"  one call, agentkit validate+call      {r['agentkit'] * us:9.0f} us   "
          f"ratio {r['agentkit'] / r['sdk']:.3f} (added {(r['agentkit'] / r['sdk'] - 1):+.1%})")
    print(f"  agent run, local echo tool            {r['run_local'] * us:9.0f} us")
    print(f"  agent run, MCP echo tool              {r['run_mcp'] * us:9.0f} us   "
          f"MCP adds {(r['run_mcp'] - r['run_local']) * us:.0f} us = "
          f"{(r['run_mcp'] - r['run_local']) / r['sdk']:.3f} x the SDK's round trip")
    print(f"  100 concurrent, sdk                   {r['c_sdk'] * 1e3:9.1f} ms")
    print(f"  100 concurrent, agentkit (1 conn)     {r['c_ak'] * 1e3:9.1f} ms   "
          f"ratio {r['c_ak'] / r['c_sdk']:.3f}")


async def main(calls: int, rounds: int) -> None:
    proc, url = start_http()
    try:
        for kind, target in (("stdio", None), ("http", url)):
            report(kind, await bench(kind, target, calls, rounds))
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    ns = parser.parse_args()
    anyio.run(main, ns.calls, ns.rounds)
