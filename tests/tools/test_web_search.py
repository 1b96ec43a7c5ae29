"""Search backends against loopback servers that answer like each API.

DuckDuckGo (ddgs) cannot reach the internet here: its normalisation and error handling
are tested by injecting ddgs-shaped results and exceptions (the live path is not).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from agentkit.tools import (
    BraveSearch,
    DuckDuckGoSearch,
    SearchError,
    SearchResult,
    SearxNGSearch,
    SerperSearch,
    TavilySearch,
    make_search_backend,
    web_tools,
)
from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

from agentkit.errors import UserError

RAW = [
    {"title": "Octopus <b>intelligence</b> &amp; learning", "url": "https://a.example/1",
     "text": "Octopuses <em>solve</em>\n puzzles.", "date": "2026-03-01"},
    {"title": "Second", "url": "https://b.example/2", "text": "Another result."},
    {"title": "Duplicate", "url": "https://a.example/1", "text": "dupe"},
    {"title": "No URL", "url": "", "text": "dropped"},
    {"title": "Third", "url": "https://c.example/3", "text": "Third result."},
]

EXPECTED = [
    SearchResult("Octopus intelligence & learning", "https://a.example/1",
                 "Octopuses solve puzzles.", "2026-03-01"),
    SearchResult("Second", "https://b.example/2", "Another result.", None),
    SearchResult("Third", "https://c.example/3", "Third result.", None),
]


def install_apis(site: Any) -> None:
    def searx(h: Any) -> None:
        h.send_json(200, {"query": "q", "results": [
            {"title": r["title"], "url": r["url"], "content": r["text"],
             **({"publishedDate": r["date"]} if "date" in r else {})} for r in RAW]})

    def brave(h: Any) -> None:
        if h.headers.get("X-Subscription-Token") != "brave-key":
            h.send_json(401, {"type": "ErrorResponse", "error": {"code": "SUBSCRIPTION_TOKEN_"
                                                                 "INVALID"}})
            return
        h.send_json(200, {"type": "search", "web": {"type": "search", "results": [
            {"title": r["title"], "url": r["url"], "description": r["text"],
             **({"page_age": r["date"]} if "date" in r else {})} for r in RAW]}})

    def tavily(h: Any) -> None:
        if h.headers.get("Authorization") != "Bearer tavily-key":
            h.send_json(401, {"detail": {"error": "Unauthorized: missing or invalid API key."}})
            return
        n = h.json_body()["max_results"]
        h.send_json(200, {"query": h.json_body()["query"], "results": [
            {"title": r["title"], "url": r["url"], "content": r["text"], "score": 0.9,
             **({"published_date": r["date"]} if "date" in r else {})} for r in RAW][: n + 2]})

    def serper(h: Any) -> None:
        if h.headers.get("X-API-KEY") != "serper-key":
            h.send_json(403, {"message": "Unauthorized.", "statusCode": 403})
            return
        h.send_json(200, {"searchParameters": {"q": h.json_body()["q"]}, "organic": [
            {"title": r["title"], "link": r["url"], "snippet": r["text"], "position": i,
             **({"date": r["date"]} if "date" in r else {})} for i, r in enumerate(RAW, 1)]})

    site.route("/searx/search", "GET")(searx)
    site.route("/brave/res/v1/web/search", "GET")(brave)
    site.route("/tavily/search", "POST")(tavily)
    site.route("/serper/search", "POST")(serper)


@pytest.fixture
def apis(site: Any) -> Any:
    install_apis(site)
    return site


@pytest.mark.anyio
async def test_each_backend_normalises_its_api(apis: Any) -> None:
    backends = [
        SearxNGSearch(apis.url("/searx")),
        BraveSearch("brave-key", base_url=apis.url("/brave")),
        TavilySearch("tavily-key", base_url=apis.url("/tavily")),
        SerperSearch("serper-key", base_url=apis.url("/serper")),
    ]
    for backend in backends:
        assert await backend.search("octopus iq", 3) == EXPECTED, backend.name
        assert await backend.search("octopus iq", 1) == EXPECTED[:1], backend.name
    by_path: dict[str, Any] = {}
    for r in apis.requests:
        by_path.setdefault(r.path.split("?")[0], r)
    assert "q=octopus+iq" in by_path["/searx/search"].path
    assert "format=json" in by_path["/searx/search"].path
    assert "count=3" in by_path["/brave/res/v1/web/search"].path
    assert json.loads(by_path["/tavily/search"].body)["max_results"] == 3
    assert json.loads(by_path["/serper/search"].body) == {"q": "octopus iq", "num": 3}


@pytest.mark.anyio
async def test_web_search_tool_output(apis: Any) -> None:
    tool = web_tools(search=SearxNGSearch(apis.url("/searx")))[0]
    assert tool.name == "web_search"
    out = await tool.call(None, tool.validate({"query": "octopus", "max_results": 2}))
    assert out.splitlines() == [
        "Search results for 'octopus' via SearxNG (2):",
        "1. Octopus intelligence & learning", "   https://a.example/1",
        "   Octopuses solve puzzles.", "   Date: 2026-03-01",
        "2. Second", "   https://b.example/2", "   Another result.",
        "Use fetch_url to read a result."]
    with pytest.raises(ValueError, match="max_results"):
        tool.validate({"query": "x", "max_results": 50})
    with pytest.raises(ValueError, match="query is empty"):
        await tool.call(None, tool.validate({"query": "   "}))


@pytest.mark.anyio
async def test_bad_keys_are_named(apis: Any) -> None:
    for backend, var in [(BraveSearch("wrong", base_url=apis.url("/brave")), "BRAVE_API_KEY"),
                         (TavilySearch("wrong", base_url=apis.url("/tavily")), "TAVILY_API_KEY"),
                         (SerperSearch("wrong", base_url=apis.url("/serper")), "SERPER_API_KEY")]:
        with pytest.raises(SearchError, match=f"rejected the request .*check {var}"):
            await backend.search("x")


def test_missing_keys_fail_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("BRAVE_API_KEY", "BRAVE_SEARCH_API_KEY", "TAVILY_API_KEY", "SERPER_API_KEY",
                "SEARXNG_URL", "AGENTKIT_SEARCH"):
        monkeypatch.delenv(var, raising=False)
    for name, var in [("brave", "BRAVE_API_KEY"), ("tavily", "TAVILY_API_KEY"),
                      ("serper", "SERPER_API_KEY"), ("searxng", "SEARXNG_URL")]:
        with pytest.raises(UserError, match=var):
            make_search_backend(name)
    monkeypatch.setenv("TAVILY_API_KEY", "from-env")
    backend = make_search_backend("tavily")
    assert isinstance(backend, TavilySearch) and backend.api_key == "from-env"
    assert isinstance(make_search_backend(None), DuckDuckGoSearch)
    monkeypatch.setenv("AGENTKIT_SEARCH", "tavily")
    assert isinstance(make_search_backend(None), TavilySearch)
    with pytest.raises(UserError, match="unknown search backend"):
        make_search_backend("altavista")


@pytest.mark.anyio
async def test_rate_limit_short_wait_is_retried_long_wait_reported(site: Any) -> None:
    calls = {"n": 0}

    def flaky(h: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            h.send_json(429, {"error": "slow down"}, {"Retry-After": "0"})
        else:
            h.send_json(200, {"results": [{"title": "ok", "url": "https://ok.example/",
                                           "content": "fine"}]})

    site.route("/flaky/search")(flaky)
    site.route("/limited/search")(
        lambda h: h.send_json(429, {"error": "quota"}, {"Retry-After": "120"}))
    ok = await SearxNGSearch(site.url("/flaky")).search("x")
    assert [r.url for r in ok] == ["https://ok.example/"] and calls["n"] == 2
    started = time.monotonic()
    with pytest.raises(SearchError, match=r"rate limit reached \(HTTP 429\); retry after 120 "
                                          "seconds"):
        await SearxNGSearch(site.url("/limited")).search("x")
    assert time.monotonic() - started < 2


@pytest.mark.anyio
async def test_timeouts_errors_and_empty_results(site: Any) -> None:
    site.route("/slow/search")(lambda h: (time.sleep(1.5), h.send_json(200, {"results": []})))
    site.route("/empty/search")(lambda h: h.send_json(200, {"results": []}))
    site.route("/broken/search")(lambda h: h.send_json(502, {"error": "bad gateway"}))
    site.route("/html/search")(lambda h: h.send_bytes(200, b"<html>login</html>", "text/html"))
    site.route("/nojson/search")(lambda h: h.send_json(403, {"error": "format not allowed"}))
    with pytest.raises(SearchError, match=r"SearxNG search timed out after 0\.5s"):
        await SearxNGSearch(site.url("/slow"), timeout=0.5).search("x")
    assert await SearxNGSearch(site.url("/empty")).search("x") == []
    tool = web_tools(search=SearxNGSearch(site.url("/empty")))[0]
    assert await tool.call(None, {"query": "zzqx", "max_results": 5}) == \
        "No results for 'zzqx' (via SearxNG). Try other or fewer words."
    with pytest.raises(SearchError, match=r"server error \(HTTP 502\)"):
        await SearxNGSearch(site.url("/broken")).search("x")
    with pytest.raises(SearchError, match="not JSON"):
        await SearxNGSearch(site.url("/html")).search("x")
    with pytest.raises(SearchError, match=r"enable 'json' under search\.formats"):
        await SearxNGSearch(site.url("/nojson")).search("x")
    with pytest.raises(SearchError, match="could not reach SearxNG"):
        await SearxNGSearch("http://127.0.0.1:9").search("x")


@pytest.mark.anyio
async def test_duckduckgo_normalisation_and_errors() -> None:
    seen: list[tuple[str, int]] = []

    def fake_text(query: str, max_results: int) -> list[dict[str, Any]]:
        seen.append((query, max_results))
        return [{"title": r["title"], "href": r["url"], "body": r["text"]} for r in RAW]

    ddg = DuckDuckGoSearch(text_fn=fake_text)
    results = await ddg.search("octopus", 2)
    assert results == [EXPECTED[0].__class__(EXPECTED[0].title, EXPECTED[0].url,
                                             EXPECTED[0].snippet, None), EXPECTED[1]]
    assert seen == [("octopus", 2)]

    def raiser(exc: Exception) -> Any:
        def fn(query: str, max_results: int) -> list[dict[str, Any]]:
            raise exc
        return fn

    with pytest.raises(SearchError, match="DuckDuckGo is rate limiting"):
        await DuckDuckGoSearch(text_fn=raiser(RatelimitException("202 Ratelimit"))).search("x")
    with pytest.raises(SearchError, match="DuckDuckGo search timed out"):
        await DuckDuckGoSearch(text_fn=raiser(TimeoutException("timeout"))).search("x")
    assert await DuckDuckGoSearch(text_fn=raiser(DDGSException("No results found."))
                                  ).search("x") == []
    with pytest.raises(SearchError, match="DuckDuckGo search failed: boom"):
        await DuckDuckGoSearch(text_fn=raiser(DDGSException("boom"))).search("x")
