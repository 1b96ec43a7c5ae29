"""File operations confined to a root directory (the logic behind the file tools).

Every method takes model-supplied paths, resolves them with `SafeRoot.locate` (component
by component from a descriptor of the root) and works relative to the descriptors it got,
so concurrent changes to the tree cannot redirect it outside the root. Methods return text
meant for the model; failures raise exceptions whose messages say what to do instead.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from agentkit import budget
from agentkit.textsafe import quote_name

from .filesearch import SKIP_DIRS, FileSearch
from .paths import PathRefused, SafeRoot, kind_of
from .textfiles import atomic_write, describe_binary, is_binary, looks_like_utf8

__all__ = ["SKIP_DIRS", "FileOps", "ReadOnlyError"]

_HEAD = 8192
_CHUNK = 1024 * 1024


class ReadOnlyError(PermissionError):
    """A write was attempted on read-only file tools."""


class FileOps(FileSearch):
    """Read, write, edit, list, glob and grep under `root`; nothing outside it is touched.

    `time_budget`: seconds one list/glob/grep may take before it stops with what it found
    (the tool call's own timeout stops it too, see `agentkit.budget`).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        read_only: bool = False,
        max_read_chars: int = 100_000,
        max_line_chars: int = 2_000,
        max_write_bytes: int = 10 * 1024 * 1024,
        max_results: int = 200,
        max_grep_file_bytes: int = 20 * 1024 * 1024,
        time_budget: float | None = 60.0,
    ) -> None:
        self.safe = SafeRoot(root)
        self.read_only = read_only
        self.max_read_chars = max_read_chars
        self.max_line_chars = max_line_chars
        self.max_write_bytes = max_write_bytes
        self.max_results = max_results
        self.max_grep_file_bytes = max_grep_file_bytes
        self.time_budget = time_budget

    @property
    def root(self) -> Path:
        return self.safe.root

    # ----------------------------------------------------------------- helpers
    def _writable(self, action: str) -> None:
        if self.read_only:
            raise ReadOnlyError(f"cannot {action}: the file tools are read-only")

    def _clip(self, line: str, size: int | None = None) -> str:
        """`line` cut to `max_line_chars`; `size` is the line's full length in bytes when
        only a prefix of it was read."""
        if size is not None:
            return line[: self.max_line_chars] + f" … [line cut, {size} bytes]"
        if len(line) > self.max_line_chars:
            return line[: self.max_line_chars] + f" … [line cut, {len(line)} characters]"
        return line

    # ------------------------------------------------------------------ read
    def read(self, path: str, start_line: int = 1, end_line: int | None = None) -> str:
        with self.safe.locate(path) as loc:
            st = self.safe.require(loc, path)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(f"{path!r} is a directory; use list_files to see "
                                        "inside it")
            if start_line < 1:
                raise ValueError("start_line counts from 1")
            if end_line is not None and end_line < start_line:
                raise ValueError(f"end_line ({end_line}) is before start_line ({start_line})")
            self.safe.check_regular(st, path)
            fd = self.safe.open_leaf(loc, path)
            rel = quote_name(loc.rel)
        with os.fdopen(fd, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(_HEAD)
            if is_binary(head):
                return (f"{rel} is a binary file ({describe_binary(head)}, "
                        f"{size} bytes); its content is not shown")
            fh.seek(0)
            note = "" if looks_like_utf8(head) else \
                " [not valid UTF-8: undecodable bytes are shown as �]"
            return self._read_lines(fh, rel, size, start_line, end_line, note)

    def _next_line(self, fh: BinaryIO) -> tuple[bytes, int | None] | None:
        """The next line (at most ~4 bytes per shown character are kept) and, when it was
        longer than that, its full size in bytes; None at the end of the file."""
        limit = 4 * self.max_line_chars + 4
        raw = fh.readline(limit)
        if not raw:
            return None
        if len(raw) < limit or raw.endswith(b"\n"):
            return raw, None
        size = len(raw)
        while True:  # skip the rest of an over-long line without holding it
            budget.check()
            more = fh.readline(_CHUNK)
            size += len(more)
            if not more or more.endswith(b"\n"):
                return raw, size

    def _read_lines(self, fh: BinaryIO, rel: str, size: int, start: int, end: int | None,
                    note: str) -> str:
        out: list[str] = []
        used = 0
        consumed = 0
        cut_at: int | None = None
        stopped = False
        while (item := self._next_line(fh)) is not None:
            consumed += 1
            if consumed < start:
                continue
            if end is not None and consumed > end:
                stopped = True
                break
            raw, long_size = item
            line = raw.decode("utf-8", "replace").rstrip("\n").rstrip("\r")
            shown = f"{consumed:>6}\t{self._clip(line, long_size)}"
            if used + len(shown) > self.max_read_chars and out:
                cut_at, stopped = consumed, True
                break
            out.append(shown)
            used += len(shown) + 1
        total: int | str = consumed
        if stopped:
            total = consumed + _count_lines(fh) if size <= 64 * 1024 * 1024 else "?"
        if consumed == 0:
            return f"{rel} is empty (0 lines)"
        if not out:
            return f"{rel} has {total} lines; start_line {start} is past the end"
        last = start + len(out) - 1
        header = f"{rel} (lines {start}-{last} of {total}){note}"
        body = "\n".join(out)
        if cut_at is not None:
            body += (f"\n[output cut at {self.max_read_chars} characters; call read_file "
                     f"with start_line={cut_at} to read on]")
        return header + "\n" + body

    # ----------------------------------------------------------------- write
    def write(self, path: str, content: str) -> str:
        self._writable("write files")
        self.safe.locate(path, missing="stop", allow_root=False).close()  # refusals first
        data = content.encode("utf-8")
        if len(data) > self.max_write_bytes:
            raise ValueError(f"content is {len(data)} bytes; the limit for one write is "
                             f"{self.max_write_bytes} bytes")
        with self.safe.locate(path, missing="create", allow_root=False) as loc:
            st = self.safe.check_regular(loc.st, path)
            if st is not None and stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(f"{path!r} is a directory; choose a file name")
            created = atomic_write(loc.dir_fd, loc.name, data)
            rel = quote_name(loc.rel)
        lines = content.count("\n") + (1 if content and not content.endswith("\n") else 0)
        verb = "created" if created else "overwrote"
        return f"{verb} {rel} ({len(data)} bytes, {lines} lines)"

    # ------------------------------------------------------------------ edit
    def edit(self, path: str, old_string: str, new_string: str,
             replace_all: bool = False) -> str:
        self._writable("edit files")
        if old_string == "":
            raise ValueError("old_string is empty; give the exact text to replace "
                             "(use write_file to create a file)")
        if old_string == new_string:
            raise ValueError("old_string and new_string are identical; nothing to change")
        with self.safe.locate(path, allow_root=False) as loc:
            st = self.safe.require(loc, path)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(f"{path!r} is a directory, not a file")
            self.safe.check_regular(st, path)
            with os.fdopen(self.safe.open_leaf(loc, path), "rb") as fh:
                raw = fh.read(self.max_write_bytes + 1)
            return self._edit_bytes(loc.dir_fd, loc.name, quote_name(loc.rel), raw, path,
                                    old_string, new_string, replace_all)

    def _edit_bytes(self, dir_fd: int, name: str, rel: str, raw: bytes, path: str,
                    old_string: str, new_string: str, replace_all: bool) -> str:
        if len(raw) > self.max_write_bytes:
            raise ValueError(f"{path!r} is larger than {self.max_write_bytes} bytes; "
                             "too large to edit")
        if is_binary(raw[:_HEAD]):
            raise ValueError(f"{path!r} is a binary file; edit_file only changes text")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path!r} is not UTF-8 text; edit_file will not re-encode it "
                             "(use write_file to replace it)") from None
        old, new = old_string, new_string
        count = text.count(old)
        if count == 0 and "\r\n" in text and "\r\n" not in old:
            old, new = old.replace("\n", "\r\n"), new.replace("\n", "\r\n")
            count = text.count(old)
        if count == 0:
            raise ValueError(self._not_found(text, old_string, path))
        if count > 1 and not replace_all:
            lines = _occurrence_lines(text, old)
            where = ", ".join(str(x) for x in lines[:10]) + (" …" if count > 10 else "")
            raise ValueError(
                f"old_string occurs {count} times in {path!r} (lines {where}); add surrounding "
                "lines to make it unique, or set replace_all=true to replace every occurrence"
            )
        first_line = text.count("\n", 0, text.index(old)) + 1
        updated = text.replace(old, new) if replace_all else text.replace(old, new, 1)
        data = updated.encode("utf-8")
        if len(data) > self.max_write_bytes:
            raise ValueError(f"the edited file would be {len(data)} bytes; the limit is "
                             f"{self.max_write_bytes}")
        atomic_write(dir_fd, name, data)
        n = count if replace_all else 1
        plural = "s" if n > 1 else ""
        snippet = _snippet(updated, first_line, new.count("\n") + 1)
        return (f"edited {rel}: replaced {n} occurrence{plural} "
                f"(first at line {first_line})\n{snippet}")

    @staticmethod
    def _not_found(text: str, old: str, path: str) -> str:
        msg = f"old_string was not found in {path!r}."
        stripped = [ln.strip() for ln in old.strip("\n").splitlines() if ln.strip()]
        lines = text.splitlines()
        if stripped:
            norm = [ln.strip() for ln in lines]
            starts = [i for i, ln in enumerate(norm[: len(norm) - len(stripped) + 1])
                      if ln == stripped[0]]
            for i in starts[:1000]:  # each comparison costs len(stripped): keep it bounded
                budget.check()
                if norm[i: i + len(stripped)] == stripped:
                    return (msg + f" Text matching it up to indentation/whitespace is at line "
                            f"{i + 1}; copy the exact characters (read_file shows them).")
            first = next((i for i, ln in enumerate(norm) if ln == stripped[0]), None)
            if first is not None:
                return (msg + f" Its first line appears at line {first + 1} but the lines "
                        "after it differ; read the file and copy the text exactly.")
        return msg + " Read the file first and copy the exact text, including whitespace."

    # ---------------------------------------------------------- delete / move
    def delete(self, path: str) -> str:
        self._writable("delete files")
        self.safe.locate(path, missing="stop", allow_root=False).close()  # links out: refused
        with self.safe.locate(path, follow=False, allow_root=False) as loc:
            st = self.safe.require(loc, path)
            if stat.S_ISDIR(st.st_mode):
                try:
                    os.rmdir(loc.name, dir_fd=loc.dir_fd)
                except OSError:
                    raise OSError(f"directory {path!r} is not empty; delete its files first") \
                        from None
                return f"deleted empty directory {quote_name(loc.rel)}"
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                raise PathRefused(f"{path!r} is {kind_of(st.st_mode)}; it is refused")
            os.unlink(loc.name, dir_fd=loc.dir_fd)
            return f"deleted {quote_name(loc.rel)}"

    def move(self, source: str, destination: str, overwrite: bool = False) -> str:
        self._writable("move files")
        self.safe.locate(source, missing="stop", allow_root=False).close()
        with self.safe.locate(source, follow=False, allow_root=False) as src:
            st = self.safe.require(src, source)
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or
                    stat.S_ISLNK(st.st_mode)):
                raise PathRefused(f"{source!r} is {kind_of(st.st_mode)}; it is refused")
            with self.safe.locate(destination, missing="stop", allow_root=False) as probe:
                if probe.st is not None:
                    if stat.S_ISDIR(probe.st.st_mode):
                        raise IsADirectoryError(f"{destination!r} is an existing directory; "
                                                "give the full new path including the file "
                                                "name")
                    if not overwrite:
                        raise FileExistsError(f"{destination!r} exists; set overwrite=true to "
                                              "replace it")
                    self.safe.check_regular(probe.st, destination)
                if stat.S_ISDIR(st.st_mode) and probe.parts[:len(src.parts)] == src.parts:
                    raise ValueError("cannot move a directory inside itself")
            with self.safe.locate(destination, missing="create", allow_root=False) as dst:
                os.rename(src.name, dst.name, src_dir_fd=src.dir_fd, dst_dir_fd=dst.dir_fd)
                return f"moved {quote_name(src.rel)} -> {quote_name(dst.rel)}"


def _count_lines(fh: BinaryIO) -> int:
    """Lines left in `fh`, counted in fixed-size chunks."""
    count, last = 0, b"\n"
    while chunk := fh.read(_CHUNK):
        budget.check()
        count += chunk.count(b"\n")
        last = chunk[-1:]
    return count + (last != b"\n")


def _occurrence_lines(text: str, old: str, limit: int = 11) -> list[int]:
    """Line numbers of the first `limit` occurrences (counted incrementally: linear)."""
    lines: list[int] = []
    start = pos = 0
    line = 1
    while len(lines) < limit and (i := text.find(old, start)) != -1:
        line += text.count("\n", pos, i)
        pos = i
        lines.append(line)
        start = i + 1
    return lines


def _snippet(text: str, first: int, span: int, context: int = 2) -> str:
    lines = text.splitlines()
    lo = max(1, first - context)
    hi = min(len(lines), first + span - 1 + context)
    return "\n".join(f"{n:>6}\t{lines[n - 1]}" for n in range(lo, hi + 1))
