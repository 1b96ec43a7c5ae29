"""An MCP test server built with the official SDK's server API (`mcp.server.MCPServer`).

Run as `python mcp_test_server.py stdio` or `python mcp_test_server.py http PORT` (Streamable
HTTP on 127.0.0.1). Its tools cover what the client must handle: text, structured output,
error results, progress, a slow tool (cancellation and timeout), a crash mid-call, binary
content, a tool list that changes, sampling, elicitation and the environment it was given.
"""

from __future__ import annotations

import base64
import os
import sys
from typing import Annotated, Any

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context, Elicit, ElicitationResult, Resolve, Sample
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    AudioContent,
    CallToolResult,
    CreateMessageResult,
    ImageContent,
    SamplingMessage,
    TextContent,
)
from pydantic import BaseModel

server = MCPServer("agentkit-test")
CANCELLED: list[str] = []  # tags of slow calls the client cancelled
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(1000)).decode()


class Weather(BaseModel):
    city: str
    temperature: int
    unit: str


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def weather(city: str) -> Weather:
    """Structured weather for a city."""
    return Weather(city=city, temperature=21, unit="celsius")


@server.tool()
def fail(message: str) -> str:
    """Always fails with the message (an isError result)."""
    raise ToolError(message)


@server.tool()
async def count(steps: int, ctx: Context) -> str:
    """Report progress `steps` times, then answer."""
    for i in range(1, steps + 1):
        await ctx.report_progress(i, total=steps, message=f"step {i}")
        await anyio.sleep(0.01)
    return f"counted {steps}"


@server.tool()
async def slow(seconds: float, tag: str) -> str:
    """Sleep; a cancelled call is remembered under `tag`."""
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        CANCELLED.append(tag)
        raise
    return f"slept {seconds}"


@server.tool()
def cancelled() -> list[str]:
    """The tags of the slow calls that were cancelled so far."""
    return list(CANCELLED)


@server.tool()
def crash() -> str:
    """Kill the server process in the middle of the call."""
    os._exit(3)


@server.tool()
def picture() -> CallToolResult:
    """Binary content: an image and audio, with a caption."""
    return CallToolResult(content=[
        TextContent(type="text", text="a picture"),
        ImageContent(type="image", data=PNG, mime_type="image/png"),
        AudioContent(type="audio", data=base64.b64encode(bytes(300)).decode(),
                     mime_type="audio/wav"),
    ])


@server.tool()
def environment(name: str) -> str:
    """The value of an environment variable in the server process ('' if unset)."""
    print(f"environment lookup: {name}", file=sys.stderr, flush=True)
    return os.environ.get(name, "")


def bonus(x: int) -> int:
    """A tool that appears at runtime."""
    return x * 2


@server.tool()
async def add_bonus(ctx: Context) -> str:
    """Add the `bonus` tool and announce the change (both protocol eras)."""
    server.add_tool(bonus)
    await ctx.notify_tools_changed()
    try:
        await ctx.session.send_tool_list_changed()
    except Exception:  # a 2026-07-28 session has no push channel
        pass
    return "bonus added"


def _sample(question: str) -> Sample:
    return Sample([SamplingMessage(role="user", content=TextContent(type="text", text=question))],
                  max_tokens=50)


@server.tool()
async def ask_model(question: str,
                    answer: Annotated[CreateMessageResult, Resolve(_sample)]) -> str:
    """Ask the client's model (sampling)."""
    content: Any = answer.content
    return f"model said: {content.text}"


class Name(BaseModel):
    name: str


def _ask_name() -> Elicit[Name]:
    return Elicit("What is your name?", Name)


@server.tool()
async def ask_user(answer: Annotated[ElicitationResult[Name], Resolve(_ask_name)]) -> str:
    """Ask the user (elicitation)."""
    if answer.action == "accept":
        return f"hello {answer.data.name}"
    return f"user answered: {answer.action}"


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
async def rendezvous(directory: str, me: str, other: str) -> str:
    """Mark `me` present, then wait (up to 10 s) for `other`: 'met' only when calls overlap."""
    await anyio.Path(directory, me).touch()
    for _ in range(1000):
        if await anyio.Path(directory, other).exists():
            return "met"
        await anyio.sleep(0.01)
    return "alone"


@server.resource("notes://{name}")
def note(name: str) -> str:
    """A note by name."""
    return f"the note {name}"


@server.resource("notes://index", name="index", description="All notes")
def index() -> str:
    return "first, second"


@server.prompt()
def greet(who: str) -> str:
    """A greeting prompt."""
    return f"Say hello to {who}."


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
