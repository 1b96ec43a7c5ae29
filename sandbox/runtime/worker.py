"""The Python worker: a forked interpreter with a persistent ``__main__`` namespace.

It reads requests (JSON lines) from a private pipe and answers on another; its stdout/stderr
are pipes that the supervisor reads with a cap. Runs only inside the container.
"""

from __future__ import annotations

import ast
import json
import operator
import os
import signal
import sys
from typing import Any

from agentkit_sandbox_common import (
    MESSAGE_MAX,
    TRACEBACK_MAX,
    VALUE_MAX,
    WORKSPACE,
    cut,
    error,
    write_all,
)

READ_SIZE = 65521  # an odd size: the supervisor recognises the idle read by its stack
REQUEST_MAX = 256 << 20
# a C function calling a Python one: the callee runs in a new C-level evaluation (3.11+)
CALL = getattr(operator, "call", None) or (lambda fn, *args: next(map(fn, *([a] for a in args))))


def refuse_audit_hooks(event: str, args: tuple[Any, ...]) -> None:
    """The worker's own audit hook: user code may not add hooks that would watch later
    requests (a hook raising RuntimeError on this event stops the new hook being added)."""
    if event == "sys.addaudithook" or (
        event == "object.__setattr__" and args and args[0] is refuse_audit_hooks
    ):
        raise RuntimeError("audit hooks are not available in the sandbox")


def end_of_call_hooks() -> None:
    """Undo what would run code of a finished call later by itself: trace and profile
    functions, signal handlers, interval timers, gc callbacks (code a later call calls on
    purpose, such as its functions, is state and stays)."""
    import gc

    sys.settrace(None)
    sys.setprofile(None)
    for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
        signal.setitimer(timer, 0)
    for sig in signal.valid_signals():
        try:
            handler = signal.getsignal(sig)
        except (OSError, ValueError):
            continue
        if callable(handler) and sig != signal.SIGINT:
            signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.callbacks.clear()


def worker_main(req_fd: int, rep_fd: int) -> None:
    """Forked Python worker: execute requests in a persistent __main__ namespace."""
    import builtins
    import io
    import linecache
    import traceback
    import types
    import warnings

    me = os.getpid()
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    sys.argv = [""]
    sys.path.insert(0, WORKSPACE)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")

    def stream(fd: int) -> io.TextIOWrapper:
        raw = io.BufferedWriter(io.FileIO(fd, "w", closefd=False), 1 << 16)
        return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace")

    sys.stdout, sys.stderr = stream(1), stream(2)
    setattr(sys, "__stdout__", sys.stdout)  # noqa: B010
    setattr(sys, "__stderr__", sys.stderr)  # noqa: B010
    warnings.filterwarnings("ignore", message=".*non-interactive.*")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.addaudithook(refuse_audit_hooks)
    counter = 0

    def flush() -> None:
        for s in (sys.stdout, sys.stderr):
            try:
                s.flush()
            except Exception:
                pass

    def save_figures(call: int) -> list[str]:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return []
        saved = []
        try:
            nums = list(plt.get_fignums())
            if nums:
                os.makedirs(f"{WORKSPACE}/figures", exist_ok=True)
            for num in nums:
                path, n = f"figures/figure-{call}-{num}.png", 1
                while os.path.exists(f"{WORKSPACE}/{path}"):  # numbering restarts with the
                    path, n = f"figures/figure-{call}-{num}-{n}.png", n + 1  # interpreter
                plt.figure(num).savefig(f"{WORKSPACE}/{path}", format="png")
                saved.append(path)
            plt.close("all")
        except Exception as exc:
            print(f"[sandbox] could not save figures: {exc!r}", file=sys.stderr)
        return saved

    def reap_children() -> None:
        """Reap exited children nobody will wait for (killed fork-bomb members, forgotten
        forks) so they do not hold the pids limit; a live Popen still owns its child."""
        try:
            if os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
                return  # the common case: one syscall
        except ChildProcessError:
            return
        import gc

        owned = {getattr(o, "pid", None) for o in gc.get_objects()
                 if type(o).__name__ == "Popen" and getattr(o, "returncode", 0) is None}
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in owned:
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    stat = fh.read()
                fields = stat[stat.rindex(b")") + 2 :].split()
                if fields[0] == b"Z" and int(fields[1]) == me:
                    os.waitpid(int(name), os.WNOHANG)
            except (OSError, ValueError, IndexError):
                continue

    def describe(exc: BaseException) -> dict[str, str]:
        tb = exc.__traceback__
        while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell"):
            tb = tb.tb_next
        try:
            message = str(exc)
        except Exception:
            message = f"<unprintable {type(exc).__name__}>"
        message = cut(message, MESSAGE_MAX)[0]
        try:
            text = "".join(traceback.format_exception(type(exc), exc, tb))
        except Exception:
            text = f"{type(exc).__name__}: {message}\n"
        return error(type(exc).__name__, message, cut(text, TRACEBACK_MAX, tail=True)[0])

    def run(code: str, call: int, max_value: int) -> dict[str, Any]:
        name = f"<cell-{call}>"
        linecache.cache[name] = (len(code), None, code.splitlines(True), name)
        value: Any = None
        tree = ast.parse(code, name, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body[-1].value)
            tree.body.pop()
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        body = compile(tree, name, "exec", flags=flags)
        ns = main.__dict__
        if body.co_flags & 0x80:  # CO_COROUTINE: top-level await
            import asyncio

            asyncio.run(eval(body, ns))
        else:
            exec(body, ns)
        if last is not None:
            expr = compile(last, name, "eval", flags=flags)
            value = eval(expr, ns)
            if expr.co_flags & 0x80:
                import asyncio

                value = asyncio.run(value)
        if value is None:
            return {"value": None}
        ns["_"] = value
        text, was_cut = cut(repr(value), max_value)
        return {"value": text, "value_truncated": was_cut}

    def handle(line: bytearray) -> None:
        """One request: run it and reply (always called through `call`, see below)."""
        nonlocal counter
        try:
            req = json.loads(bytes(line))
        except ValueError:
            return  # bytes some user code pushed into the pipe: no request
        nonce = req.get("nonce")
        reap_children()
        if req.get("op") == "reap":
            write_all(rep_fd, b"\n" + json.dumps({"nonce": nonce}).encode() + b"\n")
            return
        counter += 1
        reply: dict[str, Any] = {"exit_code": 0, "error": None, "value": None}
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            reply.update(run(req["code"], counter, int(req.get("max_value", VALUE_MAX))))
        except SystemExit as exc:
            code = exc.code
            if code is None or isinstance(code, int):
                code = int(code or 0)
                reply["exit_code"] = code if -(2**31) <= code < 2**31 else 1
            else:
                print(code, file=sys.stderr)
                reply["exit_code"] = 1
        except BaseException as exc:
            reply["exit_code"] = 1
            reply["error"] = describe(exc)
        finally:
            end_of_call_hooks()
            if os.getpid() != me:  # a fork made by user code must never answer for the worker
                flush()
                os._exit(reply["exit_code"] if isinstance(reply["exit_code"], int) else 1)
        reply["figures"] = save_figures(counter)
        reap_children()
        flush()
        reply["nonce"] = nonce
        try:
            data = json.dumps(reply).encode()
        except (TypeError, ValueError):  # e.g. an odd SystemExit code
            data = json.dumps({"nonce": nonce, "exit_code": 1, "value": None,
                               "error": error("SandboxError", "unencodable reply")}).encode()
        # the leading newline ends any partial line user code left in the pipe
        write_all(rep_fd, b"\n" + data + b"\n")

    # The idle loop uses only these locals and C functions. Everything else (the request's
    # handling, hence any code user code can reach or replace) runs below a C-level call
    # (`call`), deeper in the C stack than the one idle read, which lets the supervisor tell
    # the idle interpreter from user code waiting on the same pipe (`Supervisor.idle`).
    read, call, size, leave, pending = os.read, CALL, len, os._exit, bytearray()
    while True:
        nl = pending.find(b"\n")
        if nl < 0:
            if size(pending) > REQUEST_MAX:  # not the supervisor's: give up, get restarted
                leave(125)
            data = read(req_fd, READ_SIZE)  # the one place the idle interpreter waits
            if not data:
                leave(0)
            pending += data
            continue
        line = pending[:nl]
        del pending[: nl + 1]
        call(handle, line)
