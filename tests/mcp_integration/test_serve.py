"""`agentkit mcp serve`, driven by the official SDK's own client over stdio and HTTP.

Code runs in the real Docker sandbox; files stay confined to --root; no container is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from .helpers import free_port, until, wait_port

pytestmark = [pytest.mark.anyio, pytest.mark.docker]
AGENTKIT = str(Path(sys.executable).with_name("agentkit"))


def containers_of(pid: int) -> list[str]:
    from agentkit.sandbox.container import list_sandboxes

    return [c["Id"][:12] for c in list_sandboxes(f"agentkit.owner_pid={pid}")]


def serve_child_pid() -> int:
    """The `agentkit mcp serve` process the SDK's stdio client spawned (our child)."""
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if stat[1] == me and b"serve" in cmd and b"mcp" in cmd:
            return int(entry.name)
    raise AssertionError("no `agentkit mcp serve` child process found")


def text(result: Any) -> str:
    return "\n".join(b.text for b in result.content if b.type == "text")


async def exercise(client: Any, root: Path) -> None:
    tools = {t.name for t in (await client.list_tools()).tools}
    assert {"code_interpreter", "shell", "read_file", "list_files"} <= tools
    assert "write_file" not in tools  # read-only without --write
    run = await client.call_tool("code_interpreter", {"code": "import os\nx = 41\nos.getuid()"})
    assert not run.is_error and text(run).strip() not in ("", "0")  # not root
    again = await client.call_tool("code_interpreter", {"code": "x + 1"})
    assert "42" in text(again)  # one sandbox for the session: state persists
    net = await client.call_tool("shell", {"command": "getent hosts example.org || echo nonet"})
    assert "nonet" in text(net)
    inside = await client.call_tool("read_file", {"path": "hello.txt"})
    assert "hi there" in text(inside)
    for path in ("../secret.txt", str(root.parent / "secret.txt")):
        outside = await client.call_tool("read_file", {"path": path})
        assert outside.is_error and "TOPSECRET" not in text(outside)
    bad = await client.call_tool("read_file", {})
    assert bad.is_error and "invalid arguments" in text(bad)


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    (root / "hello.txt").write_text("hi there")
    (tmp_path / "secret.txt").write_text("TOPSECRET")
    return root


async def test_serve_over_stdio(tmp_path: Path, sandbox_image: str) -> None:
    root = make_root(tmp_path)
    params = StdioServerParameters(command=AGENTKIT, args=[
        "mcp", "serve", "--tools", "code,files", "--root", str(root)])
    async with Client(params) as client:
        pid = serve_child_pid()
        await exercise(client, root)
        assert len(containers_of(pid)) == 1
    assert await until(lambda: not containers_of(pid), 30), containers_of(pid)


async def test_serve_over_http_with_a_handshake_session(tmp_path: Path,
                                                        sandbox_image: str) -> None:
    root = make_root(tmp_path)
    port = free_port()
    cmd = [AGENTKIT, "mcp", "serve", "--transport", "http", "--port", str(port),
           "--root", str(root)]
    proc = await anyio.to_thread.run_sync(
        lambda: subprocess.Popen(cmd, stderr=subprocess.DEVNULL))
    try:
        await anyio.to_thread.run_sync(wait_port, port, proc)
        async with Client(f"http://127.0.0.1:{port}/mcp", mode="legacy") as client:
            await exercise(client, root)
            assert len(containers_of(proc.pid)) == 1
        # a 2026-07-28 client has no session: each call's sandbox is gone after the call
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            assert client.protocol_version == "2026-07-28"
            out = await client.call_tool("code_interpreter", {"code": "6 * 7"})
            assert "42" in text(out)
    finally:
        proc.terminate()
        await anyio.to_thread.run_sync(proc.wait, 30)
    assert await until(lambda: not containers_of(proc.pid), 30), containers_of(proc.pid)


def test_serve_refuses_unknown_tool_sets() -> None:
    out = subprocess.run([AGENTKIT, "mcp", "serve", "--tools", "code,rockets"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "rockets" in out.stderr and "Traceback" not in out.stderr


def test_import_and_help_do_not_load_the_sdk() -> None:
    code = ("import sys, agentkit, agentkit.mcp, agentkit.cli; agentkit.cli.build_parser();"
            "print([m for m in ('mcp', 'httpx2', 'starlette', 'uvicorn') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
