"""fetch_url against real pages served over loopback (private addresses allowed here)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from agentkit.tools import FetchError, fetch, web_tools

from agentkit.tooldef import Tool


def fetch_tool(**kw: Any) -> Tool:
    return web_tools(include_search=False, allow_private=True, **kw)[0]


async def run(tool: Tool, **args: Any) -> str:
    out = await tool.call(None, tool.validate(args))
    assert isinstance(out, str)
    return out


@pytest.mark.anyio
async def test_article_is_clean_markdown(site: Any) -> None:
    out = await run(fetch_tool(), url=site.url("/article"))
    head, _, body = out.partition("\n\n")
    assert "Title: Octopus Cognition Study | Ocean News" in head
    assert f"URL: {site.url('/article')}" in head
    assert body.startswith("# Octopuses solve puzzles faster than expected")
    assert "## How the experiment worked" in body
    assert "- Screw-top lids: 54 seconds on average" in body
    assert "[the data portal](https://example.org/data)" in body
    for junk in ("TRACKER-SCRIPT-TEXT", "INLINE-SCRIPT-TEXT", "SANS-STYLE-TEXT", "NAVHOME",
                 "NAVSPORT", "BUY CHEAP WIDGETS", "SIDEBAR-AD-TEXT", "FOOTER-COPYRIGHT-TEXT"):
        assert junk not in out, junk


@pytest.mark.anyio
@pytest.mark.parametrize("path,expected", [
    ("/latin1", "Le café était très chaud et la crème brûlée délicieuse"),
    ("/cp1251", "Это статья о погоде в Москве сегодня."),
])
async def test_non_utf8_pages_are_decoded(site: Any, path: str, expected: str) -> None:
    out = await run(fetch_tool(), url=site.url(path))
    assert expected in out
    assert "\ufffd" not in out


@pytest.mark.anyio
async def test_json_text_and_pdf(site: Any) -> None:
    tool = fetch_tool()
    out = await run(tool, url=site.url("/data.json"))
    assert '"arms": 8' in out and "Content-Type: application/json" in out
    out = await run(tool, url=site.url("/notes.txt"))
    assert out.endswith("plain notes\nline two ✓\n")
    out = await run(tool, url=site.url("/report.pdf"))
    assert "Title: Loopback Report" in out
    assert "## Page 1\n\nQuarterly revenue grew 42 percent" in out


@pytest.mark.anyio
async def test_binary_and_http_errors_are_clear(site: Any) -> None:
    tool = fetch_tool()
    with pytest.raises(FetchError, match=r"image/png .*not text"):
        await run(tool, url=site.url("/image.png"))
    with pytest.raises(FetchError, match=r"(?s)HTTP 404 Not Found .*page you wanted was removed"):
        await run(tool, url=site.url("/missing"))


@pytest.mark.anyio
async def test_redirect_chain_followed_and_limited(site: Any) -> None:
    page = await fetch(site.url("/hop/4"), allow_private=True)
    assert page.final_url == site.url("/article")
    assert page.redirects == [site.url(p) for p in ("/hop/3", "/hop/2", "/hop/1", "/article")]
    out = page.render()
    assert f"Redirected from: {site.url('/hop/4')}" in out
    with pytest.raises(FetchError, match="too many redirects"):
        await fetch(site.url("/hop/4"), allow_private=True, max_redirects=3)
    with pytest.raises(FetchError, match=r"too many redirects \(more than 5\)"):
        await fetch(site.url("/loop"), allow_private=True)


@pytest.mark.anyio
async def test_huge_page_and_gzip_bomb_are_capped(site: Any) -> None:
    page = await fetch(site.url("/huge"), allow_private=True, max_bytes=512 * 1024)
    assert page.truncated
    assert "the download hit the size limit" in page.render()
    started = time.monotonic()
    bomb = await fetch(site.url("/bomb"), allow_private=True, max_bytes=256 * 1024)
    assert bomb.truncated and len(bomb.content) <= 256 * 1024
    assert time.monotonic() - started < 10


@pytest.mark.anyio
async def test_slow_response_hits_the_deadline(site: Any) -> None:
    tool = fetch_tool(fetch_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"timed out after 1s"):
        await run(tool, url=site.url("/slow"))
    assert time.monotonic() - started < 3


@pytest.mark.anyio
async def test_long_content_pages_with_start_index(site: Any) -> None:
    tool = fetch_tool(max_chars=200)
    first = await run(tool, url=site.url("/article"))
    assert "[content cut at 200 characters; call fetch_url with start_index=200" in first
    second = await run(tool, url=site.url("/article"), start_index=200)
    assert "[characters 200-400 of" in second
    page = await fetch(site.url("/article"), allow_private=True)
    assert page.content[200:400] in second


@pytest.mark.anyio
async def test_allowlist_instead_of_allow_private(site: Any) -> None:
    tool = web_tools(include_search=False, allow=["127.0.0.1"])[0]
    assert "Octopuses" in await run(tool, url=site.url("/article"))


@pytest.mark.anyio
async def test_bad_arguments(site: Any) -> None:
    tool = fetch_tool()
    with pytest.raises(ValueError, match="only http:// and https://"):
        await run(tool, url="ftp://127.0.0.1/x")
    with pytest.raises(ValueError, match="start_index"):
        tool.validate({"url": site.url("/article"), "start_index": -1})


@pytest.mark.anyio
async def test_html_beyond_the_extractor_cap_is_cut_with_a_note(
        site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import agentkit.tools.extract as extract

    monkeypatch.setattr(extract, "MAX_HTML_CHARS", 50_000)
    page = await fetch(site.url("/huge"), allow_private=True, max_bytes=200_000)
    assert page.content.endswith("[the page's HTML is longer than 50000 characters; only the "
                                 "first part was read]")
    assert "filler text for a very large page" in page.content
