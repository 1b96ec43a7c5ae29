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
import re
import stat
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from agentkit import budget
from agentkit.textsafe import quote_name

from .globmatch import MAX_PATTERN_CHARS, Glob, expand_braces
from .paths import LIST_FLAGS, Located, PathRefused
from .textfiles import is_binary

if TYPE_CHECKING:
    from .paths import SafeRoot

__all__ = ["MAX_DEPTH", "SKIP_DIRS", "FileSearch"]

SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv",
                       ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox"})
"""Directories that recursive listing, glob and grep do not descend into."""

MAX_DEPTH = 100
"""Walks do not descend more than this many directory levels below where they start."""

_HEAD = 8192
_MATCH_CHARS = 10_000
_REGEX_TIMEOUT = 1.0

Entry = tuple[tuple[str, ...], bool, int, str]
"""(components from the root, is a directory, descriptor of its directory, name in it)."""


class Walk:
    """What a walk left out, for the notes under a result."""

    def __init__(self) -> None:
        self.too_deep = 0
        self.stopped: str | None = None  # why the call's time budget ended the walk

    def notes(self) -> str:
        out = ""
        if self.too_deep:
            out += (f"\n[{self.too_deep} director{'y' if self.too_deep == 1 else 'ies'} more "
                    f"than {MAX_DEPTH} levels deep not searched; start from a deeper path]")
        if self.stopped:
            out += f"\n[stopped early: {self.stopped}; the results are incomplete]"
        return out


class FileSearch:
    """list, glob and grep; mixed into `FileOps`, which provides the attributes below."""

    safe: SafeRoot
    max_results: int
    max_grep_file_bytes: int
    time_budget: float | None

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

    def _tree(self, start: Located, everything: bool = False,
              walk: Walk | None = None) -> Generator[Entry, None, None]:
        """Entries under `start` (which must be an existing directory), depth first.

        Iterative (an explicit stack of directory descriptors), at most `MAX_DEPTH` levels
        deep (`walk.too_deep` counts the directories left out). Directories in SKIP_DIRS
        are not entered, symlinked directories never. Unless `everything` (listing), only
        regular files (also through symlinks that stay inside the root) and real
        directories are yielded. Checks the call's time budget at every entry.
        """
        walk = walk or Walk()
        top = self._open_dir(start)
        stack: list[tuple[int, tuple[str, ...], Iterator[str]]] = [(top, start.parts, iter(()))]
        try:
            dirs = yield from self._tree_level(top, start.parts, everything)
            stack[-1] = (top, start.parts, iter(dirs))
            while stack:
                dfd, parts, pending = stack[-1]
                name = next(pending, None)
                if name is None:
                    stack.pop()
                    os.close(dfd)
                    continue
                budget.check()
                if len(parts) + 1 - len(start.parts) >= MAX_DEPTH:
                    walk.too_deep += 1
                    continue
                try:
                    sub = os.open(name, LIST_FLAGS, dir_fd=dfd)
                except OSError:  # gone or replaced (e.g. by a symlink) since the scan
                    continue
                here = (*parts, name)
                stack.append((sub, here, iter(())))
                dirs = yield from self._tree_level(sub, here, everything)
                stack[-1] = (sub, here, iter(dirs))
        finally:
            for fd, _, _ in stack:
                os.close(fd)

    def _tree_level(self, dfd: int, parts: tuple[str, ...],
                    everything: bool) -> Generator[Entry, None, list[str]]:
        """Yield one directory's entries (subdirectories first); return the subdirectories
        to descend into."""
        entries: list[tuple[str, bool]] = []
        with os.scandir(dfd) as it:
            for e in it:
                budget.check()
                entries.append((e.name, e.is_dir(follow_symlinks=False)))
        entries.sort()
        dirs = [n for n, is_dir in entries if is_dir and n not in SKIP_DIRS]
        for name in dirs:
            yield (*parts, name), True, dfd, name
        for name, is_dir in entries:
            if is_dir:
                continue
            budget.check()
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
        return dirs

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
        with budget.scope(self.time_budget, what="list_files"):
            return self._list(path, recursive)

    def _list(self, path: str, recursive: bool) -> str:
        walk = Walk()
        with self.safe.locate(path) as loc:
            st = self.safe.require(loc, path)
            rel_base = quote_name(loc.rel)
            if not stat.S_ISDIR(st.st_mode):
                self.safe.check_regular(st, path)
                return f"{rel_base} (file, {st.st_size} bytes)"
            lines: list[str] = []
            cut = False
            try:
                if recursive:
                    with contextlib.closing(self._tree(loc, True, walk)) as tree:
                        for parts, is_dir, dfd, name in tree:
                            if len(lines) >= self.max_results:
                                cut = True
                                break
                            lines.append(self._describe(dfd, name, parts, is_dir,
                                                        len(loc.parts)))
                else:
                    cut = self._list_one(loc, lines)
            except budget.BudgetExceeded as exc:
                walk.stopped = str(exc)
        header = f"{rel_base}/ ({len(lines)} entries{', recursive' if recursive else ''})"
        if not lines and not walk.stopped:
            return f"{rel_base}/ is empty"
        tail = (f"\n[listing cut at {self.max_results} entries; list a subdirectory or use glob]"
                if cut else "")
        if any(line.startswith('"') for line in lines):
            tail += ("\n[names in double quotes hold special characters, shown with backslash "
                     "escapes (\\n a newline, \\xNN a byte that is not UTF-8)]")
        return header + "\n" + "\n".join(lines) + tail + walk.notes()

    def _list_one(self, loc: Located, lines: builtins.list[str]) -> bool:
        """One directory's entries into `lines`; True when cut at `max_results`."""
        dfd = self._open_dir(loc)
        try:
            with os.scandir(dfd) as it:
                entries = []
                for e in it:
                    budget.check()
                    entries.append((not e.is_dir(follow_symlinks=False), e.name))
            entries.sort()
            for not_dir, name in entries:
                if len(lines) >= self.max_results:
                    return True
                lines.append(self._describe(dfd, name, (*loc.parts, name), not not_dir,
                                            len(loc.parts)))
        finally:
            os.close(dfd)
        return False

    def _describe(self, dfd: int, name: str, parts: tuple[str, ...], is_dir: bool,
                  base: int) -> str:
        budget.check()
        shown = quote_name("/".join(parts[base:]))
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except OSError:
            return f"{shown} (unreadable)"
        if stat.S_ISLNK(st.st_mode):
            loc = self._follow(parts)
            if loc is None:
                return f"{shown} -> (symbolic link to outside the root; not accessible)"
            with loc:
                return f"{shown} -> {quote_name(loc.rel)}"
        if is_dir or stat.S_ISDIR(st.st_mode):
            return shown + "/"
        if not stat.S_ISREG(st.st_mode):
            return f"{shown} (special file; not accessible)"
        return f"{shown} ({st.st_size} bytes)"

    # ------------------------------------------------------------------ glob
    def glob(self, pattern: str, path: str = ".") -> str:
        with budget.scope(self.time_budget, what="glob"):
            return self._glob(pattern, path)

    def _glob(self, pattern: str, path: str) -> str:
        globs = self._globs(pattern)
        found: list[str] = []
        cut = False
        walk = Walk()
        with self.safe.locate(path) as base:
            st = self.safe.check_regular(self.safe.require(base, path), path)
            if st is None or not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(f"{path!r} is not a directory")
            skip = len(base.parts)
            try:
                with contextlib.closing(self._tree(base, walk=walk)) as tree:
                    for parts, is_dir, _, _ in tree:
                        if any(g.match("/".join(parts[skip:])) for g in globs):
                            if len(found) >= self.max_results:
                                cut = True
                                break
                            found.append(quote_name("/".join(parts)) + ("/" if is_dir else ""))
            except budget.BudgetExceeded as exc:
                walk.stopped = str(exc)
            rel_base = quote_name(base.rel)
        if not found:
            return f"no paths match {pattern!r} under {rel_base}/" + walk.notes()
        tail = f"\n[results cut at {self.max_results}; narrow the pattern]" if cut else ""
        return "\n".join(found) + tail + walk.notes()

    def _globs(self, pattern: str) -> builtins.list[Glob]:
        """The compiled alternatives of a checked glob pattern."""
        if "\x00" in pattern:
            raise PathRefused("pattern contains a NUL byte")
        if not pattern.strip():
            raise ValueError("pattern is empty; for example '**/*.py'")
        if pattern.startswith("/") or ".." in pattern.split("/"):
            raise PathRefused(f"pattern {pattern!r} must be relative to the directory searched "
                              "and must not contain '..'")
        if len(pattern) > MAX_PATTERN_CHARS:
            raise ValueError(f"the glob pattern is {len(pattern)} characters long; at most "
                             f"{MAX_PATTERN_CHARS} are allowed")
        return [Glob(p) for p in expand_braces(pattern)]

    # ------------------------------------------------------------------ grep
    def grep(self, pattern: str, path: str = ".", include: str | None = None,
             ignore_case: bool = False, max_results: int | None = None) -> str:
        with budget.scope(self.time_budget, what="grep"):
            return self._grep(pattern, path, include, ignore_case, max_results)

    def _grep(self, pattern: str, path: str, include: str | None, ignore_case: bool,
              max_results: int | None) -> str:
        matcher = _compile(pattern, ignore_case)
        limit = min(max_results or self.max_results, self.max_results)
        includes = self._globs(include) if include else None
        hits: list[str] = []
        skipped = 0
        walk = Walk()
        with self.safe.locate(path) as loc:
            st = self.safe.require(loc, path)
            if stat.S_ISDIR(st.st_mode):
                files: Generator[Entry, None, None] = self._tree(loc, walk=walk)
            else:
                self.safe.check_regular(st, path)
                files = _single((loc.parts, False, loc.dir_fd, loc.name))
            try:
                with contextlib.closing(files):
                    for entry in files:
                        if entry[1]:  # a directory
                            continue
                        rel = "/".join(entry[0])
                        if includes and not any(g.match(entry[3]) or g.match(rel)
                                                for g in includes):
                            continue
                        try:
                            done = self._grep_file(entry, quote_name(rel), matcher, hits,
                                                   limit)
                        except OSError:  # includes PathRefused (a file swapped meanwhile)
                            skipped += 1
                            continue
                        if done is None:
                            skipped += 1
                        elif done:
                            break
            except budget.BudgetExceeded as exc:
                walk.stopped = str(exc)
        cut = len(hits) > limit
        out = "\n".join(hits[:limit]) if hits else f"no matches for {pattern!r}"
        if cut:
            out += f"\n[results cut at {limit} matches; narrow the pattern or the path]"
        if skipped:
            out += f"\n[{skipped} file(s) skipped: unreadable or over {self.max_grep_file_bytes}" \
                   " bytes]"
        return out + walk.notes()

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
                budget.check()
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


_MAX_REGEX_CHARS = 2_000
_MAX_REGEX_WEIGHT = 100_000
_COUNT = re.compile(r"\{(\d*)(?:,(\d*))?\}")


def _regex_weight(pattern: str) -> int:
    """An upper estimate of the size of the compiled pattern: counted repeats multiply
    what they repeat (`(?:x{3000}){3000}` is 9,000,000), since compiling such a pattern
    takes seconds to minutes while holding the GIL."""
    stack = [[0, 0]]  # per open group: [weight so far, weight of its last item]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        top = stack[-1]
        if c == "(":
            stack.append([0, 0])
        elif c == ")" and len(stack) > 1:
            inner = max(stack.pop()[0], 1)
            stack[-1][0] += inner
            stack[-1][1] = inner
        elif c == "{" and (m := _COUNT.match(pattern, i)):
            count = max(int(m.group(1) or 0), int(m.group(2) or 0), 1)
            top[0] += top[1] * (count - 1)
            top[1] *= count
            i = m.end()
            continue
        else:
            if c == "\\":
                i += 1
            elif c == "[":  # a class is one item: skip to its end
                j = i + 1 + (pattern[i + 1: i + 2] == "^")
                j += pattern[j: j + 1] == "]"
                while j < n and pattern[j] != "]":
                    j += 2 if pattern[j] == "\\" else 1
                i = j
            top[0] += 1
            top[1] = 1
        i += 1
    return sum(level[0] for level in stack)


def _compile(pattern: str, ignore_case: bool) -> Any:
    """A search function for `pattern` (the `regex` module: it releases the GIL while it
    matches, and each match is bounded by a timeout and by the call's time budget)."""
    import regex

    if len(pattern) > _MAX_REGEX_CHARS:
        raise ValueError(f"the regular expression is {len(pattern)} characters long; at most "
                         f"{_MAX_REGEX_CHARS} are allowed")
    if _regex_weight(pattern) > _MAX_REGEX_WEIGHT:
        raise ValueError(f"regular expression {pattern!r} repeats too much (nested counted "
                         "repeats such as (?:x{1000}){1000} are refused); simplify it")
    try:
        rx = regex.compile(pattern, regex.IGNORECASE if ignore_case else 0)
    except (regex.error, re.error, OverflowError) as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None

    def search(line: str) -> Any:
        left = budget.remaining()
        timeout = _REGEX_TIMEOUT if left is None else min(_REGEX_TIMEOUT, left)
        try:
            return rx.search(line, timeout=max(timeout, 0.001))
        except TimeoutError:
            budget.check()  # the call's budget ran out: say so
            raise ValueError(f"regular expression {pattern!r} is too slow (catastrophic "
                             "backtracking); simplify it") from None

    return search
