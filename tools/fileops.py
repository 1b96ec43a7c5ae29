"""File operations confined to a root directory (the logic behind the file tools).

Every method takes model-supplied paths, checks them with `SafeRoot`, and returns text
meant for the model. Failures raise exceptions whose messages say what to do instead.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .paths import PathRefused, SafeRoot
from .textfiles import atomic_write, describe_binary, glob_to_regex, is_binary, looks_like_utf8

__all__ = ["SKIP_DIRS", "FileOps", "ReadOnlyError"]

SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv",
                       ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox"})
"""Directories that recursive listing, glob and grep do not descend into."""

_HEAD = 8192


class ReadOnlyError(PermissionError):
    """A write was attempted on read-only file tools."""


class FileOps:
    """Read, write, edit, list, glob and grep under `root`; nothing outside it is touched."""

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
    ) -> None:
        self.safe = SafeRoot(root)
        self.read_only = read_only
        self.max_read_chars = max_read_chars
        self.max_line_chars = max_line_chars
        self.max_write_bytes = max_write_bytes
        self.max_results = max_results
        self.max_grep_file_bytes = max_grep_file_bytes

    @property
    def root(self) -> Path:
        return self.safe.root

    # ----------------------------------------------------------------- helpers
    def _writable(self, action: str) -> None:
        if self.read_only:
            raise ReadOnlyError(f"cannot {action}: the file tools are read-only")

    def _rel(self, real: Path | str) -> str:
        return self.safe.relative(real)

    def _entry(self, path: str) -> Path:
        """The path of a directory entry itself (a final symlink is not followed).

        The full path must still resolve inside the root (links to outside are refused).
        """
        self.safe.resolve(path, must_exist=True, allow_root=False)
        text = path.strip()
        lexical = Path(text) if os.path.isabs(text) else self.root / text
        parent = self.safe.resolve(str(Path(os.path.normpath(lexical)).parent))
        entry = parent / lexical.name
        mode = os.lstat(entry).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            self.safe.check_regular(entry, path)  # raises with the kind of special file
        return entry

    def _clip(self, line: str) -> str:
        if len(line) > self.max_line_chars:
            return line[: self.max_line_chars] + f" … [line cut, {len(line)} characters]"
        return line

    def _walk(self, start: Path, everything: bool = False) -> Iterator[tuple[Path, bool]]:
        """Yield (path, is_dir) under `start`, never leaving the root or following dir links.

        Symlinks to outside and special files are left out unless `everything` (listing).
        """
        for dirpath, dirnames, filenames in os.walk(start, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            base = Path(dirpath)
            for d in dirnames:
                if everything or not os.path.islink(base / d):
                    yield base / d, not os.path.islink(base / d)
            for f in sorted(filenames):
                p = base / f
                if everything:
                    yield p, False
                    continue
                if os.path.islink(p):
                    real = os.path.realpath(p)
                    if not self.safe.contains(real):
                        continue
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    yield p, False

    # ------------------------------------------------------------------ read
    def read(self, path: str, start_line: int = 1, end_line: int | None = None) -> str:
        real = self.safe.resolve(path, must_exist=True)
        if real.is_dir():
            raise IsADirectoryError(f"{path!r} is a directory; use list_files to see inside it")
        if start_line < 1:
            raise ValueError("start_line counts from 1")
        if end_line is not None and end_line < start_line:
            raise ValueError(f"end_line ({end_line}) is before start_line ({start_line})")
        fd = self.safe.open_regular(real, path)
        with os.fdopen(fd, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(_HEAD)
            if is_binary(head):
                return (f"{self._rel(real)} is a binary file ({describe_binary(head)}, "
                        f"{size} bytes); its content is not shown")
            fh.seek(0)
            note = "" if looks_like_utf8(head) else \
                " [not valid UTF-8: undecodable bytes are shown as �]"
            return self._read_lines(fh, real, size, start_line, end_line, note)

    def _read_lines(self, fh: Any, real: Path, size: int, start: int, end: int | None,
                    note: str) -> str:
        import io

        text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
        out: list[str] = []
        used = 0
        consumed = 0
        cut_at: int | None = None
        stopped = False
        for line in text:
            consumed += 1
            if consumed < start:
                continue
            if end is not None and consumed > end:
                stopped = True
                break
            shown = f"{consumed:>6}\t{self._clip(line.rstrip(chr(10)).rstrip(chr(13)))}"
            if used + len(shown) > self.max_read_chars and out:
                cut_at, stopped = consumed, True
                break
            out.append(shown)
            used += len(shown) + 1
        total: int | str = consumed
        if stopped:
            total = consumed + sum(1 for _ in text) if size <= 64 * 1024 * 1024 else "?"
        rel = self._rel(real)
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
        real = self.safe.resolve(path, allow_root=False)
        data = content.encode("utf-8")
        if len(data) > self.max_write_bytes:
            raise ValueError(f"content is {len(data)} bytes; the limit for one write is "
                             f"{self.max_write_bytes} bytes")
        st = self.safe.check_regular(real, path)
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(f"{path!r} is a directory; choose a file name")
        if st is None:
            self._check_parents(real, path)
        created = atomic_write(real, data)
        lines = content.count("\n") + (1 if content and not content.endswith("\n") else 0)
        verb = "created" if created else "overwrote"
        return f"{verb} {self._rel(real)} ({len(data)} bytes, {lines} lines)"

    def _check_parents(self, real: Path, path: str) -> None:
        for parent in real.parents:
            if parent == self.root or not self.safe.contains(str(parent)):
                break
            if parent.exists() and not parent.is_dir():
                raise NotADirectoryError(
                    f"cannot create {path!r}: {self._rel(parent)!r} is a file, not a directory"
                )

    # ------------------------------------------------------------------ edit
    def edit(self, path: str, old_string: str, new_string: str,
             replace_all: bool = False) -> str:
        self._writable("edit files")
        if old_string == "":
            raise ValueError("old_string is empty; give the exact text to replace "
                             "(use write_file to create a file)")
        if old_string == new_string:
            raise ValueError("old_string and new_string are identical; nothing to change")
        real = self.safe.resolve(path, must_exist=True, allow_root=False)
        fd = self.safe.open_regular(real, path)
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(self.max_write_bytes + 1)
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
            where = ", ".join(str(x) for x in lines[:10]) + (" …" if len(lines) > 10 else "")
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
        atomic_write(real, data)
        n = count if replace_all else 1
        plural = "s" if n > 1 else ""
        snippet = _snippet(updated, first_line, new.count("\n") + 1)
        return (f"edited {self._rel(real)}: replaced {n} occurrence{plural} "
                f"(first at line {first_line})\n{snippet}")

    @staticmethod
    def _not_found(text: str, old: str, path: str) -> str:
        msg = f"old_string was not found in {path!r}."
        stripped = [ln.strip() for ln in old.strip("\n").splitlines() if ln.strip()]
        lines = text.splitlines()
        if stripped:
            norm = [ln.strip() for ln in lines]
            for i in range(len(norm) - len(stripped) + 1):
                if norm[i: i + len(stripped)] == stripped:
                    return (msg + f" Text matching it up to indentation/whitespace is at line "
                            f"{i + 1}; copy the exact characters (read_file shows them).")
            for i, ln in enumerate(norm):
                if ln == stripped[0]:
                    return (msg + f" Its first line appears at line {i + 1} but the lines "
                            "after it differ; read the file and copy the text exactly.")
        return msg + " Read the file first and copy the exact text, including whitespace."

    # ------------------------------------------------------------------ list
    def list(self, path: str = ".", recursive: bool = False) -> str:
        real = self.safe.resolve(path, must_exist=True)
        rel_base = self._rel(real)
        if not real.is_dir():
            st = self.safe.check_regular(real, path)
            return f"{rel_base} (file, {st.st_size if st else 0} bytes)"
        lines: list[str] = []
        cut = False
        if recursive:
            for p, is_dir in self._walk(real, everything=True):
                if len(lines) >= self.max_results:
                    cut = True
                    break
                lines.append(self._describe(p, is_dir, relative_to=real))
        else:
            with os.scandir(real) as it:
                entries = sorted(it, key=lambda e: (not e.is_dir(follow_symlinks=False), e.name))
            for e in entries:
                if len(lines) >= self.max_results:
                    cut = True
                    break
                lines.append(self._describe(Path(e.path), e.is_dir(follow_symlinks=False),
                                            relative_to=real))
        header = f"{rel_base}/ ({len(lines)} entries{', recursive' if recursive else ''})"
        if not lines:
            return f"{rel_base}/ is empty"
        tail = (f"\n[listing cut at {self.max_results} entries; list a subdirectory or use glob]"
                if cut else "")
        return header + "\n" + "\n".join(lines) + tail

    def _describe(self, p: Path, is_dir: bool, relative_to: Path) -> str:
        name = Path(os.path.relpath(p, relative_to)).as_posix()
        if os.path.islink(p):
            target = os.path.realpath(p)
            if not self.safe.contains(target):
                return f"{name} -> (symbolic link to outside the root; not accessible)"
            return f"{name} -> {self._rel(target)}"
        if is_dir:
            return name + "/"
        try:
            st = os.stat(p)
        except OSError:
            return f"{name} (unreadable)"
        if not stat.S_ISREG(st.st_mode):
            return f"{name} (special file; not accessible)"
        return f"{name} ({st.st_size} bytes)"

    # ------------------------------------------------------------------ glob
    def glob(self, pattern: str, path: str = ".") -> str:
        from .textfiles import expand_braces

        self._check_pattern(pattern)
        base = self.safe.resolve(path, must_exist=True)
        self.safe.check_regular(base, path)
        if not base.is_dir():
            raise NotADirectoryError(f"{path!r} is not a directory")
        regexes = [glob_to_regex(p) for p in expand_braces(pattern)]
        found: list[str] = []
        cut = False
        for p, is_dir in self._walk(base):
            rel = Path(os.path.relpath(p, base)).as_posix()
            if any(r.match(rel) for r in regexes):
                if len(found) >= self.max_results:
                    cut = True
                    break
                found.append(self._rel(p) + ("/" if is_dir else ""))
        if not found:
            return f"no paths match {pattern!r} under {self._rel(base)}/"
        tail = f"\n[results cut at {self.max_results}; narrow the pattern]" if cut else ""
        return "\n".join(found) + tail

    @staticmethod
    def _check_pattern(pattern: str) -> None:
        if "\x00" in pattern:
            raise PathRefused("pattern contains a NUL byte")
        if not pattern.strip():
            raise ValueError("pattern is empty; for example '**/*.py'")
        if pattern.startswith("/") or ".." in pattern.split("/"):
            raise PathRefused(f"pattern {pattern!r} must be relative to the directory searched "
                              "and must not contain '..'")

    # ------------------------------------------------------------------ grep
    def grep(self, pattern: str, path: str = ".", include: str | None = None,
             ignore_case: bool = False, max_results: int | None = None) -> str:
        from .textfiles import expand_braces

        matcher = _compile(pattern, ignore_case)
        real = self.safe.resolve(path, must_exist=True)
        limit = min(max_results or self.max_results, self.max_results)
        includes = None
        if include:
            self._check_pattern(include)
            includes = [glob_to_regex(p) for p in expand_braces(include)]
        files: Iterator[Path]
        if real.is_dir():
            files = (p for p, is_dir in self._walk(real) if not is_dir)
        else:
            self.safe.check_regular(real, path)
            files = iter([real])
        hits: list[str] = []
        skipped = 0
        cut = False
        for f in files:
            rel = self._rel(f)
            if includes and not any(r.match(f.name) or r.match(rel) for r in includes):
                continue
            try:
                if os.stat(f).st_size > self.max_grep_file_bytes:
                    skipped += 1
                    continue
                with open(f, "rb") as fh:
                    if is_binary(fh.read(_HEAD)):
                        continue
                    fh.seek(0)
                    for n, raw in enumerate(fh, 1):
                        line = raw.decode("utf-8", "replace").rstrip("\r\n")
                        if matcher(line[:10_000]):
                            if len(hits) >= limit:
                                cut = True
                                break
                            hits.append(f"{rel}:{n}: {self._clip(line.strip())[:500]}")
            except OSError:
                skipped += 1
            if cut:
                break
        out = "\n".join(hits) if hits else f"no matches for {pattern!r}"
        if cut:
            out += f"\n[results cut at {limit} matches; narrow the pattern or the path]"
        if skipped:
            out += f"\n[{skipped} file(s) skipped: unreadable or over {self.max_grep_file_bytes}" \
                   " bytes]"
        return out

    # ---------------------------------------------------------- delete / move
    def delete(self, path: str) -> str:
        self._writable("delete files")
        entry = self._entry(path)
        st = os.lstat(entry)
        if stat.S_ISDIR(st.st_mode):
            try:
                os.rmdir(entry)
            except OSError:
                raise OSError(f"directory {path!r} is not empty; delete its files first") \
                    from None
            return f"deleted empty directory {self._rel(entry)}"
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            raise PathRefused(f"{path!r} is a special file; it is refused")
        os.unlink(entry)
        return f"deleted {self._rel(entry)}"

    def move(self, source: str, destination: str, overwrite: bool = False) -> str:
        self._writable("move files")
        src = self._entry(source)
        dst = self.safe.resolve(destination, allow_root=False)
        if os.path.lexists(dst):
            if os.path.isdir(dst):
                raise IsADirectoryError(f"{destination!r} is an existing directory; give the "
                                        "full new path including the file name")
            if not overwrite:
                raise FileExistsError(f"{destination!r} exists; set overwrite=true to replace it")
            self.safe.check_regular(dst, destination)
        if os.path.isdir(src) and self.safe.contains(str(dst)) and \
                str(dst).startswith(str(src) + os.sep):
            raise ValueError("cannot move a directory inside itself")
        self._check_parents(dst, destination)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
        return f"moved {self._rel(src)} -> {self._rel(dst)}"


def _compile(pattern: str, ignore_case: bool) -> Any:
    """A search function for `pattern`; uses the `regex` module's timeout when installed."""
    import re

    try:
        import regex
    except ImportError:  # stdlib fallback: no per-match timeout
        try:
            rx = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return rx.search
    try:
        rx2 = regex.compile(pattern, regex.IGNORECASE if ignore_case else 0)
    except (regex.error, re.error) as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None

    def search(line: str) -> Any:
        try:
            return rx2.search(line, timeout=1.0)
        except TimeoutError:
            raise ValueError(f"regular expression {pattern!r} is too slow (catastrophic "
                             "backtracking); simplify it") from None

    return search


def _occurrence_lines(text: str, old: str) -> list[int]:
    lines, start = [], 0
    while (i := text.find(old, start)) != -1:
        lines.append(text.count("\n", 0, i) + 1)
        start = i + 1
    return lines


def _snippet(text: str, first: int, span: int, context: int = 2) -> str:
    lines = text.splitlines()
    lo = max(1, first - context)
    hi = min(len(lines), first + span - 1 + context)
    return "\n".join(f"{n:>6}\t{lines[n - 1]}" for n in range(lo, hi + 1))
