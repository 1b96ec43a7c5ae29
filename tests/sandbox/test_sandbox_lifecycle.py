"""Lifecycle: dead-man switch, orphan reaping, max lifetime, warm pool (real daemon)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from agentkit.sandbox import DockerSandbox, SandboxPool
from agentkit.sandbox.container import LABEL, docker_client, owner_labels, reap_orphans

pytestmark = [pytest.mark.docker, pytest.mark.anyio]
Containers = Callable[[], list[dict[str, Any]]]


async def wait_gone(cid: str, suite_containers: Containers, within: float) -> float:
    started = time.monotonic()
    while any(c["Id"] == cid for c in suite_containers()):
        if time.monotonic() - started > within:
            raise AssertionError(f"container {cid[:12]} still exists after {within} s")
        await anyio.sleep(0.2)
    return time.monotonic() - started


async def test_dead_man_switch_when_host_process_is_killed(
    sandbox_image: str, suite_labels: dict[str, str], suite_containers: Containers
) -> None:
    script = textwrap.dedent(f"""
        import sys, time, anyio
        from agentkit.sandbox import DockerSandbox
        async def main():
            sb = DockerSandbox(image={sandbox_image!r}, labels={suite_labels!r})
            await sb.start()
            await sb.run_python("x = 1")
            print(sb.container_id, flush=True)
            time.sleep(600)
        anyio.run(main)
    """)
    proc = await anyio.open_process([sys.executable, "-c", script])
    try:
        assert proc.stdout is not None
        line = b""
        with anyio.fail_after(60):
            while not line.endswith(b"\n"):
                line += await proc.stdout.receive()
        cid = line.decode().strip()
        assert len(cid) == 64
        assert any(c["Id"] == cid for c in suite_containers())
    finally:
        proc.send_signal(signal.SIGKILL)  # no close(), no atexit: a crash
        await proc.wait()
        await proc.aclose()
    took = await wait_gone(cid, suite_containers, within=15)
    assert took < 15


async def test_orphans_of_dead_owners_are_reaped(
    sandbox_image: str, suite_labels: dict[str, str], suite_containers: Containers,
    sandbox: DockerSandbox,
) -> None:
    async with await anyio.open_process(["true"]) as dead:
        await dead.wait()
    client = docker_client()
    orphan = client.api.create_container(
        sandbox_image, command=["sleep", "300"], labels={
            **owner_labels(), **suite_labels, "agentkit.owner_pid": str(dead.pid),
            "agentkit.owner_start": "1",
        },
        host_config=client.api.create_host_config(network_mode="none"),
    )["Id"]
    client.api.start(orphan)
    try:
        reaped = reap_orphans()
        assert orphan in reaped
        assert sandbox.container_id not in reaped  # our own live sandbox is left alone
        assert not any(c["Id"] == orphan for c in suite_containers())
        assert (await sandbox.run_python("'still here'")).value == "'still here'"
    finally:
        if any(c["Id"] == orphan for c in suite_containers()):
            client.api.remove_container(orphan, force=True)


async def test_max_lifetime_stops_the_container(
    make_sandbox: Callable[..., DockerSandbox], suite_containers: Containers
) -> None:
    sb = make_sandbox(max_lifetime=2)
    await sb.start()
    await sb.run_python("x = 1")
    cid = sb.container_id
    assert cid is not None
    await wait_gone(cid, suite_containers, within=15)
    r = await sb.run_python("print('fresh')")
    assert r.state_lost and r.stdout == "fresh\n" and r.error is None, r


async def test_warm_pool(
    sandbox_image: str, suite_labels: dict[str, str], suite_containers: Containers
) -> None:
    async with SandboxPool(size=2, image=sandbox_image, labels=suite_labels,
                           memory="256m") as pool:
        with anyio.fail_after(60):
            await pool.wait_ready()
        started = time.monotonic()
        sb = await pool.acquire()
        assert time.monotonic() - started < 0.1  # warm: no container start on this path
        assert (await sb.run_python("1 + 1")).value == "2"
        cid = sb.container_id
        await sb.close()
        await wait_gone(str(cid), suite_containers, within=10)
        async with pool.sandbox() as a, pool.sandbox() as b, pool.sandbox() as c:
            ids = {a.container_id, b.container_id, c.container_id}
            assert len(ids) == 3 and None not in ids  # the third waited for a refill
            await a.run_python("secret = 1")
            assert (await b.run_python("'secret' in dir()")).value == "False"
        with anyio.fail_after(60):
            await pool.wait_ready()
        assert pool.ready == 2
    assert suite_containers() == []  # idle sandboxes closed with the pool


async def test_reaper_ignores_other_hosts_and_live_owners(
    sandbox_image: str, suite_labels: dict[str, str], suite_containers: Containers
) -> None:
    client = docker_client()
    made = []
    for host, pid in (("some-other-host", "1"), (socket.gethostname(), str(os.getpid()))):
        labels = {**suite_labels, LABEL: "1", "agentkit.owner_pid": pid,
                  "agentkit.owner_host": host}
        made.append(client.api.create_container(sandbox_image, command=["true"],
                                                labels=labels)["Id"])
    try:
        reaped = reap_orphans()
        assert not set(made) & set(reaped)
    finally:
        for cid in made:
            client.api.remove_container(cid, force=True)
    assert json.dumps(suite_containers()) == "[]"


async def test_cancelled_start_leaves_no_container(
    make_sandbox: Callable[..., DockerSandbox], suite_containers: Containers
) -> None:
    for delay in (0.01, 0.05, 0.1, 0.2, 0.3):
        sb = make_sandbox()
        with anyio.move_on_after(delay):
            await sb.start()
        await sb.close()
        assert suite_containers() == [], delay
