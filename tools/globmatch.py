"""Glob patterns matched in time linear in the path (no backtracking regexes).

A glob compiled to one regular expression (`[^/]*` per `*`, `(?:[^/]+/)*` per `**`) makes
stdlib `re` backtrack exponentially on patterns like `*a*a*a*a*a*a*a*b`, holding the GIL
all the while. Here a path is split into its components and matched by a set of states
over the pattern's components (an NFA walk: `**` stays or moves on), and one component is
matched against a name by placing the pieces between its `*`s leftmost-first — the greedy
placement is optimal for `*`, so no choice is ever revisited. Each piece matches a fixed
number of characters (`?`, `[...]` and literals are one character each), so the regex
used to find it has no quantifier and cannot backtrack. Repeated `*` and `**` collapse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentkit import budget

__all__ = ["MAX_PATTERN_CHARS", "Glob", "expand_braces"]

MAX_PATTERN_CHARS = 1024
"""Longer glob patterns are refused (no real pattern is this long)."""


def _first_group(p: str) -> tuple[int, int] | None:
    """The first `{...}` holding a comma and no other brace (start, end index)."""
    pos = 0
    while (close := p.find("}", pos)) != -1:
        start = p.rfind("{", pos, close)
        if start != -1 and "," in p[start + 1: close]:
            return start, close
        pos = close + 1
    return None


def expand_braces(pattern: str, limit: int = 64) -> list[str]:
    """Expand `{a,b}` alternatives (not nested) into at most `limit` separate patterns."""
    out = [pattern]
    while True:
        budget.check()
        changed = False
        nxt: list[str] = []
        for p in out:
            group = _first_group(p)
            if group is None:
                nxt.append(p)
                continue
            changed = True
            start, end = group
            for alt in p[start + 1: end].split(","):
                nxt.append(p[:start] + alt + p[end + 1:])
        out = nxt[:limit]
        if not changed:
            return out


def _char_class(body: str, neg: bool) -> str:
    """A regex character class for a glob `[...]` body (ranges `a-z` kept)."""
    items: list[str] = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            lo, hi = body[i], body[i + 2]
            if lo > hi:
                raise ValueError(f"invalid range {lo}-{hi} in a glob character class")
            items.append(f"{re.escape(lo)}-{re.escape(hi)}")
            i += 3
        else:
            items.append(re.escape(body[i]))
            i += 1
    return f"[{'^' if neg else ''}{''.join(items)}]"


def _pieces(comp: str) -> list[list[str]]:
    """The regex of each single-character item, for each run between the `*`s of `comp`."""
    pieces: list[list[str]] = []
    cur: list[str] = []
    i = 0
    while i < len(comp):
        c = comp[i]
        if c == "*":
            pieces.append(cur)
            cur = []
            while i + 1 < len(comp) and comp[i + 1] == "*":
                i += 1
        elif c == "?":
            cur.append(".")
        elif c == "[":
            neg = comp[i + 1: i + 2] in ("!", "^")
            first = i + 2 if neg else i + 1
            j = comp.find("]", first + 1)  # a ']' right after '[' is a member
            if j == -1:
                cur.append(re.escape(c))
            else:
                cur.append(_char_class(comp[first:j], neg))
                i = j
        else:
            cur.append(re.escape(c))
        i += 1
    pieces.append(cur)
    return pieces


@dataclass(frozen=True)
class _Component:
    """One pattern component: pieces separated by `*` (a single piece: no `*`)."""

    first: re.Pattern[str]
    middle: tuple[re.Pattern[str], ...]
    last: re.Pattern[str] | None
    sizes: tuple[int, int]  # characters matched by the first and the last piece

    @classmethod
    def parse(cls, comp: str) -> _Component:
        pieces = _pieces(comp)
        rx = [re.compile("".join(p), re.DOTALL) for p in pieces]
        size = [len(p) for p in pieces]
        if len(rx) == 1:
            return cls(rx[0], (), None, (size[0], 0))
        return cls(rx[0], tuple(rx[1:-1]), rx[-1], (size[0], size[-1]))

    def match(self, name: str) -> bool:
        if self.last is None:
            return self.first.fullmatch(name) is not None
        head, tail = self.sizes
        end = len(name) - tail
        if end < head or not self.first.match(name, 0, head) or \
                not self.last.fullmatch(name, end):
            return False
        pos = head
        for piece in self.middle:  # leftmost placement of each piece is optimal
            m = piece.search(name, pos, end)
            if m is None:
                return False
            pos = m.end()
        return True


class Glob:
    """A glob (`*`, `?`, `[..]`, `**` for any number of directories) for relative POSIX
    paths. `match` takes time linear in the path's length times the pattern's."""

    def __init__(self, pattern: str) -> None:
        if len(pattern) > MAX_PATTERN_CHARS:
            raise ValueError(f"the glob pattern is {len(pattern)} characters long; at most "
                             f"{MAX_PATTERN_CHARS} are allowed")
        self.pattern = pattern
        parts: list[_Component | None] = []  # None stands for "**"
        for comp in pattern.strip("/").split("/"):
            if comp in ("", "."):
                continue
            if comp == "**":
                if parts and parts[-1] is None:
                    continue  # '**/**' is '**'
                parts.append(None)
            else:
                parts.append(_Component.parse(comp))
        self.parts = parts

    def match(self, path: str) -> bool:
        """Whether the whole of `path` (components joined by '/') matches."""
        parts, n = self.parts, len(self.parts)
        states = self._closure({0})
        for comp in path.split("/"):
            nxt: set[int] = set()
            for i in states:
                if i == n:
                    continue
                part = parts[i]
                if part is None:  # '**' takes this component and may take more
                    nxt.add(i)
                    if i == n - 1:
                        nxt.add(n)
                elif part.match(comp):
                    nxt.add(i + 1)
            states = self._closure(nxt)
            if not states:
                return False
        return n in states

    def _closure(self, states: set[int]) -> set[int]:
        """`states` plus what an inner `**` reaches by taking no component."""
        out = set(states)
        todo = list(states)
        while todo:
            i = todo.pop()
            if i < len(self.parts) - 1 and self.parts[i] is None and i + 1 not in out:
                out.add(i + 1)
                todo.append(i + 1)
        return out
