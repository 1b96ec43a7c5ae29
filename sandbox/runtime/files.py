"""PID 1's file operations: uploads, downloads, the changed-files list, the matplotlib font
cache. Loaded in the container as ``agentkit_sandbox_files``."""

from __future__ import annotations

import base64
import errno
import os
from typing import Any

from agentkit_sandbox_common import WORKSPACE, open_regular, write_all

FILES_MAX = 1000


def seed_matplotlib(src: str = "/usr/local/share/agentkit/matplotlib") -> None:
    """Copy the image's prebuilt matplotlib font cache into the (tmpfs) MPLCONFIGDIR."""
    dst = os.environ.get("MPLCONFIGDIR")
    if not dst or not os.path.isdir(src) or os.path.exists(dst):
        return
    try:
        os.makedirs(dst, exist_ok=True)
        for name in os.listdir(src):
            if os.path.isfile(f"{src}/{name}"):
                with open(f"{src}/{name}", "rb") as fin, open(f"{dst}/{name}", "wb") as fout:
                    fout.write(fin.read())
    except OSError:
        pass


def cap_files(files: list[str], max_chars: int) -> list[str]:
    """The changed-files list within FILES_MAX names and `max_chars` characters in all."""
    out, used = [], 0
    for name in files[:FILES_MAX]:
        used += len(name) + 2
        if used > max_chars:
            break
        out.append(name)
    return out


def resolve(path: str) -> str:
    """`path` inside the workspace (symlinked parents resolved), else PermissionError."""
    full = os.path.normpath(os.path.join(WORKSPACE, path))
    real_parent = os.path.realpath(os.path.dirname(full))
    if not (full + "/").startswith(WORKSPACE + "/") or not (
        real_parent + "/"
    ).startswith(WORKSPACE + "/"):
        raise PermissionError(f"path {path!r} is outside the workspace")
    if full == WORKSPACE:
        raise IsADirectoryError(path)
    return full

def put(req: dict[str, Any]) -> dict[str, Any]:
    """Write a regular file of the workspace (never through a symlink, FIFO or device)."""
    full = resolve(req["path"])
    data = base64.b64decode(req["data"])
    os.makedirs(os.path.dirname(full), exist_ok=True)
    full = resolve(req["path"])  # re-check after creating parents
    fd = open_regular(full, os.O_WRONLY | os.O_CREAT, int(req.get("mode", 0o644)) & 0o777)
    try:
        os.ftruncate(fd, 0)
        write_all(fd, data)
    finally:
        os.close(fd)
    return {"size": len(data)}

def get(req: dict[str, Any], max_transfer: int) -> dict[str, Any]:
    """Read a regular file of the workspace: at most `max_transfer` bytes, else EFBIG (it is
    read up to one byte more, whatever its size said: a file can grow while read)."""
    full = resolve(req["path"])
    fd = open_regular(full, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size > max_transfer:
            raise OSError(errno.EFBIG, f"file is larger than {max_transfer} bytes")
        chunks, total = [], 0  # at most one byte more than allowed: the file may grow
        while total <= max_transfer and (
            chunk := os.read(fd, min(1 << 20, max_transfer + 1 - total))
        ):
            chunks.append(chunk)
            total += len(chunk)
        if total > max_transfer:
            raise OSError(errno.EFBIG, f"file is larger than {max_transfer} bytes")
    finally:
        os.close(fd)
    return {"data": base64.b64encode(b"".join(chunks)).decode()}
