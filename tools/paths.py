"""Confine paths given by a model to one root directory, without races.

`SafeRoot.locate` resolves a model-supplied path component by component, starting from a
descriptor of the root: every directory is opened with `O_NOFOLLOW | O_DIRECTORY` relative
to its parent's descriptor, symbolic links are read and followed by hand (their targets are
checked like any other path), and the caller opens the leaf with `O_NOFOLLOW` relative to
the descriptor of its directory. A process that swaps a directory for a symlink while an
operation runs (a sandbox sharing the workspace) therefore cannot redirect it outside the
root: the swap is either seen and checked, or makes the open fail.

Refused with `PathRefused`: NUL bytes, `..` components, absolute paths outside the root,
symbolic links whose target lies outside the root, and (for reads and writes) device files,
FIFOs and sockets.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Literal

__all__ = ["Located", "PathRefused", "SafeRoot", "kind_of"]

_PATH = getattr(os, "O_PATH", os.O_RDONLY)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
DIR_FLAGS = _PATH | os.O_DIRECTORY | _NOFOLLOW | _CLOEXEC
"""Flags for opening a directory only to resolve names relative to it."""
LIST_FLAGS = os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW | _CLOEXEC
"""Flags for opening a directory to read its entries."""
_MAX_LINKS = 40
_MAX_RETRIES = 100

Missing = Literal["raise", "create", "stop"]


class PathRefused(PermissionError):
    """A path was refused by the root confinement; the message says why."""


def kind_of(mode: int) -> str:
    """A readable name for a special file's type."""
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return None


class Located:
    """A resolved path: its directory (`dir_fd`, open) and `name` in it.

    `parts` are the path's components from the root (no symlinks, no '..'); `st` is the
    leaf's `lstat` at resolution time, or None when it does not exist. `complete` is False
    when resolution stopped at a missing directory (then `name` is not in `dir_fd`).
    Use as a context manager; the descriptors are closed on exit.
    """

    def __init__(self, fds: list[int], parts: tuple[str, ...], st: os.stat_result | None,
                 complete: bool = True) -> None:
        self._fds = fds
        self.parts = parts
        self.st = st
        self.complete = complete

    @property
    def dir_fd(self) -> int:
        return self._fds[-1]

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts and self.complete else "."

    @property
    def rel(self) -> str:
        """The path relative to the root in POSIX form ('.' for the root itself)."""
        return "/".join(self.parts) or "."

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.pop())

    def __enter__(self) -> Located:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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

    # ------------------------------------------------------------ parsing
    def _inside(self, text: str) -> list[str] | None:
        """Components relative to the root of an absolute path, or None when outside."""
        if self._given_prefix and (text + os.sep).startswith(self._given_prefix):
            text = str(self.root / text[len(self._given_prefix):])  # root named via a symlink
        lexical = os.path.normpath(text)
        if not self.contains(lexical):
            return None
        rel = os.path.relpath(lexical, self.root)
        return [] if rel == "." else rel.split(os.sep)

    def parts_of(self, path: str) -> list[str]:
        """The components (relative to the root) of a model-supplied path, or `PathRefused`."""
        if not isinstance(path, str):
            raise PathRefused(f"path must be a string, got {type(path).__name__}")
        if "\x00" in path:
            raise PathRefused(f"path {path!r} contains a NUL byte; paths must be plain text")
        text = path.strip() or "."
        if ".." in Path(text).parts:
            raise PathRefused(
                f"path {path!r} contains '..'; use a path inside the root without '..' "
                "components"
            )
        if not os.path.isabs(text):
            return [p for p in text.split("/") if p not in ("", ".")]
        parts = self._inside(text)
        if parts is None:
            raise PathRefused(
                f"path {path!r} is outside the root directory; use a path relative to the root"
            )
        return parts

    # ---------------------------------------------------------- resolving
    def open_root(self) -> int:
        """A fresh descriptor of the root directory (for resolving names under it)."""
        return os.open(self.root, DIR_FLAGS)

    def locate(self, path: str, *, follow: bool = True, missing: Missing = "raise",
               allow_root: bool = True) -> Located:
        """Resolve `path` under the root without trusting the kernel to follow links.

        `follow`: follow a symlink in the last component. `missing`: what to do when a
        directory on the way does not exist: raise `FileNotFoundError`, create it, or
        stop (the result is then not `complete`). A missing leaf is never an error here.
        """
        return self.locate_parts(self.parts_of(path), path, follow=follow, missing=missing,
                                 allow_root=allow_root)

    def locate_parts(self, parts: list[str], path: str, *, follow: bool = True,
                     missing: Missing = "raise", allow_root: bool = True) -> Located:
        """`locate` for components already split (and checked) relative to the root."""
        fds = [self.open_root()]
        try:
            return self._walk(fds, list(parts), path, follow, missing, allow_root)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise

    def _walk(self, fds: list[int], todo: list[str], path: str, follow: bool,
              missing: Missing, allow_root: bool) -> Located:
        done: list[str] = []
        links = retries = 0
        todo.reverse()  # a stack: the next component is at the end
        while todo:
            name = todo.pop()
            if name in ("", "."):
                continue
            if name == "..":  # only from a symlink's target
                if not done:
                    raise self._link_outside(path)
                done.pop()
                os.close(fds.pop())
                continue
            last = not todo
            st = _lstat(name, fds[-1])
            if st is not None and stat.S_ISLNK(st.st_mode) and (follow or not last):
                links += 1
                if links > _MAX_LINKS:
                    raise PathRefused(f"path {path!r} has too many levels of symbolic links")
                todo.extend(reversed(self._link_target(fds, done, name, path)))
                continue
            if last:
                return Located(fds, (*done, name), st)
            if st is None or not stat.S_ISDIR(st.st_mode):
                if missing == "stop":
                    rest = [p for p in reversed(todo) if p not in ("", ".")]
                    return self._stopped(fds, [*done, name], rest, path, allow_root)
                if st is None and missing == "raise":
                    raise FileNotFoundError(
                        f"{path!r} does not exist (paths are relative to the root)")
                if st is not None:
                    what = "a file" if stat.S_ISREG(st.st_mode) else kind_of(st.st_mode)
                    raise NotADirectoryError(
                        f"cannot use {path!r}: {'/'.join([*done, name])!r} is {what}, "
                        "not a directory")
                try:
                    os.mkdir(name, 0o777, dir_fd=fds[-1])
                except FileExistsError:
                    pass
            try:
                fd = os.open(name, DIR_FLAGS, dir_fd=fds[-1])
            except OSError as exc:
                now = _lstat(name, fds[-1])
                if exc.errno in (errno.EACCES, errno.EPERM) and now is not None and \
                        stat.S_ISDIR(now.st_mode):
                    raise OSError(exc.errno, f"cannot enter {'/'.join([*done, name])!r} "
                                             f"for {path!r}: {exc.strerror}") from None
                retries += 1  # changed since the lstat (e.g. swapped for a symlink): again
                if retries > _MAX_RETRIES:
                    raise PathRefused(f"path {path!r} keeps changing while it is resolved; "
                                      "try again") from None
                todo.append(name)
                continue
            fds.append(fd)
            if not stat.S_ISDIR(os.fstat(fd).st_mode):  # pragma: no cover - O_PATH fallback
                raise PathRefused(f"path {path!r}: {name!r} is not a directory")
            done.append(name)
        if not done:  # the root itself
            if not allow_root:
                raise PathRefused(f"path {path!r} is the root directory itself; name a file "
                                  "in it")
            return Located(fds, (), os.fstat(fds[-1]))
        os.close(fds.pop())  # ended on a directory: name it within its parent
        return Located(fds, tuple(done), _lstat(done[-1], fds[-1]))

    def _link_target(self, fds: list[int], done: list[str], name: str,
                     path: str) -> list[str]:
        """The components to walk instead of the symlink `name` (fds/done may be reset)."""
        try:
            target = os.readlink(name, dir_fd=fds[-1])
        except OSError as exc:  # replaced meanwhile: resolving again sees what is there now
            if exc.errno in (errno.EINVAL, errno.ENOENT):
                return [name]
            raise
        if "\x00" in target:  # pragma: no cover - the kernel forbids this
            raise self._link_outside(path)
        if os.path.isabs(target):
            inside = self._inside(target)
            if inside is None:
                raise self._link_outside(path)
            while len(fds) > 1:  # restart from the root
                os.close(fds.pop())
            done.clear()
            return inside
        return target.split("/")

    def _stopped(self, fds: list[int], done: list[str], rest: list[str], path: str,
                 allow_root: bool) -> Located:
        """A lexical completion below a missing directory (for `missing="stop"`)."""
        for p in rest:
            if p == "..":
                if not done:
                    raise self._link_outside(path)
                done.pop()
            else:
                done.append(p)
        if not done and not allow_root:
            raise PathRefused(f"path {path!r} is the root directory itself; name a file in it")
        return Located(fds, tuple(done), None, complete=False)

    @staticmethod
    def _link_outside(path: str) -> PathRefused:
        return PathRefused(f"path {path!r} goes through a symbolic link that points outside "
                           "the root directory; it is refused")

    def resolve(self, path: str, *, must_exist: bool = False, allow_root: bool = True) -> Path:
        """The absolute, symlink-free path for `path`, refusing anything outside the root.

        For messages and display only: operate on files through `locate`, which is safe
        against concurrent changes.
        """
        with self.locate(path, missing="stop", allow_root=allow_root) as loc:
            if must_exist and loc.st is None:
                raise FileNotFoundError(
                    f"{path!r} does not exist (paths are relative to the root)")
            return self.root.joinpath(*loc.parts)

    # ------------------------------------------------------------ opening
    @staticmethod
    def require(loc: Located, path: str) -> os.stat_result:
        """The leaf's status; `FileNotFoundError` when it does not exist."""
        if loc.st is None:
            raise FileNotFoundError(f"{path!r} does not exist (paths are relative to the root)")
        return loc.st

    @staticmethod
    def check_regular(st: os.stat_result | None, path: str) -> os.stat_result | None:
        """Refuse special files (devices, FIFOs, sockets); pass regular files and dirs."""
        if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise PathRefused(f"{path!r} is {kind_of(st.st_mode)}; only regular files are "
                              "allowed")
        return st

    @staticmethod
    def open_leaf(loc: Located, path: str, flags: int = os.O_RDONLY) -> int:
        """Open the regular file `loc` names, never following a symlink swapped in."""
        try:
            fd = os.open(loc.name, flags | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=loc.dir_fd)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{path!r} does not exist (paths are relative to the root)") from None
        except IsADirectoryError:
            raise IsADirectoryError(f"{path!r} is a directory, not a file") from None
        except OSError as exc:
            now = _lstat(loc.name, loc.dir_fd)
            if now is not None and stat.S_ISLNK(now.st_mode):
                raise PathRefused(f"{path!r} became a symbolic link; refused") from None
            raise OSError(f"cannot open {path!r}: {exc.strerror}") from None
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            os.close(fd)
            raise IsADirectoryError(f"{path!r} is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise PathRefused(f"{path!r} is {kind_of(st.st_mode)}; only regular files are "
                              "allowed")
        os.set_blocking(fd, True)
        return fd

    def open_file(self, path: str) -> tuple[int, str]:
        """Open a regular file under the root for reading: (descriptor, path from root)."""
        with self.locate(path) as loc:
            st = self.require(loc, path)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(f"{path!r} is a directory, not a file")
            self.check_regular(st, path)
            return self.open_leaf(loc, path), loc.rel
