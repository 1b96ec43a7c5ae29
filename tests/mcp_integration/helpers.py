"""Shared helpers: where the servers are, ports, starting the HTTP test server."""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SERVER = str(HERE / "mcp_test_server.py")
REPO = HERE.parent.parent
SERVERS_DIR = REPO / ".cache" / "mcp-servers"  # third-party servers, installed by setup.sh


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def start_http_server(port: int) -> subprocess.Popen[Any]:
    proc = subprocess.Popen([sys.executable, SERVER, "http", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc


async def until(check: Callable[[], Any], timeout: float = 10.0) -> bool:
    """Poll `check` (sync or async) until it is true; False after `timeout` seconds."""
    import inspect

    import anyio

    deadline = time.monotonic() + timeout
    for _ in itertools.count():
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return True
        if time.monotonic() > deadline:
            return False
        await anyio.sleep(0.02)
    return False
