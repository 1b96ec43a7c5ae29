"""Tools for `agentkit demo` and examples: files, page fetch and a sandbox on one directory."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from agentkit.tooldef import Tool

__all__ = ["demo_tools"]


def demo_tools(
    workdir: str | os.PathLike[str],
    *,
    sandbox: bool = True,
    allow_hosts: Iterable[str] = ("127.0.0.1", "localhost", "::1"),
    include_search: bool = False,
    sandbox_user: str = "1000:1000",
    **sandbox_options: Any,
) -> list[Tool]:
    """file_tools(workdir) + fetch_url (loopback allowed, e.g. a local demo site) and, with
    `sandbox`, code_interpreter/shell whose /workspace is `workdir` (a per-run sandbox).

    The directory is handed to the sandbox user first (`share_workspace`), so files written
    by either side are visible and writable by the other.
    """
    from .code import code_tools, share_workspace
    from .files import file_tools
    from .web import web_tools

    tools = [*file_tools(workdir),
             *web_tools(allow=allow_hosts, include_search=include_search)]
    if sandbox:
        share_workspace(workdir, sandbox_user)
        tools += code_tools(workspace=os.fspath(workdir), user=sandbox_user, **sandbox_options)
    return tools
