"""Compressed bodies: the byte cap holds after decompression, stacked codings are refused.

A real loopback server sends gzip bombs; the fetch must come back promptly, without
stalling the event loop and without the memory the bomb would expand to.
"""

from __future__ import annotations

import base64
import gzip
import time
import zlib
from typing import Any

import pytest
from agentkit.tools import FetchError, fetch

# gzip(gzip(b"A" * 2**30)) at level 9: 1,826 bytes that expand to 1 GiB (made with zlib).
DOUBLE_BOMB = base64.b64decode(
    "H4sIAAAAAAACA+3coW6TYRSA4bKWpEEwEMxM0DtAkdQsKWZBIkAvk4hdw0oIatcxgUR0ySQOhd3muAAwCBSkWxvu"
    "Ycn/Po/5jj7y5Mv7/Gw62tgZ//z6YTMsZxf/zvc+PxoBAAAAA7e8+Th+sBlm66vDN+8AAACAoTvefTzZHgX+Hu2/"
    "sg4AAAAYvE8H8yfbHwK/T08m1gEAAACD9+zPj8X2FvBtvXr61j4AAABg8K4FAwAAACBFMAAAAABaBAMAAACgRTAA"
    "AAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBFMAAAAABiBAMAAACgRTAAAAAAWgQDAAAAoEUwAAAAAGIEAwAAAKBFMAAA"
    "AABaBAMAAACgRTAAAAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBFMAAAAABiBAMAAACgRTAAAAAAWgQDAAAAoEUwAAAA"
    "AGIEAwAAAKBFMAAAAABaBAMAAACgRTAAAAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBFMAAAAABiBAMAAACgRTAAAAAA"
    "WgQDAAAAoEUwAAAAAGIEAwAAAKBFMAAAAABaBAMAAACgRTAAAAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBFMAAAAABi"
    "BAMAAACgRTAAAAAAWgQDAAAAoEUwAAAAAGIEAwAAAKBFMAAAAABaBAMAAACgRTAAAAAAYgQDAAAAoEUwAAAAAFoE"
    "AwAAAKBFMAAAAABiBAMAAACgRTAAAAAAWgQDAAAAoEUwAAAAAGIEAwAAAKBFMAAAAABaBAMAAACgRTAAAAAAYgQD"
    "AAAAoEUwAAAAAFoEAwAAAKBFMAAAAABiBAMAAACgRTAAAAAAWgQDAAAAoEUwAAAAAGIEAwAAAKBFMAAAAABaBAMA"
    "AACgRTAAAAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBFMAAAAABiBAMAAACgRTAAAAAAWgQDAAAAoEUwAAAAAGIEAwAA"
    "AKBFMAAAAABaBAMAAACgRTAAAAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBFMAAAAABiBAMAAACgRTAAAAAAWgQDAAAA"
    "oEUwAAAAAGIEAwAAAKBFMAAAAABaBAMAAACgRTAAAAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBFMAAAAABiBAMAAACg"
    "RTAAAAAAWgQDAAAAoEUwAAAAAGIEAwAAAKBFMAAAAABaBAMAAACgRTAAAAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBF"
    "MAAAAABiBAMAAACgRTAAAAAAWgQDAAAAoEUwAAAAAGIEAwAAAKBFMAAAAABaBAMAAACgRTAAAAAAYgQDAAAAoEUw"
    "AAAAAFoEAwAAAKBFMAAAAABiBAMAAACgRTAAAAAAWgQDAAAAoEUwAAAAAGIEAwAAAKBFMAAAAABaBAMAAACgRTAA"
    "AAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBFMAAAAABiBAMAAACgRTAAAAAAWgQDAAAAoEUwAAAAAGIEAwAAAKBFMAAA"
    "AABaBAMAAACgRTAAAAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBFMAAAAABiBAMAAACgRTAAAAAAWgQDAAAAoEUwAAAA"
    "AGIEAwAAAKBFMAAAAABaBAMAAACgRTAAAAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBFMAAAAABiBAMAAACgRTAAAAAA"
    "WgQDAAAAoEUwAAAAAGIEAwAAAKBFMAAAAABaBAMAAACgRTAAAAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBFMAAAAABi"
    "BAMAAACgRTAAAAAAWgQDAAAAoEUwAAAAAGIEAwAAAKBFMAAAAABaBAMAAACgRTAAAAAAYgQDAAAAoEUwAAAAAFoE"
    "AwAAAKBFMAAAAABiBAMAAACgRTAAAAAAWgQDAAAAoEUwAAAAAGIEAwAAAKBFMAAAAABaBAMAAACgRTAAAAAAYgQD"
    "AAAAoEUwAAAAAFoEAwAAAKBFMAAAAABiBAMAAACgRTAAAAAAWgQDAAAAoEUwAAAAAGIEAwAAAKBFMAAAAABaBAMA"
    "AACgRTAAAAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBFMAAAAABiBAMAAACgRTAAAAAAWgQDAAAAoEUwAAAAAGIEAwAA"
    "AKBFMAAAAABaBAMAAACgRTAAAAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBFMAAAAABiBAMAAACgRTAAAAAAWgQDAAAA"
    "oEUwAAAAAGIEAwAAAKBFMAAAAABaBAMAAACgRTAAAAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBFMAAAAABiBAMAAACg"
    "RTAAAAAAWgQDAAAAoEUwAAAAAGIEAwAAAKBFMAAAAABaBAMAAACgRTAAAAAAYgQDAAAAoEUwAAAAAFoEAwAAAKBF"
    "MAAAAABiBAMAAACg5f3/YMDky68Xq9cPR/fr5eV0/v3uXdwCAlEkGMrsDwA="
)
SINGLE_BOMB = gzip.decompress(DOUBLE_BOMB)  # ~1 MB on the wire, 1 GiB of "A" inside
MB = 1024 * 1024
TEXT = ("Octopuses have three hearts and blue blood. " * 40).encode()


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def install(site: Any) -> None:
    def send(h: Any, body: bytes, codings: list[str], ctype: str = "text/plain") -> None:
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for c in codings:
            h.send_header("Content-Encoding", c)
        h.end_headers()
        h.wfile.write(body)

    r = site.route
    r("/bomb-1g")(lambda h: send(h, SINGLE_BOMB, ["gzip"]))
    r("/bomb-stacked")(lambda h: send(h, DOUBLE_BOMB, ["gzip, gzip"]))
    r("/bomb-stacked-split")(lambda h: send(h, DOUBLE_BOMB, ["gzip", "gzip"]))
    r("/deflate-zlib")(lambda h: send(h, zlib.compress(TEXT), ["deflate"]))
    r("/deflate-raw")(lambda h: send(h, raw_deflate(TEXT), ["deflate"]))
    half = len(TEXT) // 2
    r("/gzip-members")(lambda h: send(h, gzip.compress(TEXT[:half]) +
                                      gzip.compress(TEXT[half:]), ["gzip"]))
    r("/brotli")(lambda h: send(h, b"\x0b\x02\x80hello\x03", ["br"]))
    r("/corrupt")(lambda h: send(h, b"\x1f\x8b\x08\x00garbage-not-gzip", ["gzip"]))


@pytest.mark.anyio
@pytest.mark.parametrize("route", ["/bomb-stacked", "/bomb-stacked-split"])
async def test_stacked_gzip_bomb_is_refused_promptly(site: Any, route: str, loop_watch: Any,
                                                     peak_memory: Any) -> None:
    install(site)
    start = time.perf_counter()
    async with loop_watch() as watch:
        with pytest.raises(FetchError, match="more than one content encoding") as info:
            await fetch(site.url(route), allow_private=True, max_bytes=MB, timeout=60)
    assert "gzip, gzip" in str(info.value)
    assert time.perf_counter() - start < 3
    assert watch.longest < 0.5
    assert peak_memory.growth_mib() < 64


@pytest.mark.anyio
async def test_gzip_bomb_stops_at_the_cap(site: Any, loop_watch: Any,
                                          peak_memory: Any) -> None:
    install(site)
    start = time.perf_counter()
    async with loop_watch() as watch:
        page = await fetch(site.url("/bomb-1g"), allow_private=True, max_bytes=MB, timeout=60)
    assert time.perf_counter() - start < 3
    assert watch.longest < 0.5
    assert peak_memory.growth_mib() < 64
    assert page.truncated
    assert 0.9 * MB <= len(page.content) <= MB and set(page.content) == {"A"}
    assert "[the download hit the size limit; the page is incomplete]" in page.render(100)
    assert site.requests[-1].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.anyio
@pytest.mark.parametrize("route", ["/deflate-zlib", "/deflate-raw", "/gzip-members"])
async def test_compressed_pages_decode_fully(site: Any, route: str) -> None:
    install(site)
    page = await fetch(site.url(route), allow_private=True)
    assert not page.truncated
    assert page.content == TEXT.decode()


@pytest.mark.anyio
async def test_small_cap_on_compressed_page(site: Any) -> None:
    install(site)
    page = await fetch(site.url("/deflate-zlib"), allow_private=True, max_bytes=100)
    assert page.truncated and page.content == TEXT[:100].decode()


@pytest.mark.anyio
@pytest.mark.parametrize("route,message", [
    ("/brotli", "unsupported content encoding 'br'"),
    ("/corrupt", "not valid gzip data"),
])
async def test_undecodable_bodies_give_clear_errors(site: Any, route: str,
                                                    message: str) -> None:
    install(site)
    with pytest.raises(FetchError, match=message):
        await fetch(site.url(route), allow_private=True)


def test_inflater_never_exceeds_its_room() -> None:
    """Fed one byte at a time with a small room, output is exact and bounded."""
    from agentkit.tools.bodies import Inflater

    for data, coding in ((gzip.compress(TEXT), "gzip"), (zlib.compress(TEXT), "deflate"),
                         (raw_deflate(TEXT), "deflate")):
        inf = Inflater(coding)
        out = b""
        for i in range(len(data)):
            piece = inf.feed(data[i: i + 1], 10_000)
            assert len(piece) <= 10_000
            out += piece
        assert out == TEXT and not inf.over
    inf = Inflater("gzip")
    assert len(inf.feed(SINGLE_BOMB[:65536], 5000)) == 5000 and inf.over
    inf = Inflater("gzip")  # a member ending exactly at a chunk boundary
    parts = [inf.feed(gzip.compress(TEXT[:100]), 10_000), inf.feed(gzip.compress(TEXT), 10_000)]
    assert b"".join(parts) == TEXT[:100] + TEXT
    inf = Inflater("gzip")  # trailing junk after the stream is ignored
    assert inf.feed(gzip.compress(TEXT) + b"junk", 10_000) == TEXT
