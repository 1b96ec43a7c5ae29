"""Web search backends: DuckDuckGo (keyless default), SearxNG, Brave, Tavily, Serper.

Each backend returns normalised `SearchResult`s (title, url, snippet, date) and raises
`SearchError` with a message the model can act on: timeouts, rate limits (429 with
Retry-After), rejected keys, unreachable servers. Keys come from the environment.
The search endpoints are configured by the user, not the model, so they are not behind
the SSRF guard (a self-hosted SearxNG on the intranet is normal).
"""

from __future__ import annotations

import html
import json as _json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import anyio

from agentkit.errors import UserError
from agentkit.retry import parse_retry_after

from .bodies import ACCEPT_ENCODING, BodyError, read_body

__all__ = [
    "BraveSearch",
    "DuckDuckGoSearch",
    "SearchBackend",
    "SearchError",
    "SearchResult",
    "SearxNGSearch",
    "SerperSearch",
    "TavilySearch",
    "format_results",
    "make_search_backend",
]

_TAG = re.compile(r"<[^<>]+>")  # no '<' inside: linear even on '<<<<…' (no closing '>')


class SearchError(RuntimeError):
    """A search failed; the message says why and what to do."""


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    snippet: str = ""
    date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clean(text: Any) -> str:
    if not text:
        return ""
    return re.sub(r"\s+", " ", html.unescape(_TAG.sub("", str(text)))).strip()


def normalise(items: Sequence[Mapping[str, Any]], max_results: int, *, title: str = "title",
              url: str = "url", snippet: str = "snippet",
              dates: Sequence[str] = ("date",)) -> list[SearchResult]:
    """Map raw result dicts onto `SearchResult`, dropping entries without a URL and dupes."""
    out: list[SearchResult] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, Mapping):
            continue
        link = str(item.get(url) or "").strip()
        if not link.startswith(("http://", "https://")) or link in seen:
            continue
        seen.add(link)
        date = next((str(item[d]).strip() for d in dates if item.get(d)), None)
        out.append(SearchResult(_clean(item.get(title)) or link, link,
                                _clean(item.get(snippet)), date or None))
        if len(out) >= max_results:
            break
    return out


def format_results(query: str, results: list[SearchResult], backend: str) -> str:
    """The text the model sees for a search."""
    if not results:
        return f"No results for {query!r} (via {backend}). Try other or fewer words."
    lines = [f"Search results for {query!r} via {backend} ({len(results)}):"]
    for i, r in enumerate(results, 1):
        lines.append(f"{i}. {r.title}\n   {r.url}")
        if r.snippet:
            lines.append(f"   {r.snippet}")
        if r.date:
            lines.append(f"   Date: {r.date}")
    lines.append("Use fetch_url to read a result.")
    return "\n".join(lines)


class SearchBackend:
    """Base class: implement `search`. `name` is shown to the model."""

    name = "search"

    async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        raise NotImplementedError


class HTTPSearchBackend(SearchBackend):
    """Shared HTTP handling: an overall deadline per attempt, a response size cap, status
    codes, one retry after a short 429."""

    key_env: tuple[str, ...] = ()
    default_base_url = ""

    def __init__(self, api_key: str | None = None, *, base_url: str | None = None,
                 timeout: float = 15.0, max_retry_wait: float = 5.0,
                 max_response_bytes: int = 5 * 1024 * 1024) -> None:
        self.api_key = api_key or next((os.environ[e] for e in self.key_env
                                        if os.environ.get(e)), None)
        if self.key_env and not self.api_key:
            raise UserError(f"{self.name} search needs an API key: set {self.key_env[0]} "
                            f"or pass api_key=...")
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.timeout = timeout
        self.max_retry_wait = max_retry_wait
        self.max_response_bytes = max_response_bytes

    async def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                       json: dict[str, Any] | None = None,
                       headers: dict[str, str] | None = None) -> Any:
        """One API call: each attempt (connect, headers, whole body) must finish within
        `timeout` seconds and the body may not exceed `max_response_bytes`."""
        import httpx

        url = self.base_url + path
        sent = {"Accept-Encoding": ACCEPT_ENCODING, **(headers or {})}
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            for attempt in (1, 2):
                try:
                    with anyio.fail_after(self.timeout):
                        status, retry_after, body = await self._attempt(
                            client, method, url, params, json, sent)
                except (TimeoutError, httpx.TimeoutException):
                    raise SearchError(f"{self.name} search timed out after {self.timeout:g}s; "
                                      "try again shortly") from None
                except httpx.HTTPError as exc:
                    raise SearchError(f"could not reach {self.name} at {self.base_url}: "
                                      f"{exc or type(exc).__name__}") from None
                if status == 429:
                    wait = parse_retry_after({"retry-after": retry_after or ""})
                    if attempt == 1 and wait is not None and wait <= self.max_retry_wait:
                        await anyio.sleep(wait)
                        continue
                    after = f"; retry after {wait:.0f} seconds" if wait is not None else \
                        "; wait before searching again"
                    raise SearchError(f"{self.name} rate limit reached (HTTP 429){after}")
                break
        self._check_status(status, body[:300].decode("utf-8", "replace"))
        try:
            return _json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            raise SearchError(f"{self.name} returned a response that is not JSON "
                              f"(HTTP {status})") from None

    async def _attempt(self, client: Any, method: str, url: str,
                       params: dict[str, Any] | None, json: dict[str, Any] | None,
                       headers: dict[str, str]) -> tuple[int, str | None, bytes]:
        """(status, Retry-After, body) of one request, the body read under the size cap."""
        async with client.stream(method, url, params=params, json=json,
                                 headers=headers) as resp:
            try:
                body, cut = await read_body(resp, self.max_response_bytes + 1)
            except BodyError as exc:
                raise SearchError(f"{self.name} sent a response that was refused: {exc}") \
                    from None
            if cut and resp.status_code < 400:  # an error page only needs its start
                raise SearchError(f"{self.name} sent a response larger than "
                                  f"{self.max_response_bytes} bytes; refused")
            return resp.status_code, resp.headers.get("retry-after"), body

    def _check_status(self, status: int, body: str) -> None:
        if status in (401, 403):
            var = self.key_env[0] if self.key_env else "the server settings"
            raise SearchError(f"{self.name} rejected the request (HTTP {status}): the API key "
                              f"is missing, wrong or out of quota; check {var}")
        if status >= 500:
            raise SearchError(f"{self.name} had a server error (HTTP {status}); try again later")
        if status >= 400:
            raise SearchError(f"{self.name} refused the query (HTTP {status}): {_clean(body)}")


class SearxNGSearch(HTTPSearchBackend):
    """A self-hosted SearxNG instance (JSON format must be enabled in its settings)."""

    name = "SearxNG"

    def __init__(self, base_url: str | None = None, *, timeout: float = 15.0,
                 max_retry_wait: float = 5.0, categories: str | None = None,
                 language: str | None = None,
                 max_response_bytes: int = 5 * 1024 * 1024) -> None:
        url = base_url or os.environ.get("SEARXNG_URL")
        if not url:
            raise UserError("SearxNG search needs its address: set SEARXNG_URL or pass "
                            "base_url=...")
        super().__init__(base_url=url, timeout=timeout, max_retry_wait=max_retry_wait,
                         max_response_bytes=max_response_bytes)
        self.categories = categories
        self.language = language

    def _check_status(self, status: int, body: str) -> None:
        if status == 403:
            raise SearchError("SearxNG refused the JSON API (HTTP 403): enable 'json' under "
                              "search.formats in its settings.yml")
        super()._check_status(status, body)

    async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        params: dict[str, Any] = {"q": query, "format": "json", "pageno": 1}
        if self.categories:
            params["categories"] = self.categories
        if self.language:
            params["language"] = self.language
        data = await self._request("GET", "/search", params=params)
        return normalise(data.get("results") or [], max_results, snippet="content",
                         dates=("publishedDate", "pubdate"))


class BraveSearch(HTTPSearchBackend):
    """Brave Search API (key: BRAVE_API_KEY)."""

    name = "Brave"
    key_env = ("BRAVE_API_KEY", "BRAVE_SEARCH_API_KEY")
    default_base_url = "https://api.search.brave.com"

    async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        data = await self._request(
            "GET", "/res/v1/web/search", params={"q": query, "count": min(max_results, 20)},
            headers={"X-Subscription-Token": str(self.api_key), "Accept": "application/json"})
        items = ((data.get("web") or {}).get("results")) or []
        return normalise(items, max_results, snippet="description", dates=("page_age", "age"))


class TavilySearch(HTTPSearchBackend):
    """Tavily search API (key: TAVILY_API_KEY)."""

    name = "Tavily"
    key_env = ("TAVILY_API_KEY",)
    default_base_url = "https://api.tavily.com"

    async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        data = await self._request(
            "POST", "/search",
            json={"query": query, "max_results": max_results, "search_depth": "basic"},
            headers={"Authorization": f"Bearer {self.api_key}"})
        return normalise(data.get("results") or [], max_results, snippet="content",
                         dates=("published_date",))


class SerperSearch(HTTPSearchBackend):
    """Serper (Google results) API (key: SERPER_API_KEY)."""

    name = "Serper"
    key_env = ("SERPER_API_KEY",)
    default_base_url = "https://google.serper.dev"

    async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        data = await self._request("POST", "/search", json={"q": query, "num": max_results},
                                   headers={"X-API-KEY": str(self.api_key)})
        return normalise(data.get("organic") or [], max_results, url="link", dates=("date",))


class DuckDuckGoSearch(SearchBackend):
    """Keyless DuckDuckGo search through the `ddgs` library (run in a worker thread).

    `text_fn(query, max_results) -> list[dict]` replaces the ddgs call (tests, custom
    wrappers); it may raise ddgs exceptions.
    """

    name = "DuckDuckGo"

    def __init__(self, *, region: str = "wt-wt", safesearch: str = "moderate",
                 timeout: float = 10.0,
                 text_fn: Callable[[str, int], list[dict[str, Any]]] | None = None) -> None:
        self.region = region
        self.safesearch = safesearch
        self.timeout = timeout
        self.text_fn = text_fn

    def _ddgs_text(self, query: str, max_results: int) -> list[dict[str, Any]]:
        from ddgs import DDGS

        return list(DDGS(timeout=int(self.timeout)).text(
            query, region=self.region, safesearch=self.safesearch, max_results=max_results)
            or [])

    async def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

        fn = self.text_fn or self._ddgs_text
        try:
            with anyio.fail_after(self.timeout + 5):
                raw = await anyio.to_thread.run_sync(fn, query, max_results,
                                                     abandon_on_cancel=True)
        except RatelimitException:
            raise SearchError("DuckDuckGo is rate limiting these searches; wait a minute and "
                              "try again (or configure another search backend)") from None
        except (TimeoutException, TimeoutError):
            raise SearchError(f"DuckDuckGo search timed out after {self.timeout:g}s; try "
                              "again shortly") from None
        except DDGSException as exc:
            if "no results" in str(exc).lower():
                return []
            raise SearchError(f"DuckDuckGo search failed: {exc}") from None
        return normalise(raw or [], max_results, url="href", snippet="body")


_BACKENDS: dict[str, Callable[[], SearchBackend]] = {
    "duckduckgo": DuckDuckGoSearch, "ddg": DuckDuckGoSearch, "ddgs": DuckDuckGoSearch,
    "searxng": SearxNGSearch, "brave": BraveSearch, "tavily": TavilySearch,
    "serper": SerperSearch,
}


def make_search_backend(spec: SearchBackend | str | None = None) -> SearchBackend:
    """A backend from an instance, a name (duckduckgo, searxng, brave, tavily, serper) or
    None (the `AGENTKIT_SEARCH` environment variable, else DuckDuckGo)."""
    if isinstance(spec, SearchBackend):
        return spec
    name = (spec or os.environ.get("AGENTKIT_SEARCH") or "duckduckgo").strip().lower()
    factory = _BACKENDS.get(name)
    if factory is None:
        raise UserError(f"unknown search backend {spec!r}; choose one of "
                        "duckduckgo, searxng, brave, tavily, serper")
    return factory()
