"""Connections: crashes and restarts, an HTTP server that is down, shutdown in every way."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from agentkit import Agent
from agentkit.mcp import MCPServer
from agentkit.retry import RetryPolicy
from agentkit.testing import ScriptedModel, call, reply, tool_step

from .helpers import SERVER, free_port, start_http_server, until

pytestmark = pytest.mark.anyio


def stdio(**kw: object) -> MCPServer:
    return MCPServer.stdio(sys.executable, [SERVER, "stdio"], **kw)  # type: ignore[arg-type]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


async def gone(pid: int, within: float = 10.0) -> bool:
    return await until(lambda: not alive(pid), within)


async def server_pid(server: MCPServer) -> int:
    return int((await server.call_tool("pid", {})).text)


async def test_crash_mid_call_is_an_error_result_and_the_next_call_restarts() -> None:
    server = stdio(max_restarts=1)
    try:
        first = await server_pid(server)
        crashed = await server.call_tool("crash", {})
        assert crashed.is_error and "exited during the call to 'crash'" in crashed.text
        assert await gone(first)
        second = await server_pid(server)  # restarted
        assert second != first and server.restarts == 1
        await server.call_tool("crash", {})
        capped = await server.call_tool("echo", {"text": "x"})
        assert capped.is_error and "not restarted again (max_restarts=1)" in capped.text
    finally:
        await server.aclose()


async def test_crash_inside_an_agent_run_is_seen_by_the_model() -> None:
    model = ScriptedModel([tool_step(call("crash")), tool_step(call("echo", {"text": "again"})),
                           reply("recovered")])
    async with Agent(model, tools=[stdio()]) as agent:
        result = await agent.run("crash it")
    assert result.output == "recovered"
    assert [(c.name, c.is_error) for c in result.tool_calls] == [("crash", True), ("echo", False)]
    assert "exited during the call" in result.tool_calls[0].result
    assert result.tool_calls[1].result == "again"


async def test_http_server_down_is_retried_then_an_error_result() -> None:
    port = free_port()  # nothing listens here
    server = MCPServer.http(f"http://127.0.0.1:{port}/mcp",
                            retry=RetryPolicy(max_retries=2, base_delay=0.05, max_delay=0.1))
    started = time.monotonic()
    result = await server.call_tool("echo", {"text": "x"})
    assert result.is_error and "could not connect" in result.text
    assert "Connect" in result.text  # the transport's reason is kept
    assert time.monotonic() - started < 20
    await server.aclose()


async def test_http_server_that_comes_back_is_reached_by_the_retries() -> None:
    port = free_port()
    server = MCPServer.http(f"http://127.0.0.1:{port}/mcp",
                            retry=RetryPolicy(max_retries=40, base_delay=0.2, max_delay=0.4))
    proc: subprocess.Popen[bytes] | None = None

    async def start_later() -> None:
        nonlocal proc
        await anyio.sleep(0.5)
        proc = await anyio.to_thread.run_sync(start_http_server, port)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(start_later)
            result = await server.call_tool("echo", {"text": "back"})
        assert (result.text, result.is_error) == ("back", False)
        # the server goes down mid-session: the next call is retried, then an error result
        assert proc is not None
        proc.kill()  # down hard
        proc.wait(10)
        server.retry = RetryPolicy(max_retries=1, base_delay=0.05)
        down = await server.call_tool("echo", {"text": "x"})
        assert down.is_error
    finally:
        await server.aclose()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def test_a_server_that_never_answers_is_a_clear_error() -> None:
    silent = MCPServer.stdio(sys.executable, ["-c", "import time; time.sleep(60)"],
                             connect_timeout=1.0)
    started = time.monotonic()
    result = await silent.call_tool("echo", {"text": "x"})
    assert result.is_error and "no handshake within connect_timeout=1s" in result.text
    assert time.monotonic() - started < 15
    await silent.aclose()


async def test_async_with_agent_opens_and_closes_every_server() -> None:
    a, b = stdio(prefix="a_"), stdio(prefix="b_")
    agent = Agent(ScriptedModel([reply("x")]), tools=[a, b])
    async with agent:
        pids = [await server_pid(a), await server_pid(b)]
        assert all(alive(p) for p in pids)
    assert all([await gone(p) for p in pids])
    # a later use reconnects
    assert alive(await server_pid(a))
    await a.aclose()


async def test_garbage_collected_server_stops_its_process() -> None:
    server = stdio()
    pid = await server_pid(server)
    del server
    gc.collect()
    assert await gone(pid)


async def test_close_after_the_process_died_and_after_a_cancelled_call() -> None:
    server = stdio()
    pid = await server_pid(server)
    with anyio.move_on_after(0.5):
        await server.call_tool("slow", {"seconds": 30, "tag": "x"})
    os.kill(pid, 9)
    assert await gone(pid)
    with anyio.fail_after(15):
        await server.aclose()  # no hang, no cancel-scope error


async def test_legacy_handshake_mode_works_too() -> None:
    async with stdio(mode="legacy") as server:
        assert server.protocol_version == "2025-11-25"
        assert (await server.call_tool("echo", {"text": "old"})).text == "old"
        await server.call_tool("add_bonus", {})
        assert await until(
            lambda: server.list_tools(), 5) and await until(lambda: _has_bonus(server), 5)


async def _has_bonus(server: MCPServer) -> bool:
    return "bonus" in {t.name for t in await server.list_tools()}


def test_run_sync_closes_the_server() -> None:
    server = stdio()
    model = ScriptedModel([tool_step(call("pid")), reply("done")])
    result = Agent(model, tools=[server]).run_sync("pid")
    pid = int(result.tool_calls[0].result)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)
