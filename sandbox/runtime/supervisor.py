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
* Shell commands run as ``bash --noprofile --norc -c`` in a fresh session per call.
* Nothing runs between calls: after each call every process but PID 1 and the worker is
  SIGKILLed, whatever its state (detached ``setsid`` loops, stopped processes, leaders that
  left by ``SYS_exit`` while their threads run) and the worker is SIGSTOPped until the next
  Python call, so the workspace cannot change under file operations. The frozen worker must
  be single-threaded, blocked in its one idle read, with its original pipes and no C-level
  signal handlers (`check_worker`), else it is replaced: no code of a call sees a later one.
* The worker's replies are paired with their request by a per-call nonce and type-checked
  and capped here: user code shares the worker's process and can write to the reply pipe.
* Every write of PID 1 has a deadline. Dead-man switch: EOF on stdin (the host went away)
  ends the container, and so does ``max_lifetime``, an interval timer that fires wherever
  PID 1 is blocked.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import signal
import sys
import time
from typing import Any

from agentkit_sandbox_checks import inspect_worker, wait_idle
from agentkit_sandbox_common import (
    VALUE_MAX,
    WORKSPACE,
    Capture,
    Child,
    ReplyReader,
    changed_files,
    clean_reply,
    error,
    is_alive,
    nonblock,
    oom_kills,
    proc_state,
    scan_workspace,
    set_dumpable,
    signal_name,
    write_all,
)
from agentkit_sandbox_files import cap_files, get, put, seed_matplotlib
from agentkit_sandbox_worker import worker_main

MAX_LIFETIME = 0.0
GRACE = 1.0
MAX_TRANSFER = 64 << 20
SEND_TIMEOUT = 120.0  # the host reads every reply it waits for; longer means it is gone
SHELL = "/bin/bash"
SHELL_ENV_DROP = ("BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS")


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

    def check_worker(self, worker: Child) -> str:
        """Freeze the worker for the time between calls and make sure nothing of the call
        that just ended can act in a later one: "" when all is well, else why not (a dead
        worker is fine here: the next Python call notices it and reports the lost state)."""
        why, sig = inspect_worker(worker.pid, worker.req_fd, worker.pipes, self.idle_ref)
        if not why and self.idle_ref is None:
            self.idle_ref = sig
        self.reap()
        return "" if worker.pid in self.exited or not is_alive(worker.pid) else why

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
            self.idle_ref = wait_idle(worker.pid, worker.req_fd, None, 5.0)
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
                out = put(req)
            elif op == "get":
                out = get(req, MAX_TRANSFER)
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


def main(cfg: dict[str, Any]) -> None:
    """Configure from the host's settings and serve until stdin closes."""
    global MAX_LIFETIME, GRACE, MAX_TRANSFER
    MAX_LIFETIME = float(cfg.get("max_lifetime") or 0)
    GRACE = float(cfg.get("interrupt_grace", 1.0))
    MAX_TRANSFER = int(cfg.get("max_transfer", 64 << 20))
    Supervisor().serve()
