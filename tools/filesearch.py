"""Listing, glob and grep under a root directory (the search half of `FileOps`).

Trees are walked through directory descriptors (`os.scandir(fd)`, each subdirectory opened
with `O_NOFOLLOW` relative to its parent), never by path, so a directory swapped for a
symlink during a walk is not followed out of the root. Symlinks met on the way are resolved
with `SafeRoot.locate_parts`, which checks their targets.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import stat
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from .paths import LIST_FLAGS, Located, PathRefused
from .textfiles import glob_to_regex, is_binary

if TYPE_CHECKING:
    from .paths import SafeRoot

__all__ = ["SKIP_DIRS", "FileSearch"]

SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv",
                       ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox"})
"""Directories that recursive listing, glob and grep do not descend into."""

_HEAD = 8192
_MATCH_CHARS = 10_000

Entry = tuple[tuple[str, ...], bool, int, str]
"""(components from the root, is a directory, descriptor of its directory, name in it)."""


class FileSearch:
    """list, glob and grep; mixed into `FileOps`, which provides the attributes below."""

    safe: SafeRoot
    max_results: int
    max_grep_file_bytes: int

    def _clip(self, line: str, size: int | None = None) -> str:  # pragma: no cover
        raise NotImplementedError

    # ----------------------------------------------------------------- walking
    def _open_dir(self, loc: Located) -> int:
        return os.open(loc.name, LIST_FLAGS, dir_fd=loc.dir_fd)

    def _follow(self, parts: tuple[str, ...]) -> Located | None:
        """Where the symlink at `parts` leads, or None when it leads outside the root."""
        try:
            return self.safe.locate_parts(list(parts), "/".join(parts), missing="stop")
        except (PathRefused, OSError):
            return None

    def _link_kind(self, parts: tuple[str, ...]) -> os.stat_result | None:
        loc = self._follow(parts)
        if loc is None:
            return None
        with loc:
            return loc.st

    def _tree(self, start: Located, everything: bool = False) -> Generator[Entry, None, None]:
        """Entries under `start` (which must be an existing directory), depth first.

        Directories in SKIP_DIRS are not entered, symlinked directories never. Unless
        `everything` (listing), only regular files (also through symlinks that stay
        inside the root) and real directories are yielded.
        """
        top = self._open_dir(start)
        stack: list[tuple[int, tuple[str, ...]]] = []
        try:
            yield from self._tree_level(top, start.parts, everything, stack)
        finally:
            os.close(top)
            for fd, _ in stack:
                os.close(fd)

    def _tree_level(self, dfd: int, parts: tuple[str, ...], everything: bool,
                    stack: list[tuple[int, tuple[str, ...]]]) -> Iterator[Entry]:
        with os.scandir(dfd) as it:
            entries = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in it)
        dirs = [n for n, is_dir in entries if is_dir and n not in SKIP_DIRS]
        for name in dirs:
            yield (*parts, name), True, dfd, name
        for name, is_dir in entries:
            if is_dir:
                continue
            if everything:
                yield (*parts, name), False, dfd, name
                continue
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                target = self._link_kind((*parts, name))
                if target is None or not stat.S_ISREG(target.st_mode):
                    continue
            elif not stat.S_ISREG(st.st_mode):
                continue
            yield (*parts, name), False, dfd, name
        for name in dirs:
            try:
                sub = os.open(name, LIST_FLAGS, dir_fd=dfd)
            except OSError:  # gone or replaced (e.g. by a symlink) since the scan
                continue
            stack.append((sub, (*parts, name)))
            try:
                yield from self._tree_level(sub, (*parts, name), everything, stack)
            finally:
                stack.pop()
                os.close(sub)

    def _open_entry(self, entry: Entry) -> int:
        """Open a file met in a walk, for reading; symlinks are re-resolved safely."""
        parts, _, dfd, name = entry
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            return self.safe.open_file("/".join(parts))[0]
        with Located([os.dup(dfd)], parts, st) as loc:
            return self.safe.open_leaf(loc, "/".join(parts))

    # ------------------------------------------------------------------ list
    def list(self, path: str = ".", recursive: bool = False) -> str:
        with self.safe.locate(path) as loc:
            st = self.safe.require(loc, path)
            rel_base = loc.rel
            if not stat.S_ISDIR(st.st_mode):
                self.safe.check_regular(st, path)
                return f"{rel_base} (file, {st.st_size} bytes)"
            lines: list[str] = []
            cut = False
            if recursive:
                with contextlib.closing(self._tree(loc, everything=True)) as tree:
                    for parts, is_dir, dfd, name in tree:
                        if len(lines) >= self.max_results:
                            cut = True
                            break
                        lines.append(self._describe(dfd, name, parts, is_dir,
                                                    len(loc.parts)))
            else:
                dfd = self._open_dir(loc)
                try:
                    with os.scandir(dfd) as it:
                        entries = sorted((not e.is_dir(follow_symlinks=False), e.name)
                                         for e in it)
                    for not_dir, name in entries:
                        if len(lines) >= self.max_results:
                            cut = True
                            break
                        lines.append(self._describe(dfd, name, (*loc.parts, name),
                                                    not not_dir, len(loc.parts)))
                finally:
                    os.close(dfd)
        header = f"{rel_base}/ ({len(lines)} entries{', recursive' if recursive else ''})"
        if not lines:
            return f"{rel_base}/ is empty"
        tail = (f"\n[listing cut at {self.max_results} entries; list a subdirectory or use glob]"
                if cut else "")
        return header + "\n" + "\n".join(lines) + tail

    def _describe(self, dfd: int, name: str, parts: tuple[str, ...], is_dir: bool,
                  base: int) -> str:
        shown = "/".join(parts[base:])
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except OSError:
            return f"{shown} (unreadable)"
        if stat.S_ISLNK(st.st_mode):
            loc = self._follow(parts)
            if loc is None:
                return f"{shown} -> (symbolic link to outside the root; not accessible)"
            with loc:
                return f"{shown} -> {loc.rel}"
        if is_dir or stat.S_ISDIR(st.st_mode):
            return shown + "/"
        if not stat.S_ISREG(st.st_mode):
            return f"{shown} (special file; not accessible)"
        return f"{shown} ({st.st_size} bytes)"

    # ------------------------------------------------------------------ glob
    def glob(self, pattern: str, path: str = ".") -> str:
        from .textfiles import expand_braces

        self._check_pattern(pattern)
        regexes = [glob_to_regex(p) for p in expand_braces(pattern)]
        found: list[str] = []
        cut = False
        with self.safe.locate(path) as base:
            st = self.safe.check_regular(self.safe.require(base, path), path)
            if st is None or not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(f"{path!r} is not a directory")
            skip = len(base.parts)
            with contextlib.closing(self._tree(base)) as tree:
                for parts, is_dir, _, _ in tree:
                    if any(r.match("/".join(parts[skip:])) for r in regexes):
                        if len(found) >= self.max_results:
                            cut = True
                            break
                        found.append("/".join(parts) + ("/" if is_dir else ""))
            rel_base = base.rel
        if not found:
            return f"no paths match {pattern!r} under {rel_base}/"
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
        limit = min(max_results or self.max_results, self.max_results)
        includes = None
        if include:
            self._check_pattern(include)
            includes = [glob_to_regex(p) for p in expand_braces(include)]
        hits: list[str] = []
        skipped = 0
        with self.safe.locate(path) as loc:
            st = self.safe.require(loc, path)
            if stat.S_ISDIR(st.st_mode):
                files: Generator[Entry, None, None] = self._tree(loc)
            else:
                self.safe.check_regular(st, path)
                files = _single((loc.parts, False, loc.dir_fd, loc.name))
            with contextlib.closing(files):
                for entry in files:
                    if entry[1]:  # a directory
                        continue
                    rel = "/".join(entry[0])
                    if includes and not any(r.match(entry[3]) or r.match(rel)
                                            for r in includes):
                        continue
                    try:
                        done = self._grep_file(entry, rel, matcher, hits, limit)
                    except OSError:  # includes PathRefused (a file swapped meanwhile)
                        skipped += 1
                        continue
                    if done is None:
                        skipped += 1
                    elif done:
                        break
        cut = len(hits) > limit
        out = "\n".join(hits[:limit]) if hits else f"no matches for {pattern!r}"
        if cut:
            out += f"\n[results cut at {limit} matches; narrow the pattern or the path]"
        if skipped:
            out += f"\n[{skipped} file(s) skipped: unreadable or over {self.max_grep_file_bytes}" \
                   " bytes]"
        return out

    def _grep_file(self, entry: Entry, rel: str, matcher: Any, hits: builtins.list[str],
                   limit: int) -> bool | None:
        """Add matching lines to `hits`; True once more than `limit` were found, None when
        the file is too large."""
        with os.fdopen(self._open_entry(entry), "rb") as fh:
            if os.fstat(fh.fileno()).st_size > self.max_grep_file_bytes:
                return None
            if is_binary(fh.read(_HEAD)):
                return False
            fh.seek(0)
            number = 0
            line_start = True
            while raw := fh.readline(_MATCH_CHARS * 4):
                if not line_start:  # the rest of an over-long line: already searched
                    line_start = raw.endswith(b"\n")
                    continue
                number += 1
                line_start = raw.endswith(b"\n")
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if matcher(line[:_MATCH_CHARS]):
                    hits.append(f"{rel}:{number}: {self._clip(line.strip())[:500]}")
                    if len(hits) > limit:
                        return True
        return False


def _single(entry: Entry) -> Generator[Entry, None, None]:
    yield entry


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
