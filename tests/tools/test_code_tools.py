"""code_interpreter and shell on the real Docker sandbox (Docker must be running)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from agentkit.sandbox import DockerSandbox, ExecError, ExecResult
from agentkit.tools import code_tools, file_tools, summarize_exec

from agentkit.context import RunContext
from agentkit.tooldef import Tool
from agentkit.usage import Usage

pytestmark = pytest.mark.docker


def new_ctx() -> RunContext[Any]:
    return RunContext(deps=None, run_id="test", messages=[], usage=Usage())


async def run(tool: Tool, ctx: RunContext[Any] | None, **args: Any) -> str:
    out = await tool.call(ctx, tool.validate(args))
    assert isinstance(out, str)
    return out


def container_state(cid: str) -> str | None:
    """The container's state, or None when it no longer exists."""
    import docker
    from docker.errors import NotFound

    client = docker.from_env()
    try:
        return str(client.api.inspect_container(cid)["State"]["Status"])
    except NotFound:
        return None
    finally:
        client.close()


async def assert_removed(cid: str) -> None:
    """Closed: Docker may still be finishing an auto-removal, then the container is gone."""
    assert container_state(cid) in (None, "removing", "exited", "dead")
    for _ in range(100):
        if container_state(cid) is None:
            return
        await anyio.sleep(0.2)
    raise AssertionError(f"container {cid} still exists")


# ------------------------------------------------------------------ summaries (no Docker)

def test_summary_clips_and_lists_files() -> None:
    r = ExecResult(stdout="A" * 30_000 + "THE-END", files=["out.csv", "figures/fig-1.png"],
                   value="42")
    text = summarize_exec(r, max_chars=1_000)
    assert text.startswith("stdout:\nAAAA")
    assert "characters omitted" in text and "THE-END" in text
    assert len(text) < 1_600
    assert "result: 42" in text
    assert "files created or changed (in /workspace): out.csv" in text
    assert "images saved (in /workspace): figures/fig-1.png" in text


def test_summary_of_errors_timeouts_and_silence() -> None:
    err = ExecError("ZeroDivisionError", "division by zero",
                    "Traceback (most recent call last):\nZeroDivisionError: division by zero")
    assert "error:\nTraceback" in summarize_exec(ExecResult(error=err, exit_code=1))
    t = summarize_exec(ExecResult(timed_out=True, exit_code=-2,
                                  error=ExecError("TimeoutError", "exceeded")), timeout=5)
    assert "[timed out: the code ran longer than the time limit (5 s)" in t
    assert summarize_exec(ExecResult(exit_code=3, stderr="boom"), kind="shell") == \
        "stderr:\nboom\nexit code: 3"
    assert summarize_exec(ExecResult()).startswith("(ran without output")
    assert "sandbox was restarted" in summarize_exec(ExecResult(state_lost=True, value="1"))
    assert "truncated" not in summarize_exec(ExecResult(stdout="x"))
    assert "was cut" in summarize_exec(ExecResult(stdout="x", truncated=True))


def test_schema_and_names() -> None:
    tools = code_tools()
    assert [t.name for t in tools] == ["code_interpreter", "shell"]
    assert tools[0].takes_context and tools[1].takes_context
    assert set(tools[0].parameters["properties"]) == {"code", "timeout"}
    assert tools[0].parameters["required"] == ["code"]


# ------------------------------------------------------------------ real sandbox

@pytest.mark.anyio
async def test_per_run_sandbox_is_lazy_stateful_and_closed_with_the_run() -> None:
    py, sh = code_tools(timeout=20)
    ctx = new_ctx()
    assert not any(k.startswith("agentkit.tools.sandbox") and not k.endswith(".lock")
                   for k in ctx.state)  # nothing started before the first call
    async with ctx.exit_stack:
        assert await run(py, ctx, code="x = 41\n_ = open('note.txt', 'w').write('hi')") == \
            "files created or changed (in /workspace): note.txt"
        assert await run(py, ctx, code="x + 1") == "result: 42"
        out = await run(sh, ctx, command="cat note.txt; echo; echo oops >&2; exit 4")
        assert out == "stdout:\nhi\nstderr:\noops\nexit code: 4"
        (sb,) = [v for k, v in ctx.state.items() if isinstance(v, DockerSandbox)]
        cid = sb.container_id
        assert cid and container_state(cid) == "running"
    assert not sb.running
    await assert_removed(cid)


@pytest.mark.anyio
async def test_errors_timeouts_images_and_truncation() -> None:
    py, sh = code_tools(timeout=20, max_output_chars=2_000)
    ctx = new_ctx()
    async with ctx.exit_stack:
        out = await run(py, ctx, code="def f():\n    return 1/0\nf()")
        assert out.startswith("error:\nTraceback") and "ZeroDivisionError" in out
        out = await run(py, ctx, code="import time\ntime.sleep(10)", timeout=1)
        assert "[timed out" in out and "(1 s)" in out
        out = await run(py, ctx, code="print('y' * 50_000)")
        assert "characters omitted" in out and len(out) < 3_000
        out = await run(py, ctx, code=(
            "import struct, zlib\n"
            "def png(w, h):\n"
            "    raw = b''.join(b'\\x00' + b'\\xff\\x00\\x00' * w for _ in range(h))\n"
            "    def chunk(t, d):\n"
            "        c = struct.pack('>I', len(d)) + t + d\n"
            "        return c + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)\n"
            "    return (b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h,"
            " 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))\n"
            "open('chart.png', 'wb').write(png(4, 4))\n"
            "open('data.csv', 'w').write('a,b\\n1,2\\n')"))
        assert "images saved (in /workspace): chart.png" in out
        assert "files created or changed (in /workspace): data.csv" in out
        assert "data.csv" in await run(sh, ctx, command="ls")


@pytest.mark.anyio
async def test_shared_sandbox_survives_runs() -> None:
    async with DockerSandbox(timeout=20) as shared:
        py, _ = code_tools(sandbox=shared)
        first, second = new_ctx(), new_ctx()
        async with first.exit_stack:
            await run(py, first, code="shared_value = 'kept'")
        async with second.exit_stack:
            assert await run(py, second, code="shared_value") == "result: 'kept'"
        assert shared.running  # the runs did not close it
        assert await run(py, None, code="1 + 1") == "result: 2"  # usable without a run
    assert not shared.running


@pytest.mark.anyio
async def test_cancelled_run_releases_its_sandbox() -> None:
    made: list[DockerSandbox] = []

    def factory() -> DockerSandbox:
        sb = DockerSandbox(timeout=60)
        made.append(sb)
        return sb

    py, _ = code_tools(sandbox=factory)
    ctx = new_ctx()
    cids: list[str] = []
    with anyio.move_on_after(6) as scope:
        async with ctx.exit_stack:
            await run(py, ctx, code="started = True")
            cids.append(str(made[0].container_id))
            await run(py, ctx, code="import time\ntime.sleep(50)")
    assert scope.cancelled_caught
    assert len(made) == 1 and container_state(cids[0]) != "running"
    assert not made[0].running and made[0].container_id is None
    await assert_removed(cids[0])


@pytest.mark.anyio
async def test_no_context_and_bad_arguments() -> None:
    py, _ = code_tools()
    with pytest.raises(RuntimeError, match="need a run context"):
        await run(py, None, code="1")
    with pytest.raises(TypeError):
        code_tools(sandbox=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="invalid DockerSandbox option"):
        code_tools(memroy="1g")
    with pytest.raises(ValueError, match=r"DockerSandbox\(workspace=host_dir\)"):
        file_tools(DockerSandbox())


@pytest.mark.anyio
async def test_file_tools_share_the_sandbox_workspace(tmp_path: Path) -> None:
    work = tmp_path / "ws"
    work.mkdir()
    os.chmod(work, 0o777)
    files = {t.name: t for t in file_tools(work)}
    await files["write_file"].call(None, {"path": "in/data.txt", "content": "3\n4\n"})
    os.chmod(work / "in", 0o777)
    async with DockerSandbox(workspace=work, timeout=20) as sb:
        assert [t.name for t in file_tools(sb)] == list(files)  # the sandbox as the root
        py, sh = code_tools(sandbox=sb)
        out = await run(py, None, code=(
            "nums = [int(x) for x in open('in/data.txt').read().split()]\n"
            "open('in/sum.txt', 'w').write(str(sum(nums)))\nsum(nums)"))
        assert "result: 7" in out
        assert "stdout:\n/workspace" in await run(sh, None, command="pwd")
    got = await files["read_file"].call(None, {"path": "in/sum.txt", "start_line": 1,
                                               "end_line": None})
    assert got == "in/sum.txt (lines 1-1 of 1)\n     1\t7"


def test_summary_counts_every_part_against_the_cap() -> None:
    """Files lists, values, errors and notices count too (120 long paths once gave the model
    about 200,000 characters with an 8,000 cap)."""
    long = ["/".join(["d" * 200] * 20) + f"/f{i}.txt" for i in range(120)]
    r = ExecResult(stdout="o" * 50_000, stderr="e" * 50_000, value="v" * 50_000,
                   error=ExecError("X", "m", "t" * 50_000), files=long + ["a.png"] * 50,
                   truncated=True, timed_out=True, state_lost=True, oom_killed=True)
    for cap in (8_000, 2_000, 500):
        text = summarize_exec(r, max_chars=cap)
        assert len(text) <= cap, (cap, len(text))
    text = summarize_exec(ExecResult(files=long), max_chars=8_000)
    assert len(text) <= 8_000 and "more)" in text and "f0.txt" in text
    text = summarize_exec(ExecResult(files=["a.csv", "b.png"]), max_chars=8_000)
    assert text == ("files created or changed (in /workspace): a.csv\n"
                    "images saved (in /workspace): b.png")


@pytest.mark.anyio
async def test_code_tool_result_is_capped_with_many_created_files() -> None:
    """The real tool on the real sandbox: a call that creates 120 files with long paths."""
    tools = {t.name: t for t in code_tools(max_output_chars=3_000)}
    ctx = new_ctx()
    async with ctx.exit_stack:
        out = await run(tools["code_interpreter"], ctx, code=(
            "import os\nd = '/workspace/' + '/'.join(['d' * 200] * 15)\nos.makedirs(d)\n"
            "for i in range(120):\n    open(f'{d}/f{i}.txt', 'w').close()\nprint('made')"))
        assert out.startswith("stdout:\nmade") and len(out) <= 3_000, len(out)
        assert "more)" in out
