"""Rewriting a file never carries setuid/setgid/sticky bits over, nor takes its ownership.

Sandbox code shares the workspace: it can `chmod 6755` a file of its own, and the host
process (often root) then rewrites it with write_file / edit_file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from agentkit.tools import FileOps

SPECIAL = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


@pytest.mark.parametrize("special", [0o6755, 0o4755, 0o2775, 0o1777, 0o7777])
@pytest.mark.parametrize("how", ["write", "edit"])
def test_special_bits_are_dropped(tmp_path: Path, special: int, how: str) -> None:
    target = tmp_path / "tool"
    target.write_text("echo old\n")
    os.chmod(target, special)
    ops = FileOps(tmp_path)
    if how == "write":
        ops.write("tool", "echo new\n")
    else:
        ops.edit("tool", "old", "new")
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode & SPECIAL == 0, oct(mode)
    assert mode == special & 0o777
    assert target.read_text() == "echo new\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
@pytest.mark.parametrize("how", ["write", "edit"])
def test_a_file_of_another_user_keeps_its_owner(tmp_path: Path, how: str) -> None:
    target = tmp_path / "payload"
    target.write_text("echo old\n")
    os.chown(target, 1000, 1000)  # the sandbox's user
    os.chmod(target, 0o6755)
    ops = FileOps(tmp_path)
    if how == "write":
        assert ops.write("payload", "echo new\n").startswith("overwrote payload")
    else:
        ops.edit("payload", "old", "new")
    st = target.stat()
    assert (st.st_uid, st.st_gid) == (1000, 1000)  # never root-owned
    assert stat.S_IMODE(st.st_mode) == 0o755
    assert target.read_text() == "echo new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["payload"]  # no temp file left


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_hard_linked_file_of_another_user_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "a"
    target.write_text("keep\n")
    os.link(target, tmp_path / "b")
    os.chown(target, 1000, 1000)
    with pytest.raises(PermissionError, match="hard links"):
        FileOps(tmp_path).write("a", "changed\n")
    assert target.read_text() == "keep\n"
