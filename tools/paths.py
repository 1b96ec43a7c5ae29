"""Confine paths given by a model to one root directory.

`SafeRoot.resolve` turns a model-supplied path into an absolute path inside the root, or
raises `PathRefused` with a message the model can act on. Refused: NUL bytes, `..`
components, absolute paths outside the root, symbolic links whose target lies outside the
root, and (for reads and writes) device files, FIFOs and sockets.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["PathRefused", "SafeRoot"]


class PathRefused(PermissionError):
    """A path was refused by the root confinement; the message says why."""


def _kind(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


class SafeRoot:
    """A root directory and the rules for paths under it."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        raw = os.fspath(root)
        if "\x00" in raw:
            raise ValueError("root path contains a NUL byte")
        real = os.path.realpath(raw)
        if not os.path.isdir(real):
            raise ValueError(f"root {raw!r} is not an existing directory")
        self.root = Path(real)
        self._prefix = real.rstrip(os.sep) + os.sep
        given = os.path.abspath(raw)
        self._given_prefix = given.rstrip(os.sep) + os.sep if given != real else ""

    def contains(self, real_path: str) -> bool:
        """Whether an already resolved absolute path lies inside the root."""
        return real_path == str(self.root) or real_path.startswith(self._prefix)

    def relative(self, real_path: str | Path) -> str:
        """The path relative to the root, in POSIX form ('.' for the root itself)."""
        rel = os.path.relpath(os.fspath(real_path), self.root)
        return Path(rel).as_posix()

    def resolve(self, path: str, *, must_exist: bool = False, allow_root: bool = True) -> Path:
        """The absolute, symlink-free path for `path`, refusing anything outside the root."""
        if not isinstance(path, str):
            raise PathRefused(f"path must be a string, got {type(path).__name__}")
        if "\x00" in path:
            raise PathRefused(f"path {path!r} contains a NUL byte; paths must be plain text")
        text = path.strip() or "."
        parts = Path(text).parts
        if ".." in parts:
            raise PathRefused(
                f"path {path!r} contains '..'; use a path inside the root without '..' "
                "components"
            )
        if self._given_prefix and (text + os.sep).startswith(self._given_prefix):
            text = str(self.root / text[len(self._given_prefix):])  # root named via a symlink
        candidate = Path(text) if os.path.isabs(text) else self.root / text
        lexical = os.path.normpath(candidate)
        if not self.contains(lexical):
            raise PathRefused(
                f"path {path!r} is outside the root directory; use a path relative to the root"
            )
        try:
            real = os.path.realpath(lexical, strict=False)
        except (OSError, ValueError) as exc:  # e.g. symlink loops on some platforms
            raise PathRefused(f"path {path!r} cannot be resolved: {exc}") from None
        if not self.contains(real):
            raise PathRefused(
                f"path {path!r} goes through a symbolic link that points outside the root "
                "directory; it is refused"
            )
        if not allow_root and real == str(self.root):
            raise PathRefused(f"path {path!r} is the root directory itself; name a file in it")
        if must_exist and not os.path.lexists(real):
            raise FileNotFoundError(f"{path!r} does not exist (paths are relative to the root)")
        return Path(real)

    def check_regular(self, real: Path, path: str) -> os.stat_result | None:
        """Stat `real`; refuse special files. Returns None when the path does not exist."""
        try:
            st = os.stat(real)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise PathRefused(f"{path!r} is {_kind(st.st_mode)}; only regular files are allowed")
        return st

    def open_regular(self, real: Path, path: str, flags: int = os.O_RDONLY) -> int:
        """Open a regular file without following a symlink swapped in after resolution."""
        extra = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        self.check_regular(real, path)
        try:
            fd = os.open(real, flags | extra)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{path!r} does not exist (paths are relative to the root)"
            ) from None
        except IsADirectoryError:
            raise IsADirectoryError(f"{path!r} is a directory, not a file") from None
        except OSError as exc:
            if os.path.islink(real):
                raise PathRefused(f"{path!r} became a symbolic link; refused") from None
            raise OSError(f"cannot open {path!r}: {exc.strerror}") from None
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            os.close(fd)
            raise IsADirectoryError(f"{path!r} is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise PathRefused(f"{path!r} is {_kind(st.st_mode)}; only regular files are allowed")
        if flags == os.O_RDONLY and extra & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return fd
