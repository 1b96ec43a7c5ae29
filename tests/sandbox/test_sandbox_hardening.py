"""Security review fixes, against the real daemon: forged worker replies, processes that
outlive a call, special files in the workspace, the file-size limit, concurrent starts."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from agentkit.sandbox import DockerSandbox, SandboxError
from agentkit.sandbox.container import docker_client

pytestmark = [pytest.mark.docker, pytest.mark.anyio]

SandboxFactory = Callable[..., DockerSandbox]

# user code runs in the worker: it can write to every descriptor the worker holds, the reply
# pipe included (stdout/stderr are left alone here)
FORGE = """
import json, os, sys
def forge(data):
    for fd in map(int, os.listdir('/proc/self/fd')):
        if fd > 2:
            try:
                os.write(fd, data)
            except OSError:
                pass
def current_nonce():  # the worst case: the call's own nonce, dug out of the worker's frames
    f = sys._getframe()
    while f is not None:
        if isinstance(f.f_locals.get('nonce'), str):
            return f.f_locals['nonce']
        f = f.f_back
"""


def shared_workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    os.chown(ws, 1000, 1000)
    return ws


async def test_forged_replies_are_ignored_or_capped(make_sandbox: SandboxFactory) -> None:
    sb = make_sandbox(max_output=1000)
    assert (await sb.run_python(FORGE + "marker = 'alive'")).ok
    # a forgery without this call's nonce (and a partial line) is dropped
    r = await sb.run_python(
        "forge(json.dumps({'value': 'x' * 20_000_000, 'exit_code': 'boom'}).encode() + b'\\n')\n"
        "forge(b'{\"value\": \"partial line, no newline')\n'real'"
    )
    assert (r.value, r.error, r.exit_code, r.truncated) == ("'real'", None, 0, False), r
    # even with the right nonce: capped and type-checked, never a bare ValueError
    r = await sb.run_python(  # an oversized line is dropped whole: the real reply counts
        "n = current_nonce()\n"
        "forge(json.dumps({'nonce': n, 'value': 'y' * 20_000_000}).encode() + b'\\n')\n'late'"
    )
    assert (r.value, r.error) == ("'late'", None), r
    r = await sb.run_python(
        "n = current_nonce()\n"
        "forge(json.dumps({'nonce': n, 'value': 'y' * 1_000_000}).encode() + b'\\n')\n'late'"
    )
    assert r.value is not None and r.value.startswith("yyy") and len(r.value) < 1200, len(
        r.value or ""
    )
    assert r.truncated and len(r.stdout) + len(r.stderr) < 1500
    r = await sb.run_python(
        "forge(json.dumps({'nonce': current_nonce(), 'exit_code': 'boom'}).encode() + b'\\n')"
    )
    assert r.error is not None and r.error.type == "SandboxError", r
    assert "malformed" in r.error.message and isinstance(r.exit_code, int)
    # pairing never slips: each call gets its own result, and the state is intact
    for i in range(3):
        r = await sb.run_python(f"{i} * 10")
        assert (r.value, r.error, r.state_lost) == (str(i * 10), None, False), r
    assert (await sb.run_python("marker")).value == "'alive'"


async def test_reply_pipe_spam_does_not_desynchronise(make_sandbox: SandboxFactory) -> None:
    sb = make_sandbox()
    r = await sb.run_python(
        FORGE + "import threading, time\n"
        "def spam():\n"
        "    while True:\n"
        "        forge(b'x' * 5000)\n"
        "        forge(b'\\n{\"id\": 1, \"ok\": true, \"value\": \"spam\"}\\n')\n"
        "        time.sleep(0.001)\n"
        "threading.Thread(target=spam, daemon=True).start()\ntime.sleep(0.05)"
    )
    assert r.ok, r
    for i in range(5):  # the thread keeps writing to the pipe during these calls
        r = await sb.run_python(f"import time; time.sleep(0.02); {i} + 100")
        assert (r.value, r.error) == (str(i + 100), None), r
    assert (await sb.run_shell("echo fine")).stdout == "fine\n"


async def test_nothing_runs_between_calls(make_sandbox: SandboxFactory, tmp_path: Path) -> None:
    ws = shared_workspace(tmp_path)
    sb = make_sandbox(workspace=ws)
    r = await sb.run_shell(
        "setsid sh -c 'while true; do date +%s%N > /workspace/tick; sleep 0.05; done' "
        ">/dev/null 2>&1 & sleep 0.2"
    )
    assert r.ok, r
    r = await sb.run_python(  # a double-forked daemon and a thread of the interpreter
        "import os, subprocess, threading, time\n"
        "subprocess.Popen(['sh', '-c', 'while true; do date +%s%N > /workspace/tock; "
        "sleep 0.05; done'], start_new_session=True)\n"
        "def loop():\n"
        "    while True:\n"
        "        open('/workspace/thread', 'w').write(str(time.time_ns()))\n"
        "        time.sleep(0.02)\n"
        "threading.Thread(target=loop, daemon=True).start()\ntime.sleep(0.2)"
    )
    # no thread outlives its call: the interpreter was restarted, and the call says so
    assert r.ok and r.state_lost and "threads were still running" in r.stderr, r

    def snapshot() -> dict[str, tuple[int, str]]:
        return {n: ((ws / n).stat().st_mtime_ns, (ws / n).read_text())
                for n in ("tick", "tock", "thread")}

    first = snapshot()
    await anyio.sleep(0.4)  # between calls: what file tools see must not change
    assert snapshot() == first
    assert (await sb.download("tick")).decode() == first["tick"][1]
    # the next call: the loops are gone (the review's check), only PID 1 and the worker live
    r = await sb.run_shell(
        "a=$(cat tick tock); sleep 0.3; b=$(cat tick tock); [ \"$a\" = \"$b\" ] && echo same; "
        "ps -e --no-headers -o stat=,comm= | grep -v -E '^Z| (ps|bash|grep|wc)$' | wc -l"
    )
    assert r.stdout == "same\n2\n", r
    r = await sb.run_python("import threading, time; time.sleep(0.1); threading.active_count()")
    assert r.value == "1" and not r.state_lost, r
    assert snapshot() == first  # nothing of the earlier calls ran during this one


async def test_special_files_do_not_hang_the_executor(sandbox: DockerSandbox) -> None:
    assert (await sandbox.run_python("marker = 'alive'")).ok
    r = await sandbox.run_shell("mkfifo pipe && mkdir -p adir && echo made")
    assert r.stdout == "made\n", r
    started = time.monotonic()
    with pytest.raises(SandboxError, match="not a regular file"):
        await sandbox.download("pipe")
    with pytest.raises(SandboxError, match="not a regular file"):
        await sandbox.upload("pipe", b"data")
    with pytest.raises(IsADirectoryError):
        await sandbox.download("adir")
    with pytest.raises(IsADirectoryError):
        await sandbox.upload("adir", b"data")
    assert time.monotonic() - started < 5
    r = await sandbox.run_python("marker")
    assert r.value == "'alive'" and not r.state_lost, r
    await sandbox.upload("regular.txt", b"fine")
    assert await sandbox.download("regular.txt") == b"fine"


async def test_file_op_timeout_is_a_sandbox_error(make_sandbox: SandboxFactory) -> None:
    sb = make_sandbox(host_guard=0.5, file_timeout=1.0)
    assert (await sb.run_python("marker = 'alive'")).ok
    await sb.upload("a.txt", b"x")
    old = sb.container_id
    docker_client().api.pause(old)  # the executor cannot answer any more
    started = time.monotonic()
    with pytest.raises(SandboxError, match="did not answer"):
        await sb.download("a.txt")
    assert time.monotonic() - started < 8
    r = await sb.run_python("print('fresh')")
    assert r.state_lost and r.stdout == "fresh\n" and sb.container_id != old, r


async def test_file_size_limit(make_sandbox: SandboxFactory, tmp_path: Path) -> None:
    ws = shared_workspace(tmp_path)
    sb = make_sandbox(workspace=ws, max_file_size="1m")
    assert (await sb.run_python("marker = 'alive'")).ok
    r = await sb.run_python("open('big.bin', 'wb').write(b'0' * (2 << 20))")
    assert r.error is not None and "File too large" in r.error.message, r
    assert (ws / "big.bin").stat().st_size <= 1 << 20
    r = await sb.run_shell("head -c 3M /dev/zero > big2.bin; echo status=$?; ulimit -f")
    assert r.stdout == "status=153\n1024\n" and "File size limit" in r.stderr, r
    assert (ws / "big2.bin").stat().st_size == 1 << 20
    with pytest.raises(SandboxError, match="File too large"):
        await sb.upload("big3.bin", b"0" * (2 << 20))
    r = await sb.run_python("marker")  # the next call works, state kept
    assert r.value == "'alive'" and not r.state_lost, r
    with pytest.raises(ValueError, match="bad size"):
        make_sandbox(max_file_size="lots")


async def test_concurrent_starts_make_one_container(
    make_sandbox: SandboxFactory, suite_containers: Callable[[], list[dict[str, Any]]]
) -> None:
    tag = {"agentkit.test.start": str(os.getpid())}
    sb = make_sandbox(labels=tag)

    def mine() -> list[dict[str, Any]]:
        return [c for c in suite_containers() if c["Labels"].get("agentkit.test.start")]

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(sb.start)
        tg.start_soon(sb.run_python, "1")
    assert len(mine()) == 1
    await sb.close()
    assert mine() == []  # close() returns once the container is gone
