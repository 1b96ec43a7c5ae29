"""`LoopbackServer`: a scripted OpenAI-compatible streaming server on 127.0.0.1.

It runs its own event loop in a background thread (or, with `process=True`, in a child
process so benchmarks measure the client alone). Use it from sync or async code::

    with LoopbackServer([tool_step(call("add", {"a": 1})), reply("2")]) as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="test")
        ...
        srv.assert_complete()

Command line: ``python -m agentkit.testing.server --script steps.json --port 0`` prints the
port on its first stdout line and serves until terminated. The script file holds a list of
`Step.to_dict()`/`RawStep.to_dict()` objects, or ``{"steps": [...], "chunking": {...},
"strict": true, "record": true}``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from .loopback import LoopbackApp, RecordedRequest, Responder
from .render import Chunking
from .script import RawStep, Step, step_from_dict

__all__ = ["LoopbackServer", "RecordedRequest", "main"]


def _load_responder(spec: str) -> Responder:
    module, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(f"responder must be 'module:function', got {spec!r}")
    fn: Responder = getattr(importlib.import_module(module), attr)
    return fn


class _ThreadRunner:
    """The app served by an event loop in a daemon thread."""

    def __init__(self, app: LoopbackApp, host: str, port: int) -> None:
        self.app = app
        self._host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self.port = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="loopback-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced to start() if it happens before ready
            self._error = exc
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        tasks: set[asyncio.Task[Any]] = set()

        async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                tasks.add(task)
            try:
                await self.app.handle(reader, writer)
            except asyncio.CancelledError:  # shutting down: end quietly, the loop is closing
                writer.transport.abort()
            finally:
                if task is not None:
                    tasks.discard(task)

        self._stop = asyncio.Event()
        server = await asyncio.start_server(on_conn, self._host, self._port, backlog=2048,
                                            limit=1 << 20)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for t in list(tasks):
                t.cancel()
            if tasks:
                await asyncio.wait(list(tasks), timeout=2)

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # loop already closed
                pass
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def _terminate(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()


class _ProcessRunner:
    """The app served by `python -m agentkit.testing.server` in a child process."""

    def __init__(self, config: dict[str, Any], host: str, port: int) -> None:
        self._config, self._host, self._port = config, host, port
        self._proc: subprocess.Popen[str] | None = None
        self._script: str | None = None
        self.port = 0

    def start(self) -> None:
        fd, self._script = tempfile.mkstemp(prefix="loopback-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(self._config, f)
        # the child can import whatever this process can (a named responder, agentkit)
        root = str(Path(__file__).resolve().parents[2])
        paths = [root, *(p or os.getcwd() for p in sys.path if isinstance(p, str))]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "agentkit.testing.server", "--script", self._script,
             "--host", self._host, "--port", str(self._port), "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        # if this process dies without stop(), the child sees stdin EOF and exits
        weakref.finalize(self, _terminate, self._proc)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"loopback server process failed to start (said {line!r})")
        self.port = int(line)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe is not None:
                    pipe.close()
            self._proc = None
        if self._script is not None:
            Path(self._script).unlink(missing_ok=True)
            self._script = None


class LoopbackServer:
    """A real HTTP/1.1 OpenAI-compatible server replaying scripted steps.

    - `steps`: FIFO of `Step`/`RawStep`; when it is empty, `responder(body)` (sync or async,
      or a ``"module:function"`` string) decides; with neither, the request gets a 400
      naming the problem and `assert_complete()` fails.
    - `chunking`: dialect and delta sizes (default DashScope).
    - `strict`: reject histories DashScope would reject (tool-call pairing, JSON arguments).
      Thinking without streaming always gets DashScope's 400.
    - `record`: keep every request in `.requests` (turn off for long benchmarks).
    - `process`: serve from a child process; steps go over JSON, a responder must then be a
      ``"module:function"`` string, and `.requests`/`add_steps` use control endpoints.
    """

    def __init__(self, steps: Iterable[Step | RawStep] | None = None, *,
                 responder: Responder | str | None = None, chunking: Chunking | None = None,
                 strict: bool = True, record: bool = True, process: bool = False,
                 models: Sequence[str] = ("qwen3-max",), host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.chunking = chunking or Chunking()
        self.process = process
        self._host = host
        self._started = False
        step_list = list(steps or [])
        if process:
            if responder is not None and not isinstance(responder, str):
                raise TypeError("with process=True, responder must be a 'module:function' "
                                "string")
            config = {"steps": [s.to_dict() for s in step_list],
                      "chunking": self.chunking.to_dict(), "strict": strict, "record": record,
                      "models": list(models), "responder": responder}
            self._app: LoopbackApp | None = None
            self._runner: _ThreadRunner | _ProcessRunner = _ProcessRunner(config, host, port)
        else:
            fn = _load_responder(responder) if isinstance(responder, str) else responder
            self._app = LoopbackApp(step_list, fn, self.chunking, strict, record, models)
            self._runner = _ThreadRunner(self._app, host, port)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> LoopbackServer:
        if not self._started:
            self._runner.start()
            self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self._runner.stop()
            self._started = False

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> LoopbackServer:
        import anyio

        return await anyio.to_thread.run_sync(self.start)

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        import anyio

        await anyio.to_thread.run_sync(self.stop)

    # -- addresses --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if not self._started:
            raise RuntimeError("LoopbackServer is not running (use `with` or .start())")
        return self._runner.port

    @property
    def url(self) -> str:
        """The server root, e.g. http://127.0.0.1:PORT."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. http://127.0.0.1:PORT/v1."""
        return self.url + "/v1"

    # -- script and records -------------------------------------------------------------------
    def add_steps(self, *steps: Step | RawStep | Iterable[Step | RawStep]) -> None:
        """Append steps (or iterables of steps) to the FIFO."""
        flat: list[Step | RawStep] = []
        for s in steps:
            if isinstance(s, (Step, RawStep)):
                flat.append(s)
            else:
                flat.extend(s)
        if self._app is not None:
            self._app.add_steps(flat)
        else:
            self._control("POST", "steps", [s.to_dict() for s in flat])

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every chat-completions request received so far, in arrival order."""
        if self._app is not None:
            return self._app.requests
        return [RecordedRequest.from_dict(d) for d in self._control("GET", "requests")]

    @property
    def remaining(self) -> int:
        """Scripted steps not yet consumed."""
        return int(self._state()["remaining"])

    @property
    def errors(self) -> list[str]:
        """Script problems seen (ran out of steps, responder failures)."""
        return list(self._state()["errors"])

    def wait_for(self, predicate: Callable[[list[RecordedRequest]], bool],
                 timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until `predicate(requests)` is true (e.g. a request's `outcome` became
        "client_disconnected"); returns the requests, or raises TimeoutError."""
        if self._app is not None:
            return self._app.wait_for(predicate, timeout)
        deadline = time.monotonic() + timeout
        while True:
            recs = self.requests
            if predicate(recs):
                return recs
            if time.monotonic() > deadline:
                raise TimeoutError(f"LoopbackServer: condition not met within {timeout}s")
            time.sleep(0.02)

    async def wait_for_async(self, predicate: Callable[[list[RecordedRequest]], bool],
                             timeout: float = 5.0) -> list[RecordedRequest]:
        """`wait_for` without blocking the caller's event loop."""
        import anyio

        return await anyio.to_thread.run_sync(self.wait_for, predicate, timeout)

    def clear_requests(self) -> None:
        if self._app is not None:
            self._app.clear_requests()
        else:
            self._control("POST", "clear_requests", {})

    def assert_complete(self) -> None:
        """Fail if scripted steps remain unused or a request found no step."""
        state = self._state()
        problems = []
        if state["remaining"]:
            problems.append(f"{state['remaining']} scripted step(s) were never requested")
        problems.extend(state["errors"])
        if problems:
            raise AssertionError("LoopbackServer script not complete: " + "; ".join(problems))

    def _state(self) -> dict[str, Any]:
        if self._app is not None:
            return self._app.state()
        result: dict[str, Any] = self._control("GET", "state")
        return result

    def _control(self, method: str, name: str, payload: Any = None) -> Any:
        import urllib.request

        data = json.dumps(payload).encode() if method == "POST" else None
        req = urllib.request.Request(f"{self.url}/_loopback/{name}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())


def main(argv: list[str] | None = None) -> int:
    """Serve a script file until SIGTERM/SIGINT; print the port first."""
    parser = argparse.ArgumentParser(prog="python -m agentkit.testing.server")
    parser.add_argument("--script", help="JSON file: a list of steps or a config object")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--responder", help="module:function deciding steps dynamically")
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="exit when stdin closes (the parent process went away)")
    args = parser.parse_args(argv)
    config: dict[str, Any] = {}
    if args.script:
        raw = json.loads(Path(args.script).read_text())
        config = {"steps": raw} if isinstance(raw, list) else raw
    responder = args.responder or config.get("responder")
    app = LoopbackApp(
        [step_from_dict(d) for d in config.get("steps", [])],
        _load_responder(responder) if responder else None,
        Chunking.from_dict(config["chunking"]) if config.get("chunking") else Chunking(),
        bool(config.get("strict", True)), bool(config.get("record", True)),
        tuple(config.get("models") or ("qwen3-max",)),
    )
    runner = _ThreadRunner(app, args.host, args.port)
    runner.start()
    print(runner.port, flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    if args.exit_on_stdin_eof:
        def watch() -> None:
            sys.stdin.read()
            done.set()

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    done.wait()
    runner.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
