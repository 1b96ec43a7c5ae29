"""Hostile-input benchmark for the file and web tools (issue 9, items 11-15 and 13).

For each attack it prints the time the fixed code takes and, as the baseline, the time of
the construction it replaced (a glob compiled to one backtracking stdlib regex; the old
title regexes), measured in the same run in a child process that is stopped after `--cap`
seconds (shown as "> cap"). Fetches go to a real loopback HTTP server; "stall" is the
longest the event loop went without running (target: < 0.1 s).

    python benchmarks/tool_attacks.py [--cap 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import ClassVar

GLOB_ATTACKS = [
    ("*a" * 7 + "*b", "a" * 40),
    ("*a" * 7 + "*b", "a" * 60),
    ("**/" * 60 + "x.py", "/".join(["d"] * 25) + "/y.py"),
]
OLD_GLOB = textwrap.dedent(r'''
    import re, sys, time
    def comp(c):
        return "".join("[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch)
                       for ch in c)
    def to_regex(p):
        parts = [x for x in p.split("/") if x]
        rx = ""
        for i, c in enumerate(parts):
            last = i == len(parts) - 1
            star = ".*" if last else "(?:[^/]+/)*"
            rx += star if c == "**" else comp(c) + ("" if last else "/")
        return re.compile(rx + r"\Z", re.DOTALL)
    pattern, path = sys.argv[1], sys.argv[2]
    t = time.perf_counter(); to_regex(pattern).match(path); print(time.perf_counter() - t)
''')
OLD_TITLE = textwrap.dedent(r'''
    import re, sys, time
    T = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
    OG = re.compile(r"""<meta[^>]+property=["']og:title["'][^>]+content=["']([^"']+)""", re.I)
    page = sys.stdin.read()
    t = time.perf_counter(); T.search(page) or OG.search(page); print(time.perf_counter() - t)
''')


def baseline(code: str, args: list[str], stdin: str, cap: float) -> str:
    try:
        out = subprocess.run([sys.executable, "-c", code, *args], input=stdin, text=True,
                             capture_output=True, timeout=cap, check=True)
    except subprocess.TimeoutExpired:
        return f"> {cap:g} s"
    return f"{float(out.stdout):.3f} s"


def globs(cap: float) -> None:
    from agentkit.tools.globmatch import Glob

    print("glob matching (one path)                         old (regex)   new")
    for pattern, path in GLOB_ATTACKS:
        t = time.perf_counter()
        Glob(pattern).match(path)
        new = time.perf_counter() - t
        old = baseline(OLD_GLOB, [pattern, path], "", cap)
        print(f"  {pattern[:28]!r:32} on {len(path):3} chars   {old:>12}   {new * 1e6:7.0f} µs")


def titles(cap: float) -> None:
    from agentkit.tools.extract import _title

    print("title extraction (og:title bomb)                 old (regex)   new")
    for n in (200, 400, 1000):
        page = "<html><head>" + "<meta property='og:title' " * n
        t = time.perf_counter()
        _title(page)
        new = time.perf_counter() - t
        old = baseline(OLD_TITLE, [], page, cap)
        print(f"  {len(page):6} bytes                                  {old:>12}   "
              f"{new * 1e3:7.2f} ms")


class _Pages(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[bytes, str]]] = {}

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body, ctype = self.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def fetches() -> None:
    import anyio

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tools"))
    from agentkit.tools import FetchError, fetch
    from test_fetch_hostile import NESTED_JSON, OG_BOMB, shared_stream_pdf

    _Pages.routes = {"/og": (OG_BOMB.encode(), "text/html"),
                     "/pdf": (shared_stream_pdf(60, 25_000), "application/pdf"),
                     "/json": (NESTED_JSON, "application/json")}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    async def one(path: str, timeout: float) -> tuple[float, float, str]:  # noqa: ASYNC109
        longest, running = 0.0, True

        async def watch() -> None:
            nonlocal longest
            last = time.perf_counter()
            while running:
                await anyio.sleep(0.01)
                now = time.perf_counter()
                longest, last = max(longest, now - last), now

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            t = time.perf_counter()
            try:
                page = await fetch(base + path, allow_private=True, timeout=timeout)
                outcome = f"{len(page.content)} chars"
            except FetchError as exc:
                outcome = str(exc).split(";")[0]
            took = time.perf_counter() - t
            running = False
        return took, longest, outcome

    print("fetch_url over loopback                   timeout   took    stall   outcome")
    for label, path, timeout in [("26 KB og:title bomb", "/og", 3.0),
                                 ("PDF, 60 pages sharing one stream", "/pdf", 2.0),
                                 ("1 MiB JSON nested 500 deep", "/json", 20.0)]:
        took, stall, outcome = anyio.run(one, path, timeout)
        print(f"  {label:38} {timeout:5.1f} s {took:6.2f} s {stall:6.3f} s   {outcome[:40]}")
    server.shutdown()


def grep_cpu() -> None:
    import anyio
    from agentkit.tools import file_tools

    root = Path(tempfile.mkdtemp())
    (root / "big.txt").write_text(("a" * 24 + "\n") * 2000)
    grep = next(t for t in file_tools(root, time_budget=None) if t.name == "grep")

    async def main() -> None:
        for _ in range(4):
            with anyio.move_on_after(0.3):
                await grep.call(None, grep.validate({"pattern": r"(a|aa)+b"}))

    anyio.run(main)
    time.sleep(0.3)
    c = time.process_time()
    time.sleep(2)
    print(f"grep: 4 calls timed out at 0.3 s; CPU used afterwards: "
          f"{(time.process_time() - c) / 2:.2f} CPU-s per second (was ~0.65 before the fix)")
    (root / "big.txt").unlink()
    root.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=float, default=20.0,
                        help="seconds after which a baseline run is stopped")
    args = parser.parse_args()
    globs(args.cap)
    titles(args.cap)
    fetches()
    grep_cpu()


if __name__ == "__main__":
    main()
