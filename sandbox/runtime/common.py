"""Helpers shared by the in-container supervisor and worker (no third-party imports).

The runtime files are not imported on the host: `bootstrap.py` loads them inside the
container as the modules ``agentkit_sandbox_common``, ``..._worker`` and ``..._supervisor``.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal

WORKSPACE = "/workspace"
SCAN_LIMIT = 20000


def set_dumpable(flag: int) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, flag, 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass


def nonblock(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [])
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
    """Path -> (mtime_ns, size) of regular files under root (bounded, no symlink following)."""
    out: dict[str, tuple[int, int]] = {}
    stack = [root]
    while stack and len(out) < SCAN_LIMIT:
        top = stack.pop()
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
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
