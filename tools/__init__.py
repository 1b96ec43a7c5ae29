"""Built-in tools: code execution, file operations, web search and page fetch.

    from agentkit.tools import code_tools, file_tools, web_tools
    agent = Agent(model, tools=[*code_tools(), *file_tools("work"), *web_tools()])

Names load on first use, so importing this package pulls in neither httpx, trafilatura
nor docker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentkit.lazy import lazy_exports

if TYPE_CHECKING:
    from .code import code_tools, share_workspace, summarize_exec
    from .demo import demo_tools
    from .fileops import FileOps, ReadOnlyError
    from .files import file_tools
    from .pagefetch import FetchedPage, FetchError, fetch
    from .paths import PathRefused, SafeRoot
    from .search import (
        BraveSearch,
        DuckDuckGoSearch,
        SearchBackend,
        SearchError,
        SearchResult,
        SearxNGSearch,
        SerperSearch,
        TavilySearch,
        make_search_backend,
    )
    from .ssrf import AddressPolicy, BlockedAddress
    from .web import web_tools

_EXPORTS: dict[str, str] = {
    "code_tools": "code",
    "summarize_exec": "code",
    "share_workspace": "code",
    "demo_tools": "demo",
    "FetchError": "pagefetch",
    "FetchedPage": "pagefetch",
    "fetch": "pagefetch",
    "FileOps": "fileops",
    "ReadOnlyError": "fileops",
    "file_tools": "files",
    "PathRefused": "paths",
    "SafeRoot": "paths",
    "BraveSearch": "search",
    "DuckDuckGoSearch": "search",
    "SearchBackend": "search",
    "SearchError": "search",
    "SearchResult": "search",
    "SearxNGSearch": "search",
    "SerperSearch": "search",
    "TavilySearch": "search",
    "make_search_backend": "search",
    "AddressPolicy": "ssrf",
    "BlockedAddress": "ssrf",
    "web_tools": "web",
}

__all__ = [
    "AddressPolicy",
    "BlockedAddress",
    "BraveSearch",
    "DuckDuckGoSearch",
    "FetchError",
    "FetchedPage",
    "FileOps",
    "PathRefused",
    "ReadOnlyError",
    "SafeRoot",
    "SearchBackend",
    "SearchError",
    "SearchResult",
    "SearxNGSearch",
    "SerperSearch",
    "TavilySearch",
    "code_tools",
    "demo_tools",
    "fetch",
    "file_tools",
    "make_search_backend",
    "share_workspace",
    "summarize_exec",
    "web_tools",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
