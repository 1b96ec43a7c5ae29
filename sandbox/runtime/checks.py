"""PID 1's checks of the frozen worker between calls: nothing of a finished call may act in
a later one (threads, code running on after its reply, replaced pipes, C-level signal
handlers). Loaded in the container as ``agentkit_sandbox_checks``."""

from __future__ import annotations

import os
import signal
import time

from agentkit_sandbox_common import freeze, is_alive, threads

IDLE_WAIT = 1.0  # after its reply the interpreter must be back in its request read by then
IDLE_SLACK = 0x100
Signature = tuple[bytes, ...]


def idle(pid: int, req_fd: int) -> Signature | None:
    """(syscall, fd, stack pointer) of the worker's main thread when it is blocked reading its
    request pipe, else None. The request loop always waits at the same place; user code
    reading that pipe (after forging a reply, in a signal handler) does it from deeper in the
    stack, which tells them apart."""
    try:
        with open(f"/proc/{pid}/syscall", "rb") as fh:
            fields = fh.read().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[1] != b"0x%x" % req_fd:
        return None
    return fields[0], fields[1], fields[-2]


def same_place(sig: Signature, ref: Signature | None) -> bool:
    """`sig` is the idle read `ref` (None: the first one, no user code ran yet): same syscall
    and descriptor, stack pointer within IDLE_SLACK bytes (the interpreter's specialisation
    moves it a little; user code waiting on the pipe is at least one C-level evaluation,
    some 0x200 bytes, deeper)."""
    if ref is None:
        return True
    if sig[0] != ref[0] or sig[1] != ref[1]:
        return False
    return abs(int(sig[2], 16) - int(ref[2], 16)) <= IDLE_SLACK


def wait_idle(pid: int, req_fd: int, ref: Signature | None, timeout: float) -> Signature | None:
    deadline = time.monotonic() + timeout
    delay = 0.00002
    while True:
        sig = idle(pid, req_fd)
        if sig is not None and same_place(sig, ref):
            return sig
        if time.monotonic() > deadline:
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.005)


def inspect_worker(pid: int, req_fd: int, pipes: dict[int, int],
                   ref: Signature | None) -> tuple[str, Signature | None]:
    """Freeze the worker and check it: ("", its idle signature) when all is well, else
    (why not, None). `pipes` maps its descriptors to their pipes' inodes."""
    if not is_alive(pid):
        return "", None
    sig = wait_idle(pid, req_fd, ref, IDLE_WAIT)
    if not freeze(pid):
        return "it could not be stopped", None
    if [tid for tid, _ in threads(pid)] != [str(pid)]:
        return "threads were still running at the end of the call (join them first)", None
    if sig is None or idle(pid, req_fd) != sig:
        return "its code went on running after the call's reply", None
    for fd, ino in pipes.items():
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != f"pipe:[{ino}]":
                raise OSError
        except OSError:
            return "its request or reply pipe was replaced", None
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            caught = next(ln for ln in fh if ln.startswith(b"SigCgt:")).split()[1]
    except (OSError, StopIteration, IndexError):
        return "its state could not be read", None
    if int(caught, 16) & ~(1 << (signal.SIGINT - 1)):
        return "signal handlers were installed outside Python's signal module", None
    return "", sig
