"""Functional tests of DockerSandbox against the real Docker daemon."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from agentkit.sandbox import DockerSandbox, SandboxError, SyncDockerSandbox
from agentkit.sandbox.container import docker_client

SandboxFactory = Callable[..., DockerSandbox]
Containers = Callable[[], list[dict[str, Any]]]
pytestmark = [pytest.mark.docker, pytest.mark.anyio]


async def test_python_state_value_and_output(sandbox: DockerSandbox) -> None:
    r = await sandbox.run_python("import math\nx = 20\nprint('hi'); import sys\n"
                                 "print('err', file=sys.stderr)\nx + 1")
    assert (r.stdout, r.stderr, r.value, r.error, r.exit_code) == ("hi\n", "err\n", "21", None, 0)
    assert r.ok and not r.timed_out and not r.state_lost and r.duration > 0
    r = await sandbox.run_python("def f(n):\n    return math.factorial(n) + x\nf(5)")
    assert r.value == "140"
    r = await sandbox.run_python("y = f(3)")
    assert r.value is None and r.stdout == ""
    assert (await sandbox.run_python("y")).value == "26"


async def test_python_error_has_type_message_traceback(sandbox: DockerSandbox) -> None:
    r = await sandbox.run_python("def g():\n    raise KeyError('nope')\ng()")
    assert r.error is not None and r.exit_code == 1 and not r.ok
    assert r.error.type == "KeyError" and "nope" in r.error.message
    assert "line 2, in g" in r.error.traceback and "raise KeyError" in r.error.traceback
    assert "executor" not in r.error.traceback  # our own frames are hidden
    r = await sandbox.run_python("def broken(:\n")
    assert r.error is not None and r.error.type == "SyntaxError"
    assert (await sandbox.run_python("1 + 1")).value == "2"


async def test_background_popen_status_survives_between_calls(sandbox: DockerSandbox) -> None:
    # the child exits within the call (running ones are killed when a call ends); its status
    # stays with the Popen object: the worker's zombie reaping must not take it
    r = await sandbox.run_python("import subprocess, time\n"
                                 "p = subprocess.Popen(['sh', '-c', 'exit 3'])\ntime.sleep(0.2)")
    assert r.ok
    assert (await sandbox.run_python("import time; time.sleep(0.1)")).ok
    assert (await sandbox.run_python("p.wait()")).value == "3"


async def test_top_level_await(sandbox: DockerSandbox) -> None:
    r = await sandbox.run_python("import asyncio\nawait asyncio.sleep(0.01)\n'done'")
    assert r.value == "'done'", r


async def test_shell_is_stateless_and_reports_exit_code(sandbox: DockerSandbox) -> None:
    r = await sandbox.run_shell("cd /tmp && export FOO=bar && pwd && echo oops >&2; exit 7")
    assert (r.stdout, r.stderr, r.exit_code, r.error) == ("/tmp\n", "oops\n", 7, None)
    r = await sandbox.run_shell('pwd; echo "FOO=${FOO:-unset}"; id -u')
    assert r.stdout == "/workspace\nFOO=unset\n1000\n"


async def test_shell_background_process_does_not_hang_the_call(sandbox: DockerSandbox) -> None:
    started = time.monotonic()
    r = await sandbox.run_shell("sleep 60 & echo started", timeout=10)
    assert r.stdout == "started\n" and not r.timed_out
    assert time.monotonic() - started < 5
    r = await sandbox.run_shell("ps -eo comm | grep -c '^sleep$' || true")
    assert r.stdout.strip() == "0"  # the call's process group was cleaned up


async def test_files_reported_and_figures_saved(sandbox: DockerSandbox) -> None:
    r = await sandbox.run_python("open('a.txt', 'w').write('x')\n"
                                 "import os; os.makedirs('d', exist_ok=True)\n"
                                 "open('d/b.bin', 'wb').write(b'1')")
    assert r.files == ["a.txt", "d/b.bin"]
    r = await sandbox.run_python("open('a.txt', 'a').write('y')")
    assert r.files == ["a.txt"]
    assert (await sandbox.run_shell("cat a.txt")).files == []
    r = await sandbox.run_python(
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.figure()\nplt.bar([1], [2])\n"
        "plt.show()"
    )
    assert r.error is None and r.stderr == "", r
    pngs = [f for f in r.files if f.endswith(".png")]
    assert len(pngs) == 2 and all(f.startswith("figures/") for f in pngs)
    data = await sandbox.download(pngs[0])
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    r = await sandbox.run_python("plt.get_fignums()")
    assert r.value == "[]" and r.files == []


async def test_upload_download_roundtrip_and_path_checks(sandbox: DockerSandbox) -> None:
    blob = os.urandom(8 << 20)
    started = time.monotonic()
    await sandbox.upload("in/data.bin", blob)
    assert await sandbox.download("in/data.bin") == blob
    assert time.monotonic() - started < 10
    r = await sandbox.run_python("len(open('in/data.bin', 'rb').read())")
    assert r.value == str(len(blob))
    await sandbox.upload("note.txt", "héllo")
    assert (await sandbox.run_shell("cat note.txt")).stdout == "héllo"
    with pytest.raises(PermissionError):
        await sandbox.upload("../etc/evil", b"x")
    with pytest.raises(PermissionError):
        await sandbox.download("../../etc/passwd")
    await sandbox.run_shell("ln -s /etc/passwd link; mkdir -p sub; ln -s /etc sub/etc")
    with pytest.raises((SandboxError, PermissionError, OSError)):
        await sandbox.download("link")
    with pytest.raises(PermissionError):
        await sandbox.download("sub/etc/passwd")
    with pytest.raises(FileNotFoundError):
        await sandbox.download("missing.txt")


async def test_host_workspace_mount(make_sandbox: SandboxFactory, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "given.txt").write_text("from host")
    os.chown(ws, 1000, 1000)
    sb = make_sandbox(workspace=ws)
    await sb.start()
    r = await sb.run_python("print(open('given.txt').read()); open('out.txt', 'w').write('ok')")
    assert r.stdout == "from host\n" and r.files == ["out.txt"]
    assert (ws / "out.txt").read_text() == "ok"
    await sb.close()
    assert (ws / "out.txt").exists()  # host files outlive the sandbox


async def test_unwritable_workspace_is_a_clear_error(
    make_sandbox: SandboxFactory, tmp_path: Path
) -> None:
    ws = tmp_path / "ro"
    ws.mkdir(mode=0o755)  # owned by root: the sandbox user cannot write
    sb = make_sandbox(workspace=ws)
    with pytest.raises(SandboxError, match="not writable"):
        await sb.start()
    with pytest.raises(SandboxError, match="not a directory"):
        await make_sandbox(workspace=tmp_path / "nope").start()


async def test_container_is_locked_down(
    sandbox: DockerSandbox, suite_labels: dict[str, str]
) -> None:
    info = docker_client().api.inspect_container(sandbox.container_id)
    hc, cfg = info["HostConfig"], info["Config"]
    assert hc["NetworkMode"] == "none"
    assert hc["CapDrop"] == ["ALL"] and not hc["CapAdd"]
    assert "no-new-privileges" in hc["SecurityOpt"]
    assert hc["ReadonlyRootfs"] is True and hc["Privileged"] is False
    assert hc["Memory"] == 256 * 2**20 and hc["MemorySwap"] == 256 * 2**20
    assert hc["PidsLimit"] == 64 and hc["NanoCpus"] == 10**9
    assert set(hc["Tmpfs"]) == {"/tmp", "/workspace"} and hc["AutoRemove"] is True
    limits = {u["Name"]: u["Hard"] for u in hc["Ulimits"]}
    assert limits["fsize"] == 2**30 and limits["core"] == 0  # max_file_size="1g" by default
    assert cfg["User"] == "1000:1000" and suite_labels.items() <= cfg["Labels"].items()
    assert cfg["Labels"]["agentkit.owner_pid"] == str(os.getpid())
    assert info["NetworkSettings"]["Ports"] in ({}, None)
    r = await sandbox.run_shell("grep -E '^(CapEff|NoNewPrivs)' /proc/self/status")
    assert r.stdout.split() == ["CapEff:", "0000000000000000", "NoNewPrivs:", "1"]


async def test_timeout_keeps_state_when_interrupt_works(sandbox: DockerSandbox) -> None:
    await sandbox.run_python("kept = 'yes'")
    r = await sandbox.run_python("import time\nprint('before')\nwhile True: time.sleep(0.01)",
                                 timeout=1)
    assert r.timed_out and not r.state_lost and r.error is not None
    assert r.error.type == "TimeoutError" and "time.sleep" in r.error.traceback
    assert r.stdout == "before\n"  # partial output survives the timeout
    assert 1 <= r.duration < 4
    assert (await sandbox.run_python("kept")).value == "'yes'"
    r = await sandbox.run_shell("echo go; sleep 30", timeout=1)
    assert r.timed_out and r.stdout == "go\n" and r.exit_code == -9 and r.duration < 4


async def test_cancelled_call_leaves_sandbox_usable(sandbox: DockerSandbox) -> None:
    await sandbox.run_python("kept = 1")
    with anyio.move_on_after(0.5) as scope:
        await sandbox.run_python("import time; time.sleep(20)", timeout=30)
    assert scope.cancelled_caught
    started = time.monotonic()
    r = await sandbox.run_python("kept + 1")
    assert r.value == "2" and time.monotonic() - started < 5


async def test_close_is_idempotent_and_removes_container(
    make_sandbox: SandboxFactory, suite_containers: Containers
) -> None:
    sb = make_sandbox()
    async with sb:
        cid = sb.container_id
        assert cid and any(c["Id"] == cid for c in suite_containers())
    await sb.close()
    assert not any(c["Id"] == cid for c in suite_containers())
    with pytest.raises(SandboxError, match="closed"):
        await sb.run_python("1")


async def test_concurrent_calls_are_serialised(sandbox: DockerSandbox) -> None:
    results: list[str | None] = [None] * 5

    async def one(i: int) -> None:
        results[i] = (await sandbox.run_python(f"import time; time.sleep(0.05); {i} * 2")).value

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(one, i)
    assert results == ["0", "2", "4", "6", "8"]


def test_sync_wrapper(sandbox_image: str, suite_labels: dict[str, str]) -> None:
    with SyncDockerSandbox(image=sandbox_image, labels=suite_labels) as sb:
        assert sb.run_python("a = 5\na * 2").value == "10"
        assert sb.run_shell("echo $((3 + 4))").stdout == "7\n"
        sb.upload("x.txt", b"abc")
        assert sb.download("x.txt") == b"abc"
    sb.close()  # idempotent


def test_missing_daemon_is_a_clear_error() -> None:
    script = (
        "import anyio\nfrom agentkit.sandbox import DockerSandbox, SandboxError\n"
        "try:\n    anyio.run(DockerSandbox().start)\n"
        "except SandboxError as exc:\n    print('SandboxError:', exc)\n"
    )
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60)
    assert "SandboxError: cannot reach the Docker daemon" in proc.stdout, proc.stderr
    assert "agentkit sandbox doctor" in proc.stdout


async def test_missing_image_is_a_clear_error(make_sandbox: SandboxFactory) -> None:
    with pytest.raises(SandboxError, match="agentkit sandbox build"):
        await make_sandbox(image="agentkit-sandbox:does-not-exist").start()


async def test_concurrent_start_makes_one_container_and_calls_start_lazily(
    make_sandbox: SandboxFactory, suite_containers: Containers
) -> None:
    sb = make_sandbox()
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(sb.start)
    assert len(suite_containers()) == 1
    lazy = make_sandbox()
    r = await lazy.run_python("1 + 1")  # no start(): the first call starts the container
    assert r.value == "2" and not r.state_lost
    assert len(suite_containers()) == 2
