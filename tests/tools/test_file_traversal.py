"""Traversal suite: every escape attempt is refused and nothing outside the root is touched."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from agentkit.tools import FileOps, PathRefused, file_tools

SECRET = "TOP SECRET do not leak"


def snapshot(base: Path) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) \
                else stat.filemode(st.st_mode)
            out[str(p.relative_to(base))] = (digest, st.st_mtime_ns)
    return out


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FileOps, Path, Path]]:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    sibling = tmp_path / "root_evil"  # shares the root's name as a prefix
    for d in (root / "sub", outside, sibling):
        d.mkdir(parents=True)
    (outside / "secret.txt").write_text(SECRET + "\n")
    (sibling / "secret.txt").write_text(SECRET + "\n")
    (root / "inside.txt").write_text("fine\n")
    (root / "link_out_dir").symlink_to("../outside")
    (root / "link_out_file").symlink_to("../outside/secret.txt")
    (root / "link_abs_file").symlink_to(outside / "secret.txt")
    (root / "link_etc").symlink_to("/etc")
    (root / "dangling_out").symlink_to("../outside/created.txt")
    (root / "link_chain").symlink_to("link_out_dir")
    (root / "link_parent").symlink_to("..")
    (root / "sub/link_up").symlink_to("../..")
    os.mkfifo(root / "fifo")
    os.mknod(root / "devnull", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(root / "sock"))
    before = {"outside": snapshot(outside), "sibling": snapshot(sibling),
              "etc_passwd": hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()}
    yield FileOps(root), root, tmp_path
    sock.close()
    assert snapshot(outside) == before["outside"], "something outside the root changed"
    assert snapshot(sibling) == before["sibling"], "something outside the root changed"
    assert not (outside / "created.txt").exists()
    assert hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest() == before["etc_passwd"]


def escape_paths(tmp: Path) -> list[str]:
    root = tmp / "root"
    return [
        "../outside/secret.txt",
        "../../etc/passwd",
        "/etc/passwd",
        str(tmp / "outside" / "secret.txt"),
        "sub/../../outside/secret.txt",
        "./../outside/secret.txt",
        "sub/./../../outside/secret.txt",
        "~/../../etc/passwd",
        str(root) + "/../outside/secret.txt",
        str(tmp / "root_evil" / "secret.txt"),
        "//etc/passwd",
        "/",
        "link_out_dir/secret.txt",
        "link_out_file",
        "link_abs_file",
        "link_etc/passwd",
        "dangling_out",
        "link_chain/secret.txt",
        "link_parent/outside/secret.txt",
        "sub/link_up/outside/secret.txt",
        "inside.txt\x00.png",
        "\x00",
        "fifo",
        "devnull",
        "sock",
        "link_out_dir",
        "..",
    ]


def attempts(ops: FileOps, p: str) -> dict[str, Callable[[], object]]:
    return {
        "read": lambda: ops.read(p),
        "write": lambda: ops.write(p, "pwned"),
        "edit": lambda: ops.edit(p, "TOP", "pwned"),
        "list": lambda: ops.list(p),
        "grep": lambda: ops.grep("TOP", path=p),
        "glob": lambda: ops.glob("*", path=p),
        "delete": lambda: ops.delete(p),
        "move_from": lambda: ops.move(p, "moved.txt"),
        "move_to": lambda: ops.move("inside.txt", p, overwrite=True),
    }


def test_at_least_25_escape_paths(tmp_path: Path) -> None:
    assert len(escape_paths(tmp_path)) >= 25


@pytest.mark.parametrize("index", range(27))
def test_escape_attempt_refused(world: tuple[FileOps, Path, Path], index: int) -> None:
    ops, root, tmp = world
    path = escape_paths(tmp)[index]
    # "/" and "link_out_dir" as *directories* are only meaningful for list/glob/grep
    for op, action in attempts(ops, path).items():
        with pytest.raises(PathRefused) as info:
            action()
        msg = str(info.value)
        assert SECRET not in msg
        assert any(word in msg for word in ("outside", "NUL", "'..'", "special file", "FIFO",
                                            "device", "socket")), (op, msg)
    assert (root / "inside.txt").read_text() == "fine\n"
    assert not (root / "moved.txt").exists()


@pytest.mark.parametrize("pattern", ["../*", "/etc/*", "**/../../outside/*", "sub/../../*",
                                     "\x00*"])
def test_glob_patterns_cannot_escape(world: tuple[FileOps, Path, Path], pattern: str) -> None:
    ops, _, _ = world
    with pytest.raises(PathRefused):
        ops.glob(pattern)
    with pytest.raises(PathRefused):
        ops.grep("TOP", include=pattern)


def test_walks_do_not_follow_links_out(world: tuple[FileOps, Path, Path]) -> None:
    ops, _, _ = world
    assert ops.glob("**/secret.txt") == "no paths match '**/secret.txt' under ./"
    assert ops.glob("**/passwd") == "no paths match '**/passwd' under ./"
    assert ops.grep("TOP SECRET") == "no matches for 'TOP SECRET'"
    assert ops.grep("root:") == "no matches for 'root:'"
    listing = ops.list(".", recursive=True)
    assert SECRET not in listing
    assert "link_out_file -> (symbolic link to outside the root; not accessible)" in listing
    assert "devnull (special file; not accessible)" in ops.list(".")


@pytest.mark.anyio
async def test_refusals_reach_the_model_as_clear_errors(world: tuple[FileOps, Path, Path]) -> None:
    _, root, _ = world
    read = next(t for t in file_tools(root) if t.name == "read_file")
    with pytest.raises(PathRefused, match="outside the root directory"):
        await read.call(None, read.validate({"path": "/etc/passwd"}))


PIECES = ["..", ".", "", "a", "sub", "link_out_dir", "link_parent", "link_etc", "inside.txt",
          "secret.txt", "outside", "~", "\x00", "%2e%2e", "…", " ", "etc", "passwd"]


def test_random_paths_never_resolve_outside(world: tuple[FileOps, Path, Path]) -> None:
    """Property: whatever path is built from risky pieces, it resolves inside or is refused."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    ops, root, _ = world
    real_root = os.path.realpath(root)

    @settings(max_examples=300, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=6), st.booleans())
    def check(parts: list[str], absolute: bool) -> None:
        path = "/".join(parts)
        if absolute:
            path = str(root) + "/" + path
        try:
            resolved = ops.safe.resolve(path)
        except PathRefused:
            return
        assert os.path.realpath(resolved) == str(resolved)
        assert str(resolved) == real_root or str(resolved).startswith(real_root + os.sep)
        try:
            out = ops.read(path)
        except (PathRefused, OSError, ValueError):
            return
        assert SECRET not in out

    check()
