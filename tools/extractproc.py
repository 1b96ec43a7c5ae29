"""Content extraction in a worker process that can be stopped: `await extract(...)`.

Parsing hostile pages (HTML, PDF, JSON) can take minutes of CPU or gigabytes of memory in
library code that cannot be interrupted. So it runs in a separate Python process
(`python -m agentkit.tools.extractproc`) with an address-space limit (`MEMORY_LIMIT` above
its start-up size) and a CPU-time backstop, under the caller's deadline: when the caller
is cancelled (the fetch's timeout), the worker is killed at once. Idle workers are kept
for the next fetch (at most `MAX_IDLE`, each used at most `MAX_USES` times).

The protocol is length-prefixed frames on the worker's stdin/stdout: a JSON header and the
body in; one JSON answer out. Nothing is unpickled, so a compromised worker cannot run
code in the agent's process.
"""

from __future__ import annotations

import atexit
import os
import struct
import subprocess
import sys
import threading
from typing import IO, Any

import orjson

__all__ = ["MEMORY_LIMIT", "ExtractionFailed", "extract", "main", "prestart"]

MEMORY_LIMIT = 1024 * 1024 * 1024
"""Bytes of address space a worker may add to its start-up size."""
CPU_LIMIT = 600
"""Seconds of CPU after which the kernel kills a worker (a backstop for orphans)."""
MAX_IDLE = 2
MAX_USES = 50
_LEN = struct.Struct(">Q")


class ExtractionFailed(RuntimeError):
    """The worker died (memory limit, crash) or refused the content; the message says why."""

    def __init__(self, message: str, *, content: bool = False) -> None:
        super().__init__(message)
        self.content = content  # True: the content itself cannot be read (ContentError)


def _write_frame(out: IO[bytes], data: bytes) -> None:
    out.write(_LEN.pack(len(data)))
    out.write(data)


def _read_frame(inp: IO[bytes]) -> bytes | None:
    head = inp.read(_LEN.size)
    if len(head) < _LEN.size:
        return None
    (size,) = _LEN.unpack(head)
    data = inp.read(size)
    return data if len(data) == size else None


class _Worker:
    """One worker process; its methods block (they run in a worker thread)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agentkit.tools.extractproc", str(MEMORY_LIMIT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            close_fds=True)
        self.uses = 0

    def request(self, header: dict[str, Any], body: bytes) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.uses += 1
        try:
            _write_frame(self.proc.stdin, orjson.dumps(header))
            _write_frame(self.proc.stdin, body)
            self.proc.stdin.flush()
            answer = _read_frame(self.proc.stdout)
        except (BrokenPipeError, OSError, ValueError):
            answer = None
        if answer is None:
            self.kill()
            raise ExtractionFailed("the content extraction process ended without an answer "
                                   "(it ran out of memory or crashed)")
        result = orjson.loads(answer)
        if not isinstance(result, dict):  # pragma: no cover - the worker always sends one
            raise ExtractionFailed("the content extraction process sent a malformed answer")
        return result

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignored
            pass
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass


_idle: list[_Worker] = []
_idle_lock = threading.Condition()
_starting = 0  # workers being started by `prestart`


def _take() -> _Worker:
    with _idle_lock:
        while True:
            while _idle:
                worker = _idle.pop()
                if worker.alive():
                    return worker
            if not _starting or not _idle_lock.wait(10):
                break
    return _Worker()


def _give_back(worker: _Worker) -> None:
    if worker.alive() and worker.uses < MAX_USES:
        with _idle_lock:
            if len(_idle) < MAX_IDLE:
                _idle.append(worker)
                _idle_lock.notify()
                return
    worker.kill()


def prestart() -> None:
    """Start a worker in the background unless one is idle or starting (a fetch calls
    this when it begins, so the worker's start-up overlaps the download)."""
    global _starting
    with _idle_lock:
        if _idle or _starting:
            return
        _starting += 1

    def start() -> None:
        global _starting
        worker = None
        try:
            worker = _Worker()
        except OSError:  # the fetch starts its own worker and reports the failure
            pass
        finally:
            with _idle_lock:
                _starting -= 1
                _idle_lock.notify_all()
        if worker is not None:
            _give_back(worker)

    threading.Thread(target=start, name="agentkit-extract-start", daemon=True).start()


@atexit.register
def _shutdown() -> None:
    with _idle_lock:
        workers, _idle[:] = list(_idle), []
    for worker in workers:
        worker.kill()


class _Job:
    """One extraction: the worker it uses can be killed from the event loop's side."""

    def __init__(self) -> None:
        self.worker: _Worker | None = None
        self.cancelled = False
        self.lock = threading.Lock()

    def run(self, header: dict[str, Any], body: bytes) -> dict[str, Any]:
        worker = _take()
        with self.lock:
            self.worker = worker
            if self.cancelled:
                worker.kill()
                raise ExtractionFailed("cancelled")
        result = worker.request(header, body)
        _give_back(worker)
        return result

    def cancel(self) -> None:
        with self.lock:
            self.cancelled = True
            if self.worker is not None:
                self.worker.kill()


async def extract(body: bytes, content_type: str, url: str,
                  truncated: bool = False) -> tuple[str, str, str]:
    """`extract_content(...)` in a worker process: (kind, title, text).

    Bounded by the caller's cancel scope (e.g. `anyio.fail_after`): on cancellation the
    worker is killed. Raises `ExtractionFailed` when the worker fails or (with `content`
    set) when the content cannot be read.
    """
    import anyio

    from . import extract as limits  # read at call time: a caller may change them

    job = _Job()
    header = {"content_type": content_type, "url": url, "truncated": truncated,
              "max_html_chars": limits.MAX_HTML_CHARS, "max_chars": limits.MAX_CONTENT_CHARS}
    try:
        answer = await anyio.to_thread.run_sync(job.run, header, body, abandon_on_cancel=True)
    except BaseException:
        job.cancel()
        raise
    if "error" in answer:
        raise ExtractionFailed(str(answer["error"]), content=bool(answer.get("content")))
    return str(answer["kind"]), str(answer["title"]), str(answer["text"])


# ------------------------------------------------------------------ the worker side
def _limit_resources(memory: int) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    size = 0
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    size = int(line.split()[1]) * 1024
    except (OSError, ValueError):  # pragma: no cover - not Linux: no baseline
        size = 256 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size + memory, size + memory))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT, CPU_LIMIT + 5))


def _answer(header: dict[str, Any], body: bytes,
            memory: int) -> tuple[dict[str, Any], bool]:
    """The answer to one request, and whether the worker should exit after it."""
    from .extract import ContentError, extract_content

    try:
        kind, title, text = extract_content(
            body, str(header["content_type"]), str(header["url"]), bool(header["truncated"]),
            max_html_chars=int(header["max_html_chars"]), max_chars=int(header["max_chars"]))
    except ContentError as exc:
        return {"error": str(exc), "content": True}, False
    except MemoryError:
        return {"error": "reading the content needed more than the memory limit of "
                         f"{memory // 2**20} MiB"}, True
    except RecursionError:
        return {"error": "the content is nested too deeply to read", "content": True}, False
    except Exception as exc:  # a parser's bug on hostile input: the model sees why
        return {"error": f"the content could not be read ({type(exc).__name__}: {exc})",
                "content": True}, False
    return {"kind": kind, "title": title, "text": text}, False


def main() -> None:
    """The worker: answer requests on stdin until it closes."""
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # a library that prints cannot corrupt the protocol
    import lxml.html  # noqa: F401 - the parsers are imported before the limit is set
    import pypdf  # noqa: F401
    import trafilatura  # noqa: F401

    from .extract import html_to_markdown

    html_to_markdown("<html><body><p>" + "Warm up the extractor's lazy set-up. " * 4 +
                     "</p></body></html>")
    memory = int(sys.argv[1]) if len(sys.argv) > 1 else MEMORY_LIMIT
    _limit_resources(memory)
    while True:
        header = _read_frame(proto_in)
        body = _read_frame(proto_in) if header is not None else None
        if header is None or body is None:
            return
        answer, leave = _answer(orjson.loads(header), body, memory)
        try:
            data = orjson.dumps(answer)
        except TypeError:  # a lone surrogate in the text
            from agentkit.textsafe import valid_utf8

            data = orjson.dumps({k: valid_utf8(v) if isinstance(v, str) else v
                                 for k, v in answer.items()})
        _write_frame(proto_out, data)
        proto_out.flush()
        if leave:
            return


if __name__ == "__main__":
    main()
