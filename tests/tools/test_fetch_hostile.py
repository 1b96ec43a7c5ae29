"""Hostile pages cannot stall the agent or outlive the fetch deadline (issue 9, item 13).

A real loopback HTTP server serves crafted pages. Content extraction runs in a worker
process under the fetch deadline (killed when it passes) with a memory limit; titles are
found in linear time; JSON and PDF text are capped while they are built.
"""

from __future__ import annotations

import os
import time
import zlib
from pathlib import Path
from typing import Any

import anyio
import pytest
from agentkit.tools import FetchError, extractproc, fetch

pytestmark = pytest.mark.anyio

# The old title regexes were cubic on these: 10 KB of the first took 8 s (26 KB: minutes).
OG_BOMB = "<html><head>" + "<meta property='og:title' " * 1000
TITLE_BOMB = "<html><head>" + "<title " * 4000 + "<meta property=og:title " * 500


def shared_stream_pdf(pages: int, ops: int) -> bytes:
    """`pages` pages that all draw one compressed content stream of `ops` line operators:
    a few KB that cost pypdf about a second per page (minutes in all)."""
    content = b"BT /F1 1 Tf (x) Tj ET " + b"0 0 m 1 1 l S " * ops
    stream = zlib.compress(content, 9)
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (10 + i) for i in range(pages)) +
           b"] /Count %d >>" % pages,
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        4: b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream +
           b"\nendstream",
    }
    for i in range(pages):
        objects[10 + i] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                           b"/Contents 4 0 R /Resources << /Font << /F1 3 0 R >> >> >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for num, obj in objects.items():
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + obj + b"\nendobj\n"
    xref, size = len(out), max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for n in range(1, size):
        out += (b"%010d 00000 n \n" % offsets[n]) if n in offsets else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    return bytes(out)


# Pretty-printed with indent=2 this 1 MiB document was ~500 MB of text (5 MiB: 1.9 GiB).
NESTED_JSON = ("[" * 500 + "1," * 500_000 + "1" + "]" * 500).encode()


# 4.5 MB that parse into ~100 MB of Python lists.
BIG_JSON = ("[" + "[]," * 1_500_000 + "[]]").encode()


def install(site: Any) -> None:
    r = site.route
    r("/og-bomb")(lambda h: h.send_bytes(200, OG_BOMB.encode(), "text/html"))
    r("/title-bomb")(lambda h: h.send_bytes(200, TITLE_BOMB.encode(), "text/html"))
    r("/pages.pdf")(lambda h: h.send_bytes(200, shared_stream_pdf(60, 25_000),
                                           "application/pdf"))
    r("/nested.json")(lambda h: h.send_bytes(200, NESTED_JSON, "application/json"))
    r("/big.json")(lambda h: h.send_bytes(200, BIG_JSON, "application/json"))


def busy_workers() -> list[int]:
    """Extraction workers (children of this process) that are running right now."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == os.getpid() and b"extractproc" in cmd and fields[0] == "R":
            out.append(int(pid))
    return out


@pytest.mark.parametrize("route", ["/og-bomb", "/title-bomb"])
async def test_title_bombs_are_read_in_linear_time(site: Any, route: str,
                                                   loop_watch: Any) -> None:
    install(site)
    start = time.perf_counter()
    async with loop_watch() as watch:
        page = await fetch(site.url(route), allow_private=True, timeout=3)
    assert time.perf_counter() - start < 3
    assert watch.longest < 0.5
    assert page.kind == "html"


async def test_a_costly_pdf_is_stopped_at_the_fetch_deadline(site: Any,
                                                             loop_watch: Any) -> None:
    install(site)
    start = time.perf_counter()
    async with loop_watch() as watch:
        with pytest.raises(FetchError, match="timed out after 2s"):
            await fetch(site.url("/pages.pdf"), allow_private=True, timeout=2)
    took = time.perf_counter() - start
    assert took < 3, took  # was the whole extraction: about a minute
    assert watch.longest < 0.5
    await anyio.sleep(0.3)
    assert busy_workers() == []  # the worker was killed, not left running


async def test_deeply_nested_json_is_capped_while_it_is_printed(
        site: Any, loop_watch: Any, peak_memory: Any) -> None:
    install(site)
    async with loop_watch() as watch:
        page = await fetch(site.url("/nested.json"), allow_private=True, timeout=20)
    assert watch.longest < 0.5
    assert peak_memory.growth_mib() < 64
    assert page.kind == "json"
    assert len(page.content) < 2_100_000
    assert page.content.endswith("characters; the rest is not shown]")
    assert "\n" + " " * 64 + "1," in page.content  # indentation stops growing at 32 levels
    assert " " * 66 not in page.content


async def test_the_worker_memory_limit_gives_a_clear_error(
        site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    install(site)
    extractproc._shutdown()  # idle workers were started with the default limit
    monkeypatch.setattr(extractproc, "MEMORY_LIMIT", 48 * 1024 * 1024)
    try:
        with pytest.raises(FetchError, match="memory limit of 48 MiB"):
            await fetch(site.url("/big.json"), allow_private=True, timeout=20)
    finally:
        extractproc._shutdown()
    monkeypatch.undo()
    page = await fetch(site.url("/big.json"), allow_private=True, timeout=20)  # a fresh worker
    assert page.content.startswith("[\n  [],\n  [],")
