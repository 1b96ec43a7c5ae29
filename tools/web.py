"""`web_tools()`: web_search and fetch_url for an agent."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from agentkit.tooldef import Tool

from .search import SearchBackend, format_results, make_search_backend
from .ssrf import AddressPolicy, Resolver

if TYPE_CHECKING:
    import ssl

__all__ = ["web_tools"]


def web_tools(
    search: SearchBackend | str | None = None,
    allow_private: bool = False,
    *,
    allow: Iterable[str] = (),
    resolver: Resolver | None = None,
    include_search: bool = True,
    fetch_timeout: float = 20.0,
    max_bytes: int = 5 * 1024 * 1024,
    max_chars: int = 20_000,
    max_redirects: int = 5,
    ssl_context: ssl.SSLContext | None = None,
) -> list[Tool]:
    """The `web_search` and `fetch_url` tools.

    `search`: a backend, a backend name (duckduckgo, searxng, brave, tavily, serper) or None
    (`AGENTKIT_SEARCH`, else DuckDuckGo). `fetch_url` refuses non-public addresses unless
    `allow_private`; `allow` lists host names / IP networks allowed anyway (intranet use).
    `resolver` replaces DNS resolution (tests). Caps: `fetch_timeout` seconds per fetch,
    `max_bytes` downloaded, `max_chars` shown per call (the model pages with start_index).
    `ssl_context` replaces certificate verification for fetches (e.g. an intranet CA).
    """
    policy = AddressPolicy(allow_private, allow, resolver)
    tools: list[Tool] = []

    if include_search:
        backend = make_search_backend(search)

        async def web_search(
            query: str,
            max_results: Annotated[int, Field(ge=1, le=20)] = 5,
        ) -> str:
            """Search the web. Returns titles, URLs, snippets and dates; read pages with
            fetch_url.

            Args:
                query: What to search for.
                max_results: How many results to return (1-20).
            """
            if not query.strip():
                raise ValueError("query is empty; say what to search for")
            results = await backend.search(query.strip(), max_results)
            return format_results(query.strip(), results, backend.name)

        tools.append(Tool.from_function(web_search))

    async def fetch_url(url: str, start_index: Annotated[int, Field(ge=0)] = 0) -> str:
        """Fetch a web page (or text, JSON, PDF) and return its main content as Markdown,
        with its title and final URL. Long pages are cut; continue with start_index.

        Args:
            url: The http(s) URL to fetch.
            start_index: Character offset to start from (for reading on in long pages).
        """
        from .pagefetch import fetch

        page = await fetch(url, policy=policy, timeout=fetch_timeout, max_bytes=max_bytes,
                           max_redirects=max_redirects, ssl_context=ssl_context)
        return page.render(max_chars=max_chars, start_index=start_index)

    tools.append(Tool.from_function(fetch_url))
    return tools
