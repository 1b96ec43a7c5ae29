"""A real loopback HTTP server (127.0.0.1) serving test pages and search-API look-alikes."""

from __future__ import annotations

import contextlib
import gzip
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

Route = Callable[["Handler"], None]

ARTICLE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Octopus Cognition Study | Ocean News</title>
<script>var trackingPixel = "TRACKER-SCRIPT-TEXT"; window.dataLayer = [];</script>
<style>.ad { color: red } body { font-family: SANS-STYLE-TEXT }</style>
</head><body>
<header><nav class="menu"><ul><li><a href="/">NAVHOME</a></li><li><a href="/world">NAVWORLD</a>
</li><li><a href="/sport">NAVSPORT</a></li></ul></nav></header>
<div class="ad advertisement" id="top-ad">ADVERT: BUY CHEAP WIDGETS NOW</div>
<main><article>
<h1>Octopuses solve puzzles faster than expected</h1>
<p>Researchers at the marine institute found that common octopuses opened screw-top jars in
under a minute after only three attempts, a result that surprised the team.</p>
<h2>How the experiment worked</h2>
<p>Each animal was given a transparent jar containing a crab. The lids were sealed with
different mechanisms, and the researchers recorded how long each octopus took.</p>
<ul><li>Screw-top lids: 54 seconds on average</li><li>Latch lids: 3 minutes</li></ul>
<p>The full dataset is available from <a href="https://example.org/data">the data portal</a>,
according to the lead author, who called the findings remarkable for an invertebrate.</p>
<script>document.write("INLINE-SCRIPT-TEXT")</script>
</article></main>
<aside class="sidebar"><div class="ad">SPONSORED: SIDEBAR-AD-TEXT</div></aside>
<footer><p>FOOTER-COPYRIGHT-TEXT 2026 Ocean News</p></footer>
</body></html>"""

LATIN1_BODY = ("<html><head><title>Café résumé</title></head><body><article>"
               "<h1>Crème brûlée à la française</h1><p>" + "Le café était très chaud et la "
               "crème brûlée délicieuse, disait l'élève. " * 3 + "</p></article></body></html>")

CYRILLIC_BODY = ('<html><head><meta http-equiv="Content-Type" content="text/html; '
                 'charset=windows-1251"><title>Новости</title></head><body><article>'
                 "<h1>Привет, мир</h1><p>" + "Это статья о погоде в Москве сегодня. " * 4 +
                 "</p></article></body></html>")


def make_pdf(text: str, title: str) -> bytes:
    """A minimal valid one-page PDF showing `text` (Helvetica), with a document title."""
    stream = f"BT /F1 18 Tf 72 700 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream +
        b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({title}) >>".encode(),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Handler(BaseHTTPRequestHandler):
    server: SiteServer  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.body = body
        path = self.path.split("?", 1)[0]
        self.server.site.requests.append(
            Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                     body))
        route = self.server.site.routes.get((self.command, path)) or \
            self.server.site.routes.get(("*", path))
        if route is None:
            self.send_bytes(404, b"<html><body><p>No such page here.</p></body></html>",
                            "text/html")
            return
        try:
            route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = _handle
    do_POST = _handle

    def send_bytes(self, status: int, data: bytes, ctype: str,
                   headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(obj).encode(), "application/json", headers)

    def redirect(self, location: str, status: int = 302) -> None:
        self.send_bytes(status, b"", "text/plain", {"Location": location})

    def json_body(self) -> Any:
        return json.loads(self.body or b"{}")


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    site: Site

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return  # the client hung up early, as the size and time caps make it do
        super().handle_error(request, client_address)


@dataclass
class Site:
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    scheme: str = "http"
    sni: list[str | None] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, method: str = "*") -> Callable[[Route], Route]:
        def deco(fn: Route) -> Route:
            self.routes[(method, path)] = fn
            return fn
        return deco


def _default_routes(site: Site) -> None:
    r = site.route
    r("/article")(lambda h: h.send_bytes(200, ARTICLE.encode(), "text/html; charset=utf-8"))
    r("/latin1")(lambda h: h.send_bytes(200, LATIN1_BODY.encode("iso-8859-1"),
                                        "text/html; charset=ISO-8859-1"))
    r("/cp1251")(lambda h: h.send_bytes(200, CYRILLIC_BODY.encode("cp1251"), "text/html"))
    r("/data.json")(lambda h: h.send_json(200, {"name": "octopus", "arms": 8,
                                                "tags": ["smart", "ocean"]}))
    r("/notes.txt")(lambda h: h.send_bytes(200, "plain notes\nline two ✓\n".encode(),
                                           "text/plain; charset=utf-8"))
    r("/report.pdf")(lambda h: h.send_bytes(
        200, make_pdf("Quarterly revenue grew 42 percent", "Loopback Report"),
        "application/pdf"))
    r("/image.png")(lambda h: h.send_bytes(200, b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png"))
    r("/missing")(lambda h: h.send_bytes(
        404, b"<html><body><h1>Not here</h1><p>The page you wanted was removed.</p></body>"
             b"</html>", "text/html"))
    for n in range(1, 8):
        r(f"/hop/{n}")(lambda h, n=n: h.redirect(f"/hop/{n - 1}" if n > 1 else "/article"))
    r("/hop/0")(lambda h: h.redirect("/article", 301))
    r("/loop")(lambda h: h.redirect("/loop"))
    r("/to-loopback-ip")(lambda h: h.redirect(f"http://127.0.0.1:{site.port}/article"))
    r("/to-localhost")(lambda h: h.redirect(f"http://localhost:{site.port}/article"))
    r("/to-metadata")(lambda h: h.redirect("http://169.254.169.254/latest/meta-data/"))
    r("/to-file")(lambda h: h.redirect("file:///etc/passwd"))

    def huge(h: Handler) -> None:
        block = b"<p>" + b"filler text for a very large page " * 30 + b"</p>\n"
        count = 20 * 1024 * 1024 // len(block)
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(len(block) * count + 26))
        h.end_headers()
        h.wfile.write(b"<html><body><article><h1>")
        for _ in range(count):
            h.wfile.write(block)

    def slow(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        for _ in range(40):  # bounded: at most ~10 s, the client gives up long before
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.25)

    def bomb(h: Handler) -> None:
        data = gzip.compress(b"<p>" + b"A" * (16 * 1024 * 1024) + b"</p>", 1)
        h.send_bytes(200, data, "text/html", {"Content-Encoding": "gzip"})

    r("/huge")(huge)
    r("/slow")(slow)
    r("/bomb")(bomb)


@contextlib.contextmanager
def serve(s: Site, tls: ssl.SSLContext | None = None) -> Iterator[Site]:
    _default_routes(s)
    server = SiteServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        s.scheme = "https"
    server.site = s
    s.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield s
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    with serve(Site()) as s:
        yield s


@pytest.fixture
def tls_site(tmp_path: Path) -> Iterator[tuple[Site, ssl.SSLContext]]:
    """An HTTPS site whose self-signed certificate names only `secure.example`.

    Yields the site and a client context trusting that certificate.
    """
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=secure.example",
         "-addext", "subjectAltName=DNS:secure.example"],
        check=True, capture_output=True)
    s = Site()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    def record_sni(sock: Any, name: str | None, ctx: Any) -> None:
        s.sni.append(name)

    server_ctx.sni_callback = record_sni
    client_ctx = ssl.create_default_context(cafile=str(cert))
    with serve(s, server_ctx):
        yield s, client_ctx


class PeakMemory:
    """Peak resident memory of this process, measured from a reset point (Linux)."""

    @staticmethod
    def _kib(key: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise AssertionError(f"{key} missing from /proc/self/status")

    def reset(self) -> None:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        self.base = self._kib("VmRSS")
        assert self._kib("VmHWM") <= self.base + 4096

    def growth_mib(self) -> float:
        return (self._kib("VmHWM") - self.base) / 1024


@pytest.fixture
def peak_memory() -> PeakMemory:
    mem = PeakMemory()
    mem.reset()
    return mem


class LoopWatch:
    """Runs beside the code under test and records the longest event-loop stall."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.running = True

    async def run(self) -> None:
        import anyio

        last = time.perf_counter()
        while self.running:
            await anyio.sleep(0.01)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last)
            last = now


@contextlib.asynccontextmanager
async def watched_loop() -> Any:
    """`async with watched_loop() as watch:` … `watch.longest` is the longest stall (s)."""
    import anyio

    watch = LoopWatch()
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch.run)
        try:
            yield watch
        finally:
            watch.running = False


@pytest.fixture
def loop_watch() -> Callable[[], Any]:
    return watched_loop
