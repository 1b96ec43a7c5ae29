"""Listings are unambiguous whatever the names hold (issue 9, items 16 and 17).

A name with a newline used to show up as several entries; a name with a byte that is not
UTF-8 made the result unsendable. Such names are quoted with backslash escapes; one line
is one entry, and every result is valid UTF-8.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from agentkit.tools import FileOps

TRICKY = [
    "two\nlines.txt",
    "fake.txt (12 bytes)\nsecret.txt",
    "carriage\rreturn.txt",
    "tab\there.txt",
    "esc\x1b[31mred.txt",
    'quote".txt',
    "back\\slash.txt",
    " leading-space.txt",
    "bidi\u202etxt.exe",
]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in TRICKY:
        (tmp_path / name).write_text("needle\n")
    os.close(os.open(os.fsencode(tmp_path) + b"/raw\xff\xfe.txt", os.O_CREAT | os.O_WRONLY))
    sub = tmp_path / "dir\nwith newline"
    sub.mkdir()
    (sub / "inner.txt").write_text("needle\n")
    (tmp_path / "plain.txt").write_text("needle\n")
    return tmp_path


def _entries(out: str) -> list[str]:
    return [ln for ln in out.splitlines()[1:] if not ln.startswith("[")]


def test_list_files_shows_one_line_per_entry(tree: Path) -> None:
    ops = FileOps(tree)
    out = ops.list(".")
    out.encode("utf-8")
    entries = _entries(out)
    assert len(entries) == len(os.listdir(tree))  # nothing split, nothing lost
    assert '"two\\nlines.txt" (7 bytes)' in entries
    assert '"fake.txt (12 bytes)\\nsecret.txt" (7 bytes)' in entries
    assert '"carriage\\rreturn.txt" (7 bytes)' in entries
    assert '"esc\\x1b[31mred.txt" (7 bytes)' in entries
    assert '"quote\\".txt" (7 bytes)' in entries
    assert '"back\\\\slash.txt" (7 bytes)' in entries
    assert '" leading-space.txt" (7 bytes)' in entries
    assert '"bidi\\u202etxt.exe" (7 bytes)' in entries
    assert '"raw\\xff\\xfe.txt" (0 bytes)' in entries
    assert '"dir\\nwith newline"/' in entries
    assert "plain.txt (7 bytes)" in entries
    assert "[names in double quotes hold special characters" in out
    recursive = ops.list(".", recursive=True)
    assert '"dir\\nwith newline/inner.txt" (7 bytes)' in recursive.splitlines()


def test_glob_and_grep_quote_names_too(tree: Path) -> None:
    ops = FileOps(tree, max_results=100)
    found = ops.glob("**/*")
    found.encode("utf-8")
    assert '"two\\nlines.txt"' in found.splitlines()
    assert '"dir\\nwith newline/inner.txt"' in found.splitlines()
    hits = ops.grep("needle").splitlines()
    assert '"two\\nlines.txt":1: needle' in hits
    assert '"dir\\nwith newline/inner.txt":1: needle' in hits
    assert len(hits) == len(TRICKY) + 2  # one line per hit
    assert "\x1b" not in found + "\n".join(hits)


def test_a_quoted_name_can_be_read_back_by_its_real_name(tree: Path) -> None:
    ops = FileOps(tree)
    assert "needle" in ops.read("two\nlines.txt")
