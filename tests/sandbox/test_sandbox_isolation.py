"""Issue 9 (sandbox items), against the real daemon: nothing of a call outlives it or sees a
later request, PID 1 never blocks for good, shells read no planted files, transfers and
file lists stay within their caps, no container log, masked host details."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable

import anyio
import pytest
from agentkit.sandbox import DockerSandbox, container
from agentkit.sandbox.container import docker_client

pytestmark = [pytest.mark.docker, pytest.mark.anyio]
SandboxFactory = Callable[..., DockerSandbox]

# processes (and threads) alive in the container: [(pid, live threads)]; a process whose
# leader is a zombie but whose other threads run counts as alive
LIVE = """
import os
def live():
    out = []
    for p in filter(str.isdigit, os.listdir('/proc')):
        try:
            states = [open(f'/proc/{p}/task/{t}/stat').read().rsplit(')', 1)[1].split()[0]
                      for t in os.listdir(f'/proc/{p}/task')]
        except OSError:
            continue
        n = sum(s not in ('Z', 'X') for s in states)
        if n:
            out.append((int(p), n))
    return sorted(out)
live() == [(1, 1), (os.getpid(), 1)] or live()
"""

# a thread keeps writing the workspace while the main thread leaves by SYS_exit: the leader
# shows as a zombie, the process lives on
SYS_EXIT = (
    "import ctypes, threading, time\n"
    "def tick():\n"
    "    while True:\n"
    "        open('/workspace/tick', 'w').write(str(time.time_ns()))\n"
    "        time.sleep(0.01)\n"
    "threading.Thread(target=tick).start()\n"
    "time.sleep(0.05)\n"
    "ctypes.CDLL(None).syscall(60, 0)\n"
)

STRAYS = {
    "shell: leader exits by SYS_exit, a thread runs on":
        ("shell", f"python3 -c {shlex.quote(SYS_EXIT)} & sleep 0.3"),
    "python: forked child whose leader exits by SYS_exit":
        ("python", "import os\nif os.fork() == 0:\n    exec(" + repr(SYS_EXIT) + ")\n"
                   "import time; time.sleep(0.3)"),
    "python: the interpreter's own main thread exits by SYS_exit":
        ("python", SYS_EXIT),
    "shell: setsid double fork, signals blocked":
        ("shell", "setsid sh -c 'trap \"\" TERM INT HUP; (while :; do date +%s%N > tick; "
                  "sleep 0.01; done) &' ; sleep 0.3"),
    "shell: a stopped process and a zombie":
        ("shell", "sh -c 'kill -STOP $$' & (sleep 0.1 & exec sleep 1000) & sleep 0.3"),
    "python: all signals blocked, own process group":
        ("python", "import os, signal, time\nif os.fork() == 0:\n    os.setpgid(0, 0)\n"
                   "    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())\n"
                   "    while True:\n"
                   "        open('/workspace/tick', 'w').write(str(time.time_ns()))\n"
                   "        time.sleep(0.01)\n"
                   "time.sleep(0.3)"),
    "python: threads of the interpreter (threading, _thread)":
        ("python", "import threading, _thread, time\n"
                   "def tick():\n"
                   "    while True:\n"
                   "        open('/workspace/tick', 'w').write(str(time.time_ns()))\n"
                   "        time.sleep(0.01)\n"
                   "threading.Thread(target=tick, daemon=True).start()\n"
                   "_thread.start_new_thread(tick, ())\ntime.sleep(0.3)"),
}


@pytest.mark.parametrize("name", list(STRAYS))
async def test_nothing_but_pid1_and_the_interpreter_outlives_a_call(
    sandbox: DockerSandbox, name: str
) -> None:
    kind, code = STRAYS[name]
    assert (await sandbox.run_python("marker = 'alive'")).ok
    run = sandbox.run_python if kind == "python" else sandbox.run_shell
    r = await run(code, timeout=2)
    in_interpreter = "interpreter" in name  # those end the interpreter, and say so
    assert r.state_lost if in_interpreter else r.error is None, r
    first = await sandbox.download("tick") if "tick" in code else b""
    await anyio.sleep(0.3)  # between calls nothing may write the workspace
    if first:
        assert await sandbox.download("tick") == first
    r = await sandbox.run_python(LIVE)
    assert r.value == "True", r
    r = await sandbox.run_python("marker")
    assert (r.value == "'alive'") is not in_interpreter, r
    assert (await sandbox.run_python(LIVE)).value == "True"


# user code finds the interpreter's request pipe (the read-only pipe above fd 2) and the
# reply pipe, and the nonce of the running call in the interpreter's frames
PIPES = """
import json, os, sys
def pipe(mode):
    for fd in map(int, os.listdir('/proc/self/fd')):
        try:
            link = os.readlink(f'/proc/self/fd/{fd}')
            flags = int(open(f'/proc/self/fdinfo/{fd}').read().split()[3], 8)
        except OSError:
            continue
        if fd > 2 and link.startswith('pipe:') and flags & 3 == mode:
            return fd
REQ, REP = pipe(0), pipe(1)
def steal():  # read the next request and answer it with its own nonce
    line = os.read(REQ, 1 << 20).split(b'\\n')[0]
    nonce = json.loads(line)['nonce']
    os.write(REP, b'\\n' + json.dumps({'nonce': nonce, 'value': "'stolen'"}).encode() + b'\\n')
def my_nonce():
    f = sys._getframe()
    while f is not None:
        if isinstance(f.f_locals.get('nonce'), str):
            return f.f_locals['nonce']
        f = f.f_back
"""

STEALERS = {
    "a thread blocked on the request pipe":
        "import threading\nthreading.Thread(target=steal, daemon=True).start()",
    "a thread started with _thread":
        "import _thread\n_thread.start_new_thread(steal, ())",
    "the main thread forges its reply and reads on":
        "os.write(REP, b'\\n' + json.dumps({'nonce': my_nonce(), 'value': '1'}).encode() "
        "+ b'\\n')\nsteal()",
    "a SIGCONT handler":
        "import signal\nsignal.signal(signal.SIGCONT, lambda *a: steal())",
    "an interval timer":
        "import signal\nsignal.signal(signal.SIGALRM, lambda *a: steal())\n"
        "signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)",
    "a profile hook":
        "import sys\ndef hook(frame, event, arg):\n"
        "    if event == 'call' and frame.f_code.co_name == 'handle':\n"
        "        sys.setprofile(None)\n        steal()\nsys.setprofile(hook)",
    "an audit hook":
        "import sys\ndef hook(event, args):\n"
        "    if event == 'compile':\n        steal()\nsys.addaudithook(hook)",
    "a C-level SIGCONT handler (ctypes)":
        "import ctypes\nHANDLER = ctypes.CFUNCTYPE(None, ctypes.c_int)(lambda s: steal())\n"
        "ctypes.CDLL(None).signal(18, HANDLER)",
    "the reply pipe replaced":
        "keep = os.dup(REP)\nr, w = os.pipe()\nos.dup2(w, REP)",
    "a gc callback":
        "import gc\ngc.callbacks.append(lambda *a: steal())",
    "a forked child":
        "if os.fork() == 0:\n    steal()\n    os._exit(0)",
    "the request pipe filled and replaced":
        "w = os.open(f'/proc/self/fd/{REQ}', os.O_WRONLY | os.O_NONBLOCK)\n"
        "try:\n    while True:\n        os.write(w, b'x' * 4096)\nexcept BlockingIOError:\n"
        "    pass\nkeep = os.dup(REQ)\nr, _ = os.pipe()\nos.dup2(r, REQ)",
}


@pytest.mark.parametrize("name", list(STEALERS))
async def test_no_code_of_a_call_sees_a_later_request(
    make_sandbox: SandboxFactory, name: str
) -> None:
    sb = make_sandbox(timeout=5, interrupt_grace=0.5)
    assert (await sb.run_python(PIPES)).ok
    await sb.run_python(STEALERS[name])
    started = time.monotonic()
    for i in range(3):  # the later calls run their own code and get their own results
        r = await sb.run_python(f"open('/workspace/later-{i}', 'w').write('ran')\n"
                                f"print('mine'); 40 + {i}")
        assert (r.stdout, r.value, r.error) == ("mine\n", str(40 + i), None), r
        assert await sb.download(f"later-{i}") == b"ran"
    assert time.monotonic() - started < 5  # not a timeout, not the host-side guard
    assert (await sb.run_python(LIVE)).value == "True"


async def test_lifetime_holds_while_pid1_is_blocked_writing(
    make_sandbox: SandboxFactory,
) -> None:
    """The host stops reading mid-reply (a frozen host): PID 1 blocks writing a big download
    to its stdout, yet the container ends at `max_lifetime` (a timer, not a check in the
    request loop)."""
    sb = make_sandbox(max_lifetime=6)
    await sb.start()
    started = time.monotonic()
    cid = sb.container_id
    assert (await sb.run_shell("head -c 48M /dev/urandom > big")).ok
    channel = sb._channel
    assert channel is not None and cid is not None
    pid = docker_client().api.inspect_container(cid)["State"]["Pid"]
    proc = anyio.Path(f"/proc/{pid}")
    assert await proc.exists()
    await channel.send({"op": "get", "path": "big", "id": 999})  # the reply is never read
    # the daemon itself waits for the unread stream (inspect hangs): watch PID 1 on the host
    while await proc.exists() and time.monotonic() - started < 20:  # noqa: ASYNC110
        await anyio.sleep(0.25)
    took = time.monotonic() - started
    assert 5 < took < 12, took


async def test_shell_reads_no_login_or_rc_files(sandbox: DockerSandbox) -> None:
    for name in (".bash_profile", ".bash_login", ".profile", ".bashrc", ".bash_logout"):
        await sandbox.upload(name, f"echo FORGED-{name}; exit 0\n")
    r = await sandbox.run_shell("echo real; shopt -q login_shell && echo login; echo $HOME")
    assert (r.stdout, r.stderr, r.exit_code) == ("real\n/workspace\n", "", 0), r


async def test_download_never_exceeds_max_transfer(make_sandbox: SandboxFactory) -> None:
    sb = make_sandbox(max_transfer=1000)
    await sb.upload("exact", b"x" * 1000)
    assert await sb.download("exact") == b"x" * 1000
    assert (await sb.run_shell("head -c 1001 /dev/zero > over")).ok
    with pytest.raises(Exception, match="larger than 1000 bytes"):
        await sb.download("over")


async def test_file_list_is_capped(make_sandbox: SandboxFactory) -> None:
    sb = make_sandbox(max_output=5000)
    r = await sb.run_python(
        "import os\nd = '/workspace/' + '/'.join(['d' * 200] * 15)\nos.makedirs(d)\n"
        "for i in range(120):\n    open(f'{d}/f{i}', 'w').close()"
    )
    assert r.ok and 0 < len(r.files) < 120, r
    assert sum(len(f) + 2 for f in r.files) <= 5000


async def test_no_container_log_and_masked_host_details(sandbox: DockerSandbox) -> None:
    r = await sandbox.run_python("print('x' * 100000)\nimport os\n"
                                 "[len(open(p).read()) for p in ('/proc/cmdline', "
                                 "'/proc/meminfo', '/proc/iomem')] + [os.listdir('/sys/firmware')]")
    assert r.value == "[0, 0, 0, []]", r
    api = docker_client().api
    info = api.inspect_container(sandbox.container_id)
    assert info["HostConfig"]["LogConfig"]["Type"] == "none"
    assert info["LogPath"] == ""
    masked = set(info["HostConfig"]["MaskedPaths"] or [])
    assert set(container.MASKED_PATHS) <= masked
    assert {"/proc/kcore", "/proc/keys", "/sys/firmware"} <= masked  # Docker's own too
    r = await sandbox.run_shell("hostname; cat /proc/self/cgroup")
    assert r.ok and str(sandbox.container_id)[:12] not in r.stdout, r


async def test_reaper_never_removes_a_container_whose_owner_may_be_alive(
    sandbox_image: str, suite_labels: dict[str, str]
) -> None:
    """Ownership is host + boot id + PID namespace + pid + start time: a dead-looking pid in
    another PID namespace (agentkit in a container sharing the Docker socket), on another
    boot, or with the old labels only, may belong to a live owner and is left alone."""
    async with await anyio.open_process(["true"]) as dead:
        await dead.wait()
    mine = container.owner_labels()
    dead_here = {**mine, "agentkit.owner_pid": str(dead.pid), "agentkit.owner_start": "1"}
    cases = {
        "other pid namespace": {**dead_here, "agentkit.owner_pidns": "pid:[1]"},
        "other boot": {**dead_here, "agentkit.owner_boot": "00000000-0000-0000-0000-0"},
        "old labels only": {k: v for k, v in dead_here.items()
                            if k not in ("agentkit.owner_pidns", "agentkit.owner_boot")},
        "live owner": mine,
        "dead owner here": dead_here,
    }
    api = docker_client().api
    made = {name: api.create_container(sandbox_image, command=["true"],
                                       labels={**labels, **suite_labels})["Id"]
            for name, labels in cases.items()}
    try:
        reaped = set(container.reap_orphans())
        assert {n for n, cid in made.items() if cid in reaped} == {"dead owner here"}
    finally:
        for cid in made.values():
            if cid not in reaped:
                api.remove_container(cid, force=True)
