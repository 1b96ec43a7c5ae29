"""HTTP search backends: one deadline per request and a cap on the response size.

A loopback server trickles a response (each read arrives well within the per-read timeout,
so only an overall deadline stops it), sends an oversized JSON body, or a gzip bomb.
"""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import pytest
from agentkit.tools import SearchError, SearxNGSearch

RESULTS = {"results": [{"title": "Octopus", "url": "https://a.example/1", "content": "arms"}]}


def install(site: Any) -> None:
    def trickle(h: Any) -> None:
        body = json.dumps(RESULTS).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        for b in body[:40]:  # bounded: ~12 s at most; the client must give up after ~1 s
            h.wfile.write(bytes([b]))
            h.wfile.flush()
            time.sleep(0.3)

    def oversized(h: Any) -> None:
        items = [{"title": f"r{i}", "url": f"https://a.example/{i}", "content": "x" * 200}
                 for i in range(5000)]
        h.send_json(200, {"results": items})

    def bomb(h: Any) -> None:
        body = gzip.compress(b'{"results": [' + b" " * (64 * 1024 * 1024) + b"]}", 9)
        h.send_bytes(200, body, "application/json", {"Content-Encoding": "gzip"})

    def stacked(h: Any) -> None:
        body = gzip.compress(gzip.compress(json.dumps(RESULTS).encode()))
        h.send_bytes(200, body, "application/json", {"Content-Encoding": "gzip, gzip"})

    def zipped(h: Any) -> None:
        h.send_bytes(200, gzip.compress(json.dumps(RESULTS).encode()), "application/json",
                     {"Content-Encoding": "gzip"})

    for path, fn in (("/trickle", trickle), ("/big", oversized), ("/bomb", bomb),
                     ("/stacked", stacked), ("/zipped", zipped)):
        site.route(path + "/search")(fn)


@pytest.mark.anyio
async def test_trickling_server_hits_the_overall_deadline(site: Any) -> None:
    install(site)
    backend = SearxNGSearch(site.url("/trickle"), timeout=1.0)
    start = time.perf_counter()
    with pytest.raises(SearchError, match=r"SearxNG search timed out after 1s"):
        await backend.search("octopus")
    assert time.perf_counter() - start < 2.5


@pytest.mark.anyio
@pytest.mark.parametrize("route", ["/big", "/bomb"])
async def test_oversized_responses_are_refused(site: Any, route: str) -> None:
    install(site)
    backend = SearxNGSearch(site.url(route), max_response_bytes=200_000)
    with pytest.raises(SearchError, match="SearxNG sent a response larger than 200000 bytes"):
        await backend.search("octopus")


@pytest.mark.anyio
async def test_stacked_encoding_is_refused_and_gzip_works(site: Any) -> None:
    install(site)
    with pytest.raises(SearchError, match="more than one content encoding"):
        await SearxNGSearch(site.url("/stacked")).search("octopus")
    results = await SearxNGSearch(site.url("/zipped")).search("octopus")
    assert [(r.title, r.url, r.snippet) for r in results] == [
        ("Octopus", "https://a.example/1", "arms")]


@pytest.mark.anyio
async def test_hostile_result_text_is_cleaned_in_linear_time(site: Any, loop_watch: Any) -> None:
    """A snippet of '<' without '>' made the tag-stripping regex quadratic (a result can
    quote any web page); a response nested too deeply to parse is a clear SearchError."""
    hostile = {"results": [{"title": "<" * 300_000, "url": "https://a.example/1",
                            "content": "<b" * 200_000 + " arms"}]}
    site.route("/hostile/search")(lambda h: h.send_json(200, hostile))
    site.route("/deep/search")(lambda h: h.send_bytes(200, b"[" * 200_000, "application/json"))
    async with loop_watch() as watch:
        results = await SearxNGSearch(site.url("/hostile")).search("x")
        with pytest.raises(SearchError, match="not JSON"):
            await SearxNGSearch(site.url("/deep")).search("x")
    assert watch.longest < 0.5
    assert results[0].snippet.endswith(" arms")
