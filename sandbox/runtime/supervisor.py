"""agentkit sandbox executor: the supervisor, PID 1 of the container (see bootstrap.py).

Protocol: JSON lines. Requests arrive on fd 0 (the container's attached stdin), replies leave
on the original fd 1, which is moved to a private descriptor at start so that nothing else
(user code, subprocesses, stray prints) can write to the channel.

* The supervisor (this process) never runs user code. As PID 1 of the container's pid
  namespace it cannot be killed from inside, it reaps orphans, and it enforces timeouts.
* Python runs in a forked worker (its own session / process group) that keeps a persistent
  ``__main__`` namespace. User output goes to pipes that the supervisor reads with a cap.
  On timeout the worker gets SIGINT (state kept if it stops); if it does not stop within the
  grace period its whole process group is SIGKILLed and the reply says ``state_lost``.
* Shell commands run as ``bash -lc`` in a fresh session per call.
* Nothing runs between calls: after each call every process but PID 1 and the worker is
  SIGKILLed (detached ``setsid`` loops included) and the worker is SIGSTOPped (its threads
  too) until the next Python call, so the workspace cannot change under file operations.
* The worker's replies are paired with their request by a per-call nonce and type-checked
  and capped here: user code shares the worker's process and can write to the reply pipe.
* Dead-man switch: EOF on stdin (the host went away) or ``max_lifetime`` ends the container.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import secrets
import select
import signal
import sys
import time
from typing import Any

from agentkit_sandbox_common import (
    VALUE_MAX,
    WORKSPACE,
    Capture,
    ReplyReader,
    changed_files,
    clean_reply,
    error,
    freeze,
    is_alive,
    nonblock,
    oom_kills,
    open_regular,
    proc_state,
    scan_workspace,
    set_dumpable,
    signal_name,
    threads,
    write_all,
)
from agentkit_sandbox_worker import worker_main

MAX_LIFETIME = 0.0
GRACE = 1.0
MAX_TRANSFER = 64 << 20
FILES_MAX = 1000
SEND_TIMEOUT = 120.0  # the host reads every reply it waits for; longer means it is gone
IDLE_WAIT = 1.0
IDLE_SLACK = 0x100  # after its reply the interpreter must be back in its request read by then
SHELL = "/bin/bash"
SHELL_ENV_DROP = ("BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS")


def seed_matplotlib(src: str = "/usr/local/share/agentkit/matplotlib") -> None:
    """Copy the image's prebuilt matplotlib font cache into the (tmpfs) MPLCONFIGDIR."""
    dst = os.environ.get("MPLCONFIGDIR")
    if not dst or not os.path.isdir(src) or os.path.exists(dst):
        return
    try:
        os.makedirs(dst, exist_ok=True)
        for name in os.listdir(src):
            if os.path.isfile(f"{src}/{name}"):
                with open(f"{src}/{name}", "rb") as fin, open(f"{dst}/{name}", "wb") as fout:
                    fout.write(fin.read())
    except OSError:
        pass


class Child:
    """A forked child (worker or shell) with its output pipes (and, for the worker, its
    request/reply pipes: our ends in `extra`, its descriptor numbers and pipe inodes)."""

    def __init__(self, pid: int, out_fd: int, err_fd: int, extra: tuple[int, ...] = ()) -> None:
        self.pid, self.out_fd, self.err_fd, self.extra = pid, out_fd, err_fd, extra
        self.pipes: dict[int, int] = {}  # worker's fd -> pipe inode
        self.req_fd = -1

    def close(self) -> None:
        for fd in (self.out_fd, self.err_fd, *self.extra):
            try:
                os.close(fd)
            except OSError:
                pass


class Supervisor:
    def __init__(self) -> None:
        self.proto_in = os.dup(0)
        self.proto_out = os.dup(1)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        set_dumpable(0)
        nonblock(self.proto_in)
        nonblock(self.proto_out)
        self.inbuf = b""
        self.queue: list[dict[str, Any]] = []
        self.exited: dict[int, int] = {}
        self.worker: Child | None = None
        self.worker_used = False
        self.wake_r, wake_w = os.pipe()
        nonblock(self.wake_r)
        nonblock(wake_w)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_DFL)  # as PID 1: ignored unless sent by the kernel
        self.tracked: set[int] = set()
        self.idle_ref: tuple[bytes, ...] | None = None  # the worker's idle read, see `idle`
        self.note = ""  # why the interpreter was restarted at the end of the last call

    # -- plumbing
    def send(self, msg: dict[str, Any]) -> None:
        try:
            write_all(self.proto_out, json.dumps(msg).encode() + b"\n",
                      time.monotonic() + SEND_TIMEOUT)
        except OSError:  # the host stopped reading (or went away): nobody to serve
            self.shutdown()

    def read_requests(self) -> bool:
        """Read available request bytes; False on EOF (the host is gone)."""
        try:
            data = os.read(self.proto_in, 1 << 20)
        except (BlockingIOError, InterruptedError):
            return True
        if not data:
            return False
        self.inbuf += data
        while b"\n" in self.inbuf:
            line, self.inbuf = self.inbuf.split(b"\n", 1)
            if line.strip():
                try:
                    self.queue.append(json.loads(line))
                except ValueError:
                    self.send({"id": None, "ok": False, "error": "malformed request"})
        return True

    def reap(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except OSError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.tracked:
                self.tracked.discard(pid)
                self.exited[pid] = status

    def fork(self, target: Any, keep: tuple[int, ...] = (), exec_: bool = False) -> Child:
        """Fork a child in a new session: stdin /dev/null, stdout/stderr to capture pipes,
        every other descriptor closed except `keep`; then call `target` in the child (`exec_`:
        it execs a program, which gets default SIGPIPE/SIGXFSZ like any shell command)."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        for delay in (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 0):  # like bash: retry a full pids table
            try:
                pid = os.fork()
                break
            except BlockingIOError:
                if not delay:
                    for fd in (out_r, out_w, err_r, err_w):
                        os.close(fd)
                    raise
                time.sleep(delay)
                self.reap()
        if pid == 0:
            try:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                if exec_:
                    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
                        signal.signal(sig, signal.SIG_DFL)
                os.setsid()
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(out_w, 1)
                os.dup2(err_w, 2)
                low = 3
                for fd in sorted(keep):
                    os.closerange(low, fd)
                    low = fd + 1
                os.closerange(low, 1 << 16)
                set_dumpable(1)
                try:
                    with open("/proc/self/oom_score_adj", "w") as fh:
                        fh.write("1000")
                except OSError:
                    pass
                os.chdir(WORKSPACE)
                target()
            finally:
                os._exit(127)
        self.tracked.add(pid)
        os.close(out_w)
        os.close(err_w)
        nonblock(out_r)
        nonblock(err_r)
        return Child(pid, out_r, err_r)

    def kill_group(self, pgid: int | None, keep: int | None = None) -> bool:
        """SIGKILL every live process of a group (optionally sparing `keep`); pgid None: every
        process of the container but PID 1 and `keep`. A process counts as live while any of
        its threads does, whatever state its leader shows (stopped, zombie, blocking
        signals: SIGKILL ends them all). False if some survived 3 s of killing."""
        deadline = time.monotonic() + 3.0
        while True:
            members = []
            for name in os.listdir("/proc"):
                if name.isdigit() and int(name) not in (1, keep):
                    st = proc_state(name)
                    if st is not None and pgid in (None, st[1]) and is_alive(name):
                        members.append(int(name))
            if not members:
                self.reap()
                return True
            if time.monotonic() > deadline:
                self.reap()
                return False
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.002)
            self.reap()

    def kill_all(self) -> None:
        """Last resort: SIGKILL every process but PID 1 (the worker too) until none is left."""
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
            time.sleep(0.005)
            self.reap()
            if not any(n.isdigit() and n != "1" and is_alive(n) for n in os.listdir("/proc")):
                return

    def wait_exit(self, pid: int, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while True:
            self.reap()
            if pid in self.exited:
                return self.exited.pop(pid)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            select.select([self.wake_r], [], [], min(left, 0.05))

    # -- the worker
    def start_worker(self) -> Child:
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()

        child = self.fork(lambda: worker_main(req_r, rep_w), keep=(req_r, rep_w))
        child.pipes = {req_r: os.fstat(req_r).st_ino, rep_w: os.fstat(rep_w).st_ino}
        child.req_fd = req_r
        os.close(req_r)
        os.close(rep_w)
        nonblock(rep_r)
        nonblock(req_w)
        child.extra = (req_w, rep_r)
        self.worker = child
        self.idle_ref = None
        return child

    def idle(self, worker: Child) -> tuple[bytes, ...] | None:
        """(syscall, fd, stack pointer) of the worker's main thread when it is
        blocked reading its request pipe, else None. The request loop always waits at the same
        place; user code reading that pipe (after forging a reply, in a signal handler) would
        do it from deeper in the stack, which tells them apart."""
        try:
            with open(f"/proc/{worker.pid}/syscall", "rb") as fh:
                fields = fh.read().split()
        except OSError:
            return None
        if len(fields) < 9 or fields[1] != b"0x%x" % worker.req_fd:
            return None
        return fields[0], fields[1], fields[-2]

    def same_place(self, sig: tuple[bytes, ...]) -> bool:
        """`sig` is the idle read of `idle_ref` (None: the first one, no user code ran yet):
        same syscall and descriptor, stack pointer within IDLE_SLACK bytes
        (the interpreter's specialisation moves it a little; any user code waiting on the
        pipe is at least one C-level evaluation, some 0x200 bytes, deeper)."""
        ref = self.idle_ref
        if ref is None:
            return True
        if sig[0] != ref[0] or sig[1] != ref[1]:
            return False
        return abs(int(sig[2], 16) - int(ref[2], 16)) <= IDLE_SLACK

    def wait_idle(self, worker: Child, timeout: float) -> tuple[bytes, ...] | None:
        deadline = time.monotonic() + timeout
        delay = 0.00002
        while True:
            sig = self.idle(worker)
            if sig is not None and self.same_place(sig):
                return sig
            if time.monotonic() > deadline:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.005)

    def check_worker(self, worker: Child) -> str:
        """Freeze the worker for the time between calls and make sure nothing of the call
        that just ended can act in a later one: "" when all is well, else why not (a dead
        worker is fine here: the next Python call notices it and reports the lost state)."""
        why = self.inspect_worker(worker)
        self.reap()
        return "" if worker.pid in self.exited or not is_alive(worker.pid) else why

    def inspect_worker(self, worker: Child) -> str:
        if not is_alive(worker.pid):
            return ""
        sig = self.wait_idle(worker, IDLE_WAIT)
        if not freeze(worker.pid):
            return "it could not be stopped"
        tasks = threads(worker.pid)
        if [tid for tid, _ in tasks] != [str(worker.pid)]:
            return "threads were still running at the end of the call (join them first)"
        if sig is None or self.idle(worker) != sig:
            return "its code went on running after the call's reply"
        if self.idle_ref is None:
            self.idle_ref = sig
        for fd, ino in worker.pipes.items():
            try:
                if os.readlink(f"/proc/{worker.pid}/fd/{fd}") != f"pipe:[{ino}]":
                    raise OSError
            except OSError:
                return "its request or reply pipe was replaced"
        try:
            with open(f"/proc/{worker.pid}/status", "rb") as fh:
                caught = next(ln for ln in fh if ln.startswith(b"SigCgt:")).split()[1]
        except (OSError, StopIteration, IndexError):
            return "its state could not be read"
        if int(caught, 16) & ~(1 << (signal.SIGINT - 1)):
            return "signal handlers were installed outside Python's signal module"
        return ""

    def worker_reap(self, worker: Child) -> None:
        """Have the (kept) worker reap the children we just killed, freeing their pids."""
        req_w, rep_r = worker.extra
        nonce = secrets.token_hex(16)
        reader = ReplyReader(nonce)
        try:
            deadline = time.monotonic() + 2.0
            write_all(req_w, json.dumps({"op": "reap", "nonce": nonce}).encode() + b"\n",
                      deadline)
            while time.monotonic() < deadline:
                ready, _, _ = select.select([rep_r], [], [], deadline - time.monotonic())
                if ready:
                    data = os.read(rep_r, 1 << 16)
                    if not data or reader.feed(data) is not None:
                        return
        except OSError:
            pass

    def settle(self) -> str:
        """End of a call: freeze the worker, SIGKILL every other process but PID 1 (detached
        ones included) so nothing changes the workspace until the next call. A worker that
        fails `check_worker` is replaced by a fresh one; returns why ("" if it was not)."""
        worker, why = self.worker, ""
        if worker is not None:
            why = self.check_worker(worker)
            if why:
                self.drop_worker()
                worker = None
        if not self.kill_group(None, keep=worker.pid if worker is not None else None):
            self.kill_all()
            why = why or "processes of the call could not be stopped"
        if why:
            self.start_worker()
            self.worker_used = False
        return why

    def resume_worker(self, worker: Child) -> None:
        """Continue the frozen worker and discard whatever is left in its reply pipe."""
        try:
            os.kill(worker.pid, signal.SIGCONT)
        except OSError:
            pass
        for _ in range(64):
            try:
                if not os.read(worker.extra[1], 1 << 16):
                    break
            except OSError:
                break

    def drop_worker(self) -> None:
        if self.worker is not None:
            self.kill_group(self.worker.pid)
            try:
                os.kill(self.worker.pid, signal.SIGKILL)  # even if it left its group
            except OSError:
                pass
            self.wait_exit(self.worker.pid, 1.0)
            self.worker.close()
            self.worker = None

    # -- one running call
    def pump(self, child: Child, cap: Capture, extra: list[int], deadline: float,
             req_id: Any) -> tuple[str, list[int]]:
        """Wait for readable `extra` fds, child exit, deadline or cancel; capture output."""
        fds = [child.out_fd, child.err_fd, self.proto_in, self.wake_r, *extra]
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "deadline", []
            try:
                ready, _, _ = select.select(fds, [], [], min(left, 1.0))
            except InterruptedError:
                continue
            hits = []
            for fd in ready:
                if fd == child.out_fd or fd == child.err_fd:
                    self.drain(child, cap, fd)
                elif fd == self.proto_in:
                    if not self.read_requests():
                        self.shutdown()
                    for req in list(self.queue):
                        if req.get("op") == "cancel" and req.get("target") == req_id:
                            self.queue.remove(req)
                            return "cancel", []
                elif fd == self.wake_r:
                    self.reap()
                    if child.pid in self.exited:
                        return "exit", []
                else:
                    hits.append(fd)
            if hits:
                return "ready", hits

    def drain(self, child: Child, cap: Capture, only: int | None = None) -> None:
        for fd, name in ((child.out_fd, "stdout"), (child.err_fd, "stderr")):
            if only is not None and fd != only:
                continue
            for _ in range(256):
                try:
                    data = os.read(fd, 1 << 16)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                if not data:
                    break
                cap.feed(name, data)

    def run_python(self, req: dict[str, Any]) -> dict[str, Any]:
        state_lost = False
        self.reap()  # notice a worker killed since the last call before handing it code
        if self.worker is None or self.worker.pid in self.exited:
            if self.worker is not None:
                self.drop_worker()
            state_lost = self.worker_used
            self.start_worker()
        worker = self.worker
        assert worker is not None
        self.worker_used = True
        max_output = int(req.get("max_output", 1 << 20))
        cap = Capture(max_output)
        timeout = float(req.get("timeout", 30))
        oom_before = oom_kills()
        req_w, rep_r = worker.extra
        self.resume_worker(worker)
        nonce = secrets.token_hex(16)
        max_value = max(1, min(VALUE_MAX, max_output))
        reader = ReplyReader(nonce)
        reply: dict[str, Any] | None = None
        timed_out = cancelled = False
        status: int | None = None
        deadline = time.monotonic() + timeout
        phase = "run"
        if self.idle_ref is None:  # a fresh worker: no user code has run in it yet
            self.idle_ref = self.wait_idle(worker, 5.0)
        try:
            write_all(req_w, json.dumps({"code": str(req["code"]), "nonce": nonce,
                                         "max_value": max_value}).encode() + b"\n", deadline)
            sent = True
        except OSError:  # it does not read its requests (TimeoutError included)
            sent = False
        while True:
            why, _ = self.pump(worker, cap, [rep_r], deadline, req.get("id")) if sent else (
                "broken", [])
            if why == "ready":
                try:
                    chunk = os.read(rep_r, 1 << 20)
                except (BlockingIOError, InterruptedError):
                    continue
                if not chunk:
                    why = "exit"
                else:
                    reply = reader.feed(chunk)
                    if reply is not None:
                        break
                    continue
            if why in ("deadline", "cancel") and phase == "run":
                timed_out, cancelled = why == "deadline", why == "cancel"
                phase = "interrupt"
                try:
                    os.kill(worker.pid, signal.SIGINT)
                except OSError:
                    pass
                deadline = time.monotonic() + GRACE
                continue
            # the interpreter is gone or unusable: kill its whole group, restart it below
            self.drain(worker, cap)
            self.kill_group(worker.pid)
            status = self.exited.pop(worker.pid, None)
            if status is None:
                status = self.wait_exit(worker.pid, 1.0)
            self.drain(worker, cap)
            worker.close()
            self.worker = None
            state_lost = True
            break
        self.drain(worker, cap)
        if timed_out or cancelled:
            self.kill_group(worker.pid, keep=worker.pid if reply is not None else None)
            if reply is not None:
                self.worker_reap(worker)
        oom = oom_before >= 0 and oom_kills() > oom_before
        out: dict[str, Any] = {"value": None, "error": None, "exit_code": 0, "figures": []}
        value_cut = False
        if reply is not None:
            out, value_cut = clean_reply(reply, max_value)
        else:
            out["exit_code"], out["error"] = self.death(status, oom)
        if timed_out or cancelled:
            what = f"execution exceeded the {timeout:g} s timeout" if timed_out else "cancelled"
            tb = (out.get("error") or {}).get("traceback", "")
            out["error"] = error("TimeoutError" if timed_out else "Cancelled", what, tb)
            if reply is None:
                out["error"]["message"] += "; the interpreter was killed and restarted"
            out["exit_code"] = -signal.SIGINT if reply is not None else (out["exit_code"] or -9)
        if state_lost:
            self.worker_used = False
            self.start_worker()
            self.worker_used = True
        out.update(stdout=cap.text("stdout"), stderr=cap.text("stderr"),
                   truncated=cap.truncated or value_cut, timed_out=timed_out,
                   state_lost=state_lost, oom_killed=oom)
        return out

    def death(self, status: int | None, oom: bool) -> tuple[int, dict[str, str]]:
        if status is None:
            return -signal.SIGKILL, error("SandboxError", "the interpreter stopped answering")
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if oom:
                msg = "the interpreter was killed: out of memory (the sandbox memory limit)"
                return -sig, error("MemoryError", msg)
            return -sig, error("InterpreterDied", f"the interpreter died ({signal_name(sig)})")
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1
        return code, error("InterpreterExited", f"the interpreter exited with status {code}")

    def run_shell(self, req: dict[str, Any]) -> dict[str, Any]:
        cap = Capture(int(req.get("max_output", 1 << 20)))
        timeout = float(req.get("timeout", 30))
        oom_before = oom_kills()
        command = str(req["command"])
        env = {k: v for k, v in os.environ.items()
               if k not in SHELL_ENV_DROP and not k.startswith("BASH_FUNC_")}
        # no login shell, no rc files: nothing planted in the workspace ($HOME) runs
        argv = ["bash", "--noprofile", "--norc", "-c", command]
        child = self.fork(lambda: os.execve(SHELL, argv, env), exec_=True)
        why, _ = self.pump(child, cap, [], time.monotonic() + timeout, req.get("id"))
        status = self.exited.pop(child.pid, None)
        self.kill_group(child.pid)
        if status is None:
            status = self.wait_exit(child.pid, 2.0)
        self.drain(child, cap)
        child.close()
        err = None
        if status is None:
            code = -signal.SIGKILL
        elif os.WIFSIGNALED(status):
            code = -os.WTERMSIG(status)
        else:
            code = os.WEXITSTATUS(status)
        oom = oom_before >= 0 and oom_kills() > oom_before
        if why in ("deadline", "cancel"):
            what = f"command exceeded the {timeout:g} s timeout" if why == "deadline" else ""
            err = error("TimeoutError", what) if what else error("Cancelled", "cancelled")
        elif oom:
            err = error("MemoryError", "a process was killed: out of memory")
        return {"stdout": cap.text("stdout"), "stderr": cap.text("stderr"), "value": None,
                "error": err, "exit_code": code, "timed_out": why == "deadline",
                "truncated": cap.truncated, "state_lost": False, "oom_killed": oom,
                "figures": []}

    # -- files
    @staticmethod
    def resolve(path: str) -> str:
        full = os.path.normpath(os.path.join(WORKSPACE, path))
        real_parent = os.path.realpath(os.path.dirname(full))
        if not (full + "/").startswith(WORKSPACE + "/") or not (
            real_parent + "/"
        ).startswith(WORKSPACE + "/"):
            raise PermissionError(f"path {path!r} is outside the workspace")
        if full == WORKSPACE:
            raise IsADirectoryError(path)
        return full

    def put(self, req: dict[str, Any]) -> dict[str, Any]:
        full = self.resolve(req["path"])
        data = base64.b64decode(req["data"])
        os.makedirs(os.path.dirname(full), exist_ok=True)
        full = self.resolve(req["path"])  # re-check after creating parents
        fd = open_regular(full, os.O_WRONLY | os.O_CREAT, int(req.get("mode", 0o644)) & 0o777)
        try:
            os.ftruncate(fd, 0)
            write_all(fd, data)
        finally:
            os.close(fd)
        return {"size": len(data)}

    def get(self, req: dict[str, Any]) -> dict[str, Any]:
        full = self.resolve(req["path"])
        fd = open_regular(full, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            if size > MAX_TRANSFER:
                raise OSError(errno.EFBIG, f"file is larger than {MAX_TRANSFER} bytes")
            chunks, total = [], 0  # at most one byte more than allowed: the file may grow
            while total <= MAX_TRANSFER and (
                chunk := os.read(fd, min(1 << 20, MAX_TRANSFER + 1 - total))
            ):
                chunks.append(chunk)
                total += len(chunk)
            if total > MAX_TRANSFER:
                raise OSError(errno.EFBIG, f"file is larger than {MAX_TRANSFER} bytes")
        finally:
            os.close(fd)
        return {"data": base64.b64encode(b"".join(chunks)).decode()}

    # -- main loop
    def handle(self, req: dict[str, Any]) -> None:
        op, rid = req.get("op"), req.get("id")
        started = time.monotonic()
        try:
            if op in ("python", "shell"):
                before = scan_workspace()
                try:
                    out = self.run_python(req) if op == "python" else self.run_shell(req)
                except OSError as exc:  # fork failed: pids limit or memory exhausted
                    msg = (f"cannot start a process: {exc}; processes of this call may hold "
                           "the pids limit (they are killed now; retry, or restart the sandbox)")
                    out = {"stdout": "", "stderr": "", "value": None, "exit_code": -1,
                           "error": error("ResourceError", msg), "timed_out": False,
                           "truncated": False, "state_lost": False, "oom_killed": False}
                finally:
                    why = self.settle()
                if why:
                    out["state_lost"] = True
                    out["stderr"] += (f"\n[sandbox: the interpreter was restarted, {why}; "
                                      "variables and imports are gone]\n")
                files = changed_files(before, scan_workspace())
                out["files"] = cap_files(files, int(req.get("max_output", 1 << 20)))
            elif op == "ping":
                out = {"pid": os.getpid(), "uid": os.getuid()}
            elif op == "put":
                out = self.put(req)
            elif op == "get":
                out = self.get(req)
            elif op == "cancel":
                return  # nothing running with that id
            elif op == "shutdown":
                self.send({"id": rid, "ok": True})
                self.shutdown()
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception as exc:
            self.send({"id": rid, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
            return
        out.update(id=rid, ok=True, duration=time.monotonic() - started)
        self.send(out)

    def shutdown(self) -> None:
        try:
            os.kill(-1, signal.SIGKILL)  # every other process of the container
        except OSError:
            pass
        os._exit(0)

    def serve(self) -> None:
        if MAX_LIFETIME:  # a timer, not a check on the request path: it fires wherever
            signal.signal(signal.SIGALRM, lambda *_: self.shutdown())  # PID 1 is blocked
            signal.setitimer(signal.ITIMER_REAL, MAX_LIFETIME)
        seed_matplotlib()
        writable = os.access(WORKSPACE, os.W_OK)
        self.start_worker()
        self.send({"id": 0, "ok": True, "event": "ready", "workspace_writable": writable,
                   "python": sys.version.split()[0], "uid": os.getuid()})
        while True:
            while self.queue:
                self.handle(self.queue.pop(0))
            try:
                ready, _, _ = select.select([self.proto_in, self.wake_r], [], [], 1.0)
            except InterruptedError:
                continue
            if self.wake_r in ready:
                self.reap()
            if self.proto_in in ready and not self.read_requests():
                self.shutdown()


def cap_files(files: list[str], max_chars: int) -> list[str]:
    """The changed-files list within FILES_MAX names and `max_chars` characters in all."""
    out, used = [], 0
    for name in files[:FILES_MAX]:
        used += len(name) + 2
        if used > max_chars:
            break
        out.append(name)
    return out


def main(cfg: dict[str, Any]) -> None:
    """Configure from the host's settings and serve until stdin closes."""
    global MAX_LIFETIME, GRACE, MAX_TRANSFER
    MAX_LIFETIME = float(cfg.get("max_lifetime") or 0)
    GRACE = float(cfg.get("interrupt_grace", 1.0))
    MAX_TRANSFER = int(cfg.get("max_transfer", 64 << 20))
    Supervisor().serve()
