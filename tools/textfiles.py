"""Small helpers for reading text safely: binary sniffing, glob patterns, atomic writes."""

from __future__ import annotations

import os
import re
import secrets
import stat

__all__ = [
    "atomic_write",
    "describe_binary",
    "expand_braces",
    "glob_to_regex",
    "is_binary",
    "looks_like_utf8",
]

_MAGIC: list[tuple[bytes, str]] = [
    (b"\x89PNG", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"%PDF", "PDF document"),
    (b"PK\x03\x04", "ZIP archive (or docx/xlsx/jar)"),
    (b"\x1f\x8b", "gzip data"),
    (b"\x7fELF", "ELF executable"),
    (b"RIFF", "RIFF media (WAV/WEBP/AVI)"),
    (b"SQLite format 3", "SQLite database"),
]


def is_binary(head: bytes) -> bool:
    """Binary when the first block holds a NUL byte or mostly control characters."""
    if not head:
        return False
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return control / len(head) > 0.1


def looks_like_utf8(head: bytes) -> bool:
    """Whether `head` decodes as UTF-8 (a multi-byte sequence cut at the end is allowed)."""
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"


def describe_binary(head: bytes) -> str:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return "binary data"


def expand_braces(pattern: str, limit: int = 64) -> list[str]:
    """Expand `{a,b}` alternatives (not nested) into separate patterns."""
    out = [pattern]
    while True:
        changed = False
        nxt: list[str] = []
        for p in out:
            m = re.search(r"\{([^{}]*,[^{}]*)\}", p)
            if m is None:
                nxt.append(p)
                continue
            changed = True
            for alt in m.group(1).split(","):
                nxt.append(p[: m.start()] + alt + p[m.end():])
        out = nxt[:limit]
        if not changed:
            return out


def _component(comp: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(comp):
        c = comp[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = comp.find("]", i + 2 if comp[i + 1: i + 2] in ("!", "^") else i + 1)
            if j == -1:
                out.append(re.escape(c))
            else:
                body = comp[i + 1: j]
                neg = body[:1] in ("!", "^")
                if neg:
                    body = body[1:]
                body = body.replace("\\", "\\\\")
                out.append(f"[{'^' if neg else ''}{body}]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob (`*`, `?`, `[..]`, `**` for any depth) matching POSIX relative paths."""
    parts = [p for p in pattern.strip("/").split("/") if p not in ("", ".")]
    regex = ""
    for i, comp in enumerate(parts):
        last = i == len(parts) - 1
        if comp == "**":
            regex += ".*" if last else "(?:[^/]+/)*"
        else:
            regex += _component(comp) + ("" if last else "/")
    return re.compile(regex + r"\Z", re.DOTALL)


def _umask() -> int:
    """The process umask, read without changing it (os.umask is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def atomic_write(dir_fd: int, name: str, data: bytes) -> bool:
    """Write `data` to `name` in the directory `dir_fd` via a temporary file and a rename.

    Everything happens relative to `dir_fd`, so a directory swapped for a symlink meanwhile
    cannot redirect the write. An existing file keeps its permission bits. True when created.
    """
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        mode: int | None = None if stat.S_ISLNK(st.st_mode) else stat.S_IMODE(st.st_mode)
        created = False
    except FileNotFoundError:
        mode, created = None, True
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | \
        getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = f".{name[:80]}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise FileExistsError(f"cannot create a temporary file next to {name!r}")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_umask() if mode is None else mode)
            os.fsync(fh.fileno())
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        raise
    return created
