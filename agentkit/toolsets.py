"""Toolsets: objects that supply tools at run time (an MCP server, for one).

A toolset goes into `Agent(tools=[...])` next to `Tool`s. The loop asks each toolset for its
tools at the start of every run (a toolset caches and refreshes them itself), and checks that
no two tools share a name. `async with agent:` opens every toolset and closes it afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import anyio

from .errors import UserError
from .tooldef import Tool

__all__ = ["Toolset", "assemble_tools", "is_toolset"]


@runtime_checkable
class Toolset(Protocol):
    """Supplies tools for a run; opened and closed around its use."""

    async def list_tools(self) -> list[Tool]:
        """The tools this toolset offers now."""
        ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, *exc_info: object) -> Any: ...

    async def aclose(self) -> None:
        """Release what the toolset holds (a later use may reopen it)."""
        ...


def is_toolset(obj: object) -> bool:
    """Whether `obj` is a toolset rather than a tool or a function."""
    return not isinstance(obj, Tool) and isinstance(obj, Toolset)


async def assemble_tools(local: Sequence[Tool], toolsets: Sequence[Toolset]) -> list[Tool]:
    """The toolsets' tools (listed concurrently); a name used twice is a `UserError`."""
    listed: list[list[Tool]] = [[] for _ in toolsets]

    async def one(i: int) -> None:
        listed[i] = list(await toolsets[i].list_tools())

    if len(toolsets) == 1:
        await one(0)
    else:
        async with anyio.create_task_group() as tg:
            for i in range(len(toolsets)):
                tg.start_soon(one, i)
    owner: dict[str, str] = {t.name: "a local tool" for t in local}
    out: list[Tool] = []
    for toolset, tools in zip(toolsets, listed, strict=True):
        for tool in tools:
            if tool.name in owner:
                raise UserError(
                    f"the tool name {tool.name!r} is offered both by {owner[tool.name]} and by "
                    f"{toolset!r}; give one of them a prefix (for example prefix='x_')")
            owner[tool.name] = repr(toolset)
            out.append(tool)
    return out
