"""The file tools against a concurrent process that swaps a directory for a symlink.

A separate process (standing in for sandboxed code sharing the workspace) atomically
exchanges a directory inside the root with a symlink to a directory outside it, as fast as
it can, while the tools read, write, edit, list, grep and glob through that directory.
Nothing outside may ever be read, listed or changed. Also: reading a file that is one huge
line stays within a bounded amount of memory.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from agentkit.tools import FileOps

SECRET = "OUTSIDE-SECRET"

# renameat2(RENAME_EXCHANGE) swaps the two names atomically: "d" is always either the real
# directory or the symlink to outside, never missing.
FLIPPER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = (p.encode() for p in sys.argv[1:3])
AT_FDCWD, RENAME_EXCHANGE = -100, 2
print("ready", flush=True)
while True:
    if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        sys.exit("renameat2 failed: " + os.strerror(ctypes.get_errno()))
"""


def snapshot(base: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(base))] = hashlib.sha256(p.read_bytes()).hexdigest() \
                if p.is_file() else "dir"
    return out


@pytest.fixture
def flipping(tmp_path: Path) -> Iterator[tuple[FileOps, Path, Path, Callable[[], None]]]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    (root / "d/f.txt").write_text("inside\n")
    (root / "d/g.txt").write_text("ping\n")
    (outside / "f.txt").write_text(SECRET + "\n")
    (outside / "g.txt").write_text("ping " + SECRET + "\n")
    (outside / "only_outside.txt").write_text(SECRET + "\n")
    (root / "d_swap").symlink_to(outside)
    before = snapshot(outside)
    proc = subprocess.Popen([sys.executable, "-c", FLIPPER, str(root / "d"),
                             str(root / "d_swap")], stdout=subprocess.PIPE, text=True)

    def stop() -> None:
        assert proc.poll() is None, "the flipper stopped early"
        proc.kill()
        proc.wait()

    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield FileOps(root), root, outside, stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert snapshot(outside) == before, "something outside the root was changed"


def test_swapped_directory_never_leads_outside(
        flipping: tuple[FileOps, Path, Path, Callable[[], None]]) -> None:
    ops, root, outside, stop = flipping
    ok = refused = 0
    deadline = time.monotonic() + 2.0
    n = 0
    while time.monotonic() < deadline:
        n += 1
        actions = [
            lambda: ops.read("d/f.txt"),
            lambda n=n: ops.write(f"d/new{n % 5}.txt", "written\n"),
            lambda n=n: ops.write(f"d/sub{n % 3}/deep.txt", "deep\n"),
            lambda: ops.edit("d/g.txt", "ping", "pong"),
            lambda: ops.edit("d/g.txt", "pong", "ping"),
            lambda: ops.list("d"),
            lambda: ops.list(".", recursive=True),
            lambda: ops.grep("OUTSIDE.SECRET", path="d"),
            lambda: ops.grep("ping|pong|inside"),
            lambda: ops.glob("**/*.txt"),
            lambda: ops.glob("*", path="d"),
        ]
        for action in actions:
            try:
                out = action()
            except (OSError, ValueError):  # refused, vanished or not unique: all fine here
                refused += 1
                continue
            ok += 1
            assert SECRET not in out and "only_outside" not in out, out
    stop()
    assert ok > 50 and refused > 0, (ok, refused)  # both states of "d" were met
    # whatever was written landed inside the root
    assert sorted(p.name for p in outside.iterdir()) == ["f.txt", "g.txt", "only_outside.txt"]
    inside = {p.name for p in root.rglob("*")}
    assert {"new0.txt", "deep.txt"} <= inside


def test_one_huge_line_is_read_in_bounded_memory(tmp_path: Path, peak_memory: object) -> None:
    """A 300 MB file without a newline (sparse: no disk needed) is read clipped."""
    path = tmp_path / "one_line.txt"
    with open(path, "wb") as fh:
        fh.write(b"x" * 10_000)
        fh.seek(300 * 1024 * 1024)
        fh.write(b"y\n")
    ops = FileOps(tmp_path)
    out = ops.read("one_line.txt")
    assert peak_memory.growth_mib() < 64  # type: ignore[attr-defined]
    lines = out.splitlines()
    assert lines[0] == "one_line.txt (lines 1-1 of 1)"
    assert lines[1] == "     1\t" + "x" * 2000 + f" … [line cut, {300 * 1024 * 1024 + 2} bytes]"
    assert len(lines) == 2
    out = ops.read("one_line.txt", start_line=2)
    assert out == "one_line.txt has 1 lines; start_line 2 is past the end"
    assert peak_memory.growth_mib() < 64  # type: ignore[attr-defined]


def test_long_lines_then_short_ones_keep_their_numbers(tmp_path: Path) -> None:
    (tmp_path / "mixed.txt").write_bytes(b"a" * 50_000 + b"\nshort\n" + b"b" * 9000)
    ops = FileOps(tmp_path, max_line_chars=100)
    lines = ops.read("mixed.txt").splitlines()
    assert lines[0] == "mixed.txt (lines 1-3 of 3)"
    assert lines[1] == "     1\t" + "a" * 100 + " … [line cut, 50001 bytes]"
    assert lines[2] == "     2\tshort"
    assert lines[3] == "     3\t" + "b" * 100 + " … [line cut, 9000 bytes]"
    assert ops.grep("short") == "mixed.txt:2: short"
    assert ops.read("mixed.txt", start_line=3, end_line=3).endswith("[line cut, 9000 bytes]")
