"""Helpers shared by the in-container supervisor and worker (no third-party imports).

The runtime files are not imported on the host: `bootstrap.py` loads them inside the
container as the modules ``agentkit_sandbox_common``, ``..._worker`` and ``..._supervisor``.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import json
import os
import select
import signal
import stat
import time
from typing import Any

WORKSPACE = "/workspace"
SCAN_LIMIT = 20000
SCAN_ENTRIES = 200000  # directory entries looked at per scan (empty directories count too)
SCAN_SECONDS = 2.0
# caps on what the worker's reply may carry (user code can write to the reply pipe, so the
# supervisor enforces them again, see `clean_reply`)
VALUE_MAX = 20000
MESSAGE_MAX = 20000
TRACEBACK_MAX = 50000
FIGURES_MAX = 1000
PATH_MAX = 4096
REPLY_LINE_MAX = 4 << 20


def set_dumpable(flag: int) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, flag, 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass


def nonblock(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)


def write_all(fd: int, data: bytes, deadline: float | None = None) -> None:
    """Write all of `data` to a (non-blocking) descriptor; TimeoutError once the monotonic
    `deadline` passes (PID 1 must never block for good on a pipe somebody else fills)."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"write to descriptor {fd} timed out") from None
            try:
                select.select([], [fd], [], left)
            except InterruptedError:
                pass
            continue
        view = view[n:]


def oom_kills() -> int:
    for path in ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"):
        try:
            with open(path) as fh:
                for line in fh:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except OSError:
            continue
    return -1


def scan_workspace(root: str = WORKSPACE) -> dict[str, tuple[int, int]]:
    """Path -> (mtime_ns, size) of regular files under root (no symlink following; bounded in
    files, entries and time, so a tree of a million empty directories cannot stall PID 1)."""
    out: dict[str, tuple[int, int]] = {}
    stack = [root]
    seen = 0
    deadline = time.monotonic() + SCAN_SECONDS
    while stack and len(out) < SCAN_LIMIT and seen < SCAN_ENTRIES:
        if time.monotonic() > deadline:
            break
        top = stack.pop()
        try:
            with os.scandir(top) as it:
                entries = list(itertools.islice(it, SCAN_ENTRIES - seen))
        except OSError:
            continue
        seen += len(entries)
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    out[entry.path[len(root) + 1 :]] = (st.st_mtime_ns, st.st_size)
            except OSError:
                continue
    return out


def changed_files(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> list[str]:
    return sorted(p for p, sig in after.items() if before.get(p) != sig)


class Capture:
    """Collects a child's stdout/stderr under one shared byte budget."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.bufs = {"stdout": bytearray(), "stderr": bytearray()}
        self.dropped = {"stdout": 0, "stderr": 0}

    def feed(self, name: str, data: bytes) -> None:
        room = self.limit - len(self.bufs["stdout"]) - len(self.bufs["stderr"])
        if room > 0:
            self.bufs[name] += data[:room]
        self.dropped[name] += max(0, len(data) - max(room, 0))

    def text(self, name: str) -> str:
        text = self.bufs[name].decode("utf-8", "replace")
        if self.dropped[name]:
            text += f"\n[output truncated: {self.dropped[name]} more bytes not shown]\n"
        return text

    @property
    def truncated(self) -> bool:
        return any(self.dropped.values())


def error(kind: str, message: str, tb: str = "") -> dict[str, str]:
    return {"type": kind, "message": message, "traceback": tb}


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def cut(text: str, limit: int, tail: bool = False) -> tuple[str, bool]:
    """`text` cut to about `limit` characters with a note (keeping the end if `tail`)."""
    if len(text) <= limit:
        return text, False
    more = len(text) - limit
    if tail:
        return f"[{more} earlier characters not shown] ..." + text[-limit:], True
    return text[:limit] + f"... [{more} more characters]", True


class ReplyReader:
    """Picks the worker's reply out of its reply pipe.

    User code runs in the worker and can write to that pipe too, so only a JSON object line
    carrying this call's `nonce` counts; other lines (stale replies, forgeries, garbage) and
    lines longer than REPLY_LINE_MAX are dropped. The nonce pairs every call with its own
    reply (no off-by-one after a forgery); it is not a secret from the call's own code, which
    can only forge its own result, still capped and type-checked by `clean_reply`.
    """

    def __init__(self, nonce: str) -> None:
        self.nonce = nonce
        self.buf = bytearray()
        self.skipping = False

    def feed(self, data: bytes) -> dict[str, Any] | None:
        self.buf += data
        while True:
            nl = self.buf.find(b"\n")
            if nl < 0:
                if len(self.buf) > REPLY_LINE_MAX:  # an endless line: drop it up to its end
                    self.buf.clear()
                    self.skipping = True
                return None
            line = bytes(self.buf[:nl])
            del self.buf[: nl + 1]
            if self.skipping:
                self.skipping = False
                continue
            if len(line) > REPLY_LINE_MAX or self.nonce.encode() not in line:
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and msg.get("nonce") == self.nonce:
                return msg


def clean_reply(reply: dict[str, Any], max_value: int) -> tuple[dict[str, Any], bool]:
    """The worker reply's known fields, type-checked and capped; True if something was cut."""
    out: dict[str, Any] = {"value": None, "error": None, "exit_code": 0, "figures": []}
    bad: list[str] = []
    was_cut = reply.get("value_truncated") is True
    value = reply.get("value")
    if isinstance(value, str):
        out["value"], c = cut(value, max_value + 64)  # room for the worker's own note
        was_cut = was_cut or c
    elif value is not None:
        bad.append("value")
    code = reply.get("exit_code", 0)
    if isinstance(code, int) and not isinstance(code, bool) and -(2**31) <= code < 2**31:
        out["exit_code"] = code
    else:
        out["exit_code"] = 1
        bad.append("exit_code")
    err = reply.get("error")
    if isinstance(err, dict) and all(
        isinstance(err.get(k, ""), str) for k in ("type", "message", "traceback")
    ):
        out["error"] = error(
            cut(str(err.get("type") or "Error"), 200)[0],
            cut(err.get("message", ""), MESSAGE_MAX)[0],
            cut(err.get("traceback", ""), TRACEBACK_MAX, tail=True)[0],
        )
    elif err is not None:
        bad.append("error")
    figures = reply.get("figures", [])
    if isinstance(figures, list) and all(isinstance(f, str) for f in figures):
        out["figures"] = [f for f in figures[:FIGURES_MAX] if len(f) <= PATH_MAX]
    else:
        bad.append("figures")
    if bad and out["error"] is None:
        msg = f"the interpreter's reply was malformed ({', '.join(bad)}); was it forged?"
        out["error"] = error("SandboxError", msg)
        out["exit_code"] = out["exit_code"] or 1
    return out, was_cut


def proc_state(pid: int | str) -> tuple[bytes, int] | None:
    """(state letter, pgid) of a process from /proc, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        fields = stat[stat.rindex(b")") + 2 :].split()
        return fields[0], int(fields[2])
    except (OSError, ValueError, IndexError):
        return None


def threads(pid: int | str) -> list[tuple[str, bytes]]:
    """(tid, state letter) of every thread of a process; [] when it is gone."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out = []
    for tid in tids:
        st = proc_state(f"{pid}/task/{tid}")
        if st is not None:
            out.append((tid, st[0]))
    return out


def is_alive(pid: int | str) -> bool:
    """True while any thread of the process still runs, whatever state its leader is in (a
    leader that left by ``SYS_exit`` shows as a zombie while its other threads go on)."""
    tasks = threads(pid)
    if not tasks:  # unreadable (or gone): alive if it still exists, killing it is harmless
        st = proc_state(pid)
        return st is not None and st[0] not in (b"Z", b"X", b"x")
    return any(state not in (b"Z", b"X", b"x") for _, state in tasks)


def is_stopped(pid: int) -> bool:
    """True when every thread of `pid` is stopped (or gone)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True
    for tid in tids:
        st = proc_state(f"{pid}/task/{tid}")
        if st is not None and st[0] not in (b"T", b"t", b"Z", b"X"):
            return False
    return True


def freeze(pid: int, timeout: float = 3.0) -> bool:
    """SIGSTOP a process (all its threads) and wait until it is stopped; False if it is not."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except OSError:
        return True
    deadline = time.monotonic() + timeout
    delay = 0.0001
    while not is_stopped(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.01)
    return True


def open_regular(path: str, flags: int, mode: int = 0o644) -> int:
    """Open a regular file without blocking on a FIFO or following a final symlink; any
    other kind of file is refused with a clear error (PID 1 must never hang here)."""
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PermissionError(f"{path!r} is a symbolic link (not followed)") from None
        if exc.errno == errno.ENXIO:  # a FIFO without reader, a socket
            raise OSError(errno.EINVAL, f"{path!r} is not a regular file") from None
        raise
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(f"{path!r} is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"{path!r} is not a regular file "
                          f"({stat.filemode(st.st_mode)[0]!r} type)")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


class Child:
    """A forked child (worker or shell) with its output pipes (and, for the worker, its
    request/reply pipes: our ends in `extra`, its descriptor numbers and pipe inodes)."""

    def __init__(self, pid: int, out_fd: int, err_fd: int, extra: tuple[int, ...] = ()) -> None:
        self.pid, self.out_fd, self.err_fd, self.extra = pid, out_fd, err_fd, extra
        self.pipes: dict[int, int] = {}  # worker's fd -> pipe inode
        self.req_fd = -1

    def close(self) -> None:
        for fd in (self.out_fd, self.err_fd, *self.extra):
            try:
                os.close(fd)
            except OSError:
                pass
