"""Behaviour of the file tools on a host directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from agentkit.tools import FileOps, ReadOnlyError, file_tools

from agentkit.tooldef import Tool


def tools_by_name(tools: list[Tool]) -> dict[str, Tool]:
    return {t.name: t for t in tools}


async def call(tool: Tool, **kwargs: Any) -> str:
    result = await tool.call(None, tool.validate(kwargs))
    assert isinstance(result, str)
    return result


@pytest.fixture
def ops(tmp_path: Path) -> FileOps:
    return FileOps(tmp_path, max_read_chars=2_000, max_write_bytes=1_000, max_results=5)


def test_names_and_modes(tmp_path: Path) -> None:
    assert [t.name for t in file_tools(tmp_path)] == [
        "read_file", "write_file", "edit_file", "list_files", "glob", "grep"]
    assert [t.name for t in file_tools(tmp_path, read_only=True)] == [
        "read_file", "list_files", "glob", "grep"]
    names = [t.name for t in file_tools(tmp_path, allow_delete=True, allow_move=True)]
    assert names[-2:] == ["delete_file", "move_file"]


@pytest.mark.anyio
async def test_write_read_roundtrip_through_tools(tmp_path: Path) -> None:
    t = tools_by_name(file_tools(tmp_path))
    msg = await call(t["write_file"], path="deep/er/notes.txt", content="alpha\nbeta\ngamma\n")
    assert msg.startswith("created deep/er/notes.txt")
    assert (tmp_path / "deep/er/notes.txt").read_text() == "alpha\nbeta\ngamma\n"
    out = await call(t["read_file"], path="deep/er/notes.txt", start_line=2, end_line=3)
    assert out.splitlines() == ["deep/er/notes.txt (lines 2-3 of 3)", "     2\tbeta",
                                "     3\tgamma"]
    msg = await call(t["write_file"], path="deep/er/notes.txt", content="x")
    assert msg.startswith("overwrote")


def test_read_caps_and_continuation(ops: FileOps, tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("".join(f"line {i:05d}\n" for i in range(1, 5001)))
    out = ops.read("big.txt")
    assert out.startswith("big.txt (lines 1-")
    assert "of 5000)" in out
    assert "call read_file with start_line=" in out
    next_start = int(out.rsplit("start_line=", 1)[1].split()[0])
    out2 = ops.read("big.txt", start_line=next_start, end_line=next_start)
    assert f"line {next_start:05d}" in out2
    assert ops.read("big.txt", start_line=6000).endswith("start_line 6000 is past the end")


def test_read_binary_and_non_utf8(ops: FileOps, tmp_path: Path) -> None:
    (tmp_path / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100))
    out = ops.read("img.png")
    assert "binary file (PNG image" in out and "IHDR" not in out
    (tmp_path / "latin.txt").write_bytes("café crème\n".encode("latin-1"))
    out = ops.read("latin.txt")
    assert "not valid UTF-8" in out and "caf" in out
    (tmp_path / "empty.txt").write_bytes(b"")
    assert ops.read("empty.txt") == "empty.txt is empty (0 lines)"


def test_long_lines_are_cut(ops: FileOps, tmp_path: Path) -> None:
    (tmp_path / "wide.txt").write_text("x" * 5000 + "\n")
    ops.max_read_chars = 10_000
    assert "[line cut, 5000 characters]" in ops.read("wide.txt")


def test_write_is_atomic_capped_and_keeps_mode(ops: FileOps, tmp_path: Path) -> None:
    target = tmp_path / "script.sh"
    target.write_text("old")
    target.chmod(0o755)
    ops.write("script.sh", "#!/bin/sh\necho hi\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    with pytest.raises(ValueError, match="limit for one write is 1000 bytes"):
        ops.write("script.sh", "y" * 1001)
    assert target.read_text() == "#!/bin/sh\necho hi\n"  # nothing lost
    assert [p.name for p in tmp_path.iterdir()] == ["script.sh"]  # no temp files left
    with pytest.raises(IsADirectoryError):
        (tmp_path / "d").mkdir()
        ops.write("d", "x")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file, not a directory"):
        ops.write("plain/child.txt", "x")


def test_edit_unique_missing_and_ambiguous(ops: FileOps, tmp_path: Path) -> None:
    f = tmp_path / "code.py"
    f.write_text("def f():\n    return 1\n\ndef g():\n    return 1\n")
    with pytest.raises(ValueError, match=r"occurs 2 times .*lines 2, 5.*replace_all"):
        ops.edit("code.py", "return 1", "return 2")
    with pytest.raises(ValueError, match="not found"):
        ops.edit("code.py", "return 3", "return 4")
    with pytest.raises(ValueError, match="up to indentation/whitespace is at line 1"):
        ops.edit("code.py", "def f():\n\treturn 1", "x")
    assert f.read_text().count("return 1") == 2  # failed edits changed nothing
    out = ops.edit("code.py", "def g():\n    return 1", "def g():\n    return 2")
    assert out.startswith("edited code.py: replaced 1 occurrence (first at line 4)")
    assert "return 2" in out
    out = ops.edit("code.py", "return", "yield", replace_all=True)
    assert "replaced 2 occurrences" in out
    assert f.read_text() == "def f():\n    yield 1\n\ndef g():\n    yield 2\n"
    with pytest.raises(ValueError, match="identical"):
        ops.edit("code.py", "yield", "yield")
    with pytest.raises(ValueError, match="old_string is empty"):
        ops.edit("code.py", "", "x")


def test_edit_keeps_crlf(ops: FileOps, tmp_path: Path) -> None:
    f = tmp_path / "win.txt"
    f.write_bytes(b"one\r\ntwo\r\nthree\r\n")
    ops.edit("win.txt", "one\ntwo", "1\n2")
    assert f.read_bytes() == b"1\r\n2\r\nthree\r\n"


def test_list_glob_grep(ops: FileOps, tmp_path: Path) -> None:
    (tmp_path / "src/pkg").mkdir(parents=True)
    (tmp_path / "src/pkg/a.py").write_text("import os\nTODO = 1\n")
    (tmp_path / "src/b.py").write_text("# todo later\n")
    (tmp_path / "src/c.md").write_text("TODO docs\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git/config").write_text("TODO hidden\n")
    (tmp_path / "blob.bin").write_bytes(b"TODO\x00\x01")
    listing = ops.list(".")
    assert listing.splitlines()[1:] == [".git/", "src/", "blob.bin (6 bytes)"]
    rec = ops.list("src", recursive=True)
    assert "pkg/a.py (19 bytes)" in rec
    assert ops.glob("**/*.py").splitlines() == ["src/b.py", "src/pkg/a.py"]
    assert ops.glob("*.py") == "no paths match '*.py' under ./"
    assert ops.glob("src/*.{py,md}").splitlines() == ["src/b.py", "src/c.md"]
    hits = ops.grep("TODO").splitlines()
    assert hits == ["src/c.md:1: TODO docs", "src/pkg/a.py:2: TODO = 1"]  # no .git, no binary
    assert len(ops.grep("todo", ignore_case=True).splitlines()) == 3
    assert ops.grep("TODO", include="*.py") == "src/pkg/a.py:2: TODO = 1"
    with pytest.raises(ValueError, match="invalid regular expression"):
        ops.grep("(unclosed")
    (tmp_path / "many.txt").write_text("hit\n" * 50)
    out = ops.grep("hit", path="many.txt")
    assert out.count("many.txt:") == 5 and "results cut at 5" in out


def test_read_only_refuses_writes(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("keep")
    ops = FileOps(tmp_path, read_only=True)
    for action in (lambda: ops.write("a.txt", "x"), lambda: ops.edit("a.txt", "keep", "x"),
                   lambda: ops.delete("a.txt"), lambda: ops.move("a.txt", "b.txt")):
        with pytest.raises(ReadOnlyError, match="read-only"):
            action()
    assert (tmp_path / "a.txt").read_text() == "keep"
    assert not (tmp_path / "b.txt").exists()


def test_delete_and_move(tmp_path: Path) -> None:
    ops = FileOps(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d/x.txt").write_text("x")
    with pytest.raises(OSError, match="not empty"):
        ops.delete("d")
    assert ops.move("d/x.txt", "e/y.txt") == "moved d/x.txt -> e/y.txt"
    (tmp_path / "z.txt").write_text("z")
    with pytest.raises(FileExistsError, match="overwrite=true"):
        ops.move("z.txt", "e/y.txt")
    assert (tmp_path / "e/y.txt").read_text() == "x"
    assert ops.delete("d") == "deleted empty directory d"
    assert ops.delete("e/y.txt") == "deleted e/y.txt"
    with pytest.raises(ValueError, match="inside itself"):
        ops.move("e", "e/sub/e")
    # a symlink inside the root is removed itself, never its target
    (tmp_path / "link").symlink_to("z.txt")
    assert ops.delete("link") == "deleted link"
    assert (tmp_path / "z.txt").read_text() == "z"


def test_symlink_inside_root_is_followed(tmp_path: Path) -> None:
    ops = FileOps(tmp_path)
    (tmp_path / "real.txt").write_text("hello\n")
    (tmp_path / "alias.txt").symlink_to("real.txt")
    assert "hello" in ops.read("alias.txt")
    ops.write("alias.txt", "bye\n")
    assert (tmp_path / "real.txt").read_text() == "bye\n"
    assert (tmp_path / "alias.txt").is_symlink()


def test_root_given_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "via").symlink_to("real")
    ops = FileOps(tmp_path / "via")
    ops.write(str(tmp_path / "via" / "f.txt"), "ok")
    assert (tmp_path / "real/f.txt").read_text() == "ok"
    assert os.path.samefile(ops.root, tmp_path / "real")
