"""Fixtures: the SDK-built test server over stdio and over Streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agentkit.mcp import MCPServer

from .helpers import SERVER, free_port, start_http_server


@pytest.fixture(scope="session")
def http_url() -> Iterator[str]:
    """The test server over Streamable HTTP (one process for the session)."""
    port = free_port()
    proc = start_http_server(port)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:  # uvicorn waits for open streams: stop it
            proc.kill()
            proc.wait(5)


@pytest.fixture(params=["stdio", "http"])
def make_server(request: pytest.FixtureRequest) -> Callable[..., MCPServer]:
    """Build an `MCPServer` for the test server over the parametrised transport."""
    kind = request.param

    def make(**kw: Any) -> MCPServer:
        if kind == "stdio":
            return MCPServer.stdio(sys.executable, [SERVER, "stdio"], **kw)
        return MCPServer.http(request.getfixturevalue("http_url"), **kw)

    make.kind = kind  # type: ignore[attr-defined]
    return make


@pytest.fixture
def http_server(http_url: str) -> Callable[..., MCPServer]:
    """Build an `MCPServer` for the test server over HTTP (for transport-neutral tests)."""
    return lambda **kw: MCPServer.http(http_url, **kw)


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    """The sandbox image (built when missing); a missing daemon is an error, never a skip."""
    from agentkit.sandbox import ensure_image
    from agentkit.sandbox.container import docker_client

    docker_client()
    return ensure_image()
