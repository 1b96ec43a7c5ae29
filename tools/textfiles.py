"""Small helpers for reading and writing text files: binary sniffing, atomic writes."""

from __future__ import annotations

import os
import secrets
import stat

__all__ = [
    "atomic_write",
    "describe_binary",
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


_PERMISSIONS = 0o777
"""The mode bits a rewritten file keeps: never setuid, setgid or sticky."""


def _tmp_open(dir_fd: int, name: str) -> tuple[int, str]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | \
        getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = f".{name[:80]}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, flags, 0o600, dir_fd=dir_fd), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file next to {name!r}")  # pragma: no cover


def _rewrite_in_place(dir_fd: int, name: str, data: bytes) -> bool:
    """Overwrite a regular file owned by someone else through its own inode, so its owner
    stays (no chown ever happens); setuid/setgid/sticky bits are dropped before the first
    byte is written. False when the file turned out to be ours (then the caller renames)."""
    flags = os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | \
        getattr(os, "O_CLOEXEC", 0)
    fd = os.open(name, flags, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PermissionError(f"{name!r} is not a regular file; it is not overwritten")
        if st.st_uid == os.geteuid():
            return False
        if st.st_nlink > 1:
            raise PermissionError(
                f"{name!r} belongs to another user and has {st.st_nlink} hard links; it is "
                "not overwritten (delete it or write to a new file)")
        mode = stat.S_IMODE(st.st_mode)
        try:
            os.fchmod(fd, mode & _PERMISSIONS)
        except PermissionError:
            if mode & ~_PERMISSIONS:
                raise PermissionError(
                    f"{name!r} belongs to another user and has setuid/setgid/sticky bits "
                    "that cannot be cleared; it is not overwritten") from None
        os.ftruncate(fd, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        return True
    finally:
        os.close(fd)


def atomic_write(dir_fd: int, name: str, data: bytes) -> bool:
    """Write `data` to `name` in the directory `dir_fd`; True when the file was created.

    Everything happens relative to `dir_fd`, so a directory swapped for a symlink meanwhile
    cannot redirect the write. A new file, or one of ours, is written to a temporary file
    and renamed over (atomic); an existing file keeps only its permission bits (`0o777`):
    setuid, setgid and sticky bits are never carried over. A file owned by another user
    (e.g. the sandbox's) is rewritten in place, so it keeps its owner: renaming a file of
    ours over it would hand it to the host process's user.
    """
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        mode: int | None = None if stat.S_ISLNK(st.st_mode) else \
            stat.S_IMODE(st.st_mode) & _PERMISSIONS
        created = False
    except FileNotFoundError:
        mode, created = None, True
    if mode is not None and st.st_uid != os.geteuid() and _rewrite_in_place(dir_fd, name, data):
        return False
    fd, tmp = _tmp_open(dir_fd, name)
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
