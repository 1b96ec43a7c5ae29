"""`DockerSandbox`: one long-lived, locked-down container running the persistent executor."""

from __future__ import annotations

import base64
import binascii
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import anyio
import anyio.from_thread

from agentkit.telemetry import hooks as telemetry

from . import container as ct
from .channel import Channel, ChannelClosed, open_channel
from .image import default_image
from .result import ExecError, ExecResult, ProtocolError, SandboxError, result_from_reply

__all__ = ["DockerSandbox", "SyncDockerSandbox"]

log = logging.getLogger("agentkit.sandbox")

T = TypeVar("T")
_reaped = False
_reap_lock = threading.Lock()


async def _thread(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(fn, *args)


def _reap_once() -> None:
    """Reap orphaned sandbox containers once per process (at the first start; any loop)."""
    global _reaped
    with _reap_lock:
        if not _reaped:
            ct.reap_orphans()
            _reaped = True


class DockerSandbox:
    """A persistent, locked-down code sandbox in one Docker container.

    Safe defaults: no network, non-root user, all capabilities dropped, no-new-privileges,
    read-only root filesystem, size-limited tmpfs /tmp and /workspace, memory/CPU/pids limits,
    per-call output cap and timeout enforced inside the container (plus a host-side guard).
    `workspace` mounts a host directory at /workspace instead of the tmpfs (it must be writable
    by `user`; its total size is not limited, each file is: `max_file_size`, the ``fsize``
    ulimit, "1g" by default, None for none). No process outlives a call. If the container dies
    it is replaced on the next call, which then reports ``state_lost``.
    """

    IDLE_PROBE = 1.0  # seconds idle after which a call first checks the executor is alive

    def __init__(
        self,
        image: str | None = None,
        workspace: str | os.PathLike[str] | None = None,
        network: bool | str = False,
        memory: str | int = "1g",
        cpus: float = 1.0,
        pids: int = 256,
        timeout: float = 30,
        *,
        max_output: int = 1 << 20,
        tmp_size: str = "256m",
        workspace_size: str = "1g",
        user: str = "1000:1000",
        env: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        max_lifetime: float | None = 6 * 3600,
        interrupt_grace: float = 1.0,
        start_timeout: float = 60.0,
        host_guard: float = 10.0,
        max_transfer: int = 64 << 20,
        max_file_size: str | int | None = "1g",
        file_timeout: float = 60.0,
    ) -> None:
        if timeout <= 0 or max_output <= 0 or file_timeout <= 0:
            raise ValueError("timeout, max_output and file_timeout must be positive")
        self.image = image or default_image()
        self.workspace = str(Path(workspace).resolve()) if workspace is not None else None
        self.timeout = float(timeout)
        self.max_output = int(max_output)
        self.interrupt_grace = float(interrupt_grace)
        self.start_timeout = float(start_timeout)
        self.host_guard = float(host_guard)
        self.max_transfer = int(max_transfer)
        self.file_timeout = float(file_timeout)
        self.max_file_size = ct.parse_size(max_file_size) if max_file_size is not None else None
        self.max_lifetime = max_lifetime
        self.user = user
        self._spec_args: dict[str, Any] = dict(
            network=network, memory=memory, cpus=cpus, pids=pids, tmp_size=tmp_size,
            workspace_size=workspace_size, user=user, env=dict(env or {}),
            labels=dict(labels or {}), max_file_size=self.max_file_size,
        )
        self.container_id: str | None = None
        self._channel: Channel | None = None
        self._lock = anyio.Lock()
        self._next_id = 1
        self._closed = False
        self._lost_pending = False
        self._used = False
        self._last_reply = 0.0
        self.info: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> DockerSandbox:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Create and start the container and wait until the executor is ready (optional:
        the first call starts it otherwise)."""
        if self._closed:
            raise SandboxError("this sandbox is closed")
        async with self._lock:
            if self._channel is None or self._channel.closed:
                await self._teardown()
                await self._boot()

    def _spec(self) -> ct.ContainerSpec:
        if self.workspace is not None and not os.path.isdir(self.workspace):
            raise SandboxError(f"workspace {self.workspace!r} is not a directory")
        command = ct.executor_command({
            "max_lifetime": self.max_lifetime or 0,
            "interrupt_grace": self.interrupt_grace,
            "max_transfer": self.max_transfer,
        })
        return ct.ContainerSpec(image=self.image, command=command, workspace=self.workspace,
                                **self._spec_args)

    async def _boot(self) -> None:
        if not _reaped:
            await _thread(_reap_once)
        spec = self._spec()
        # Docker calls run in threads that cancellation cannot stop: shield them so that a
        # container created or started while the caller is cancelled is always removed.
        with anyio.CancelScope(shield=True):
            cid = await _thread(ct.create_container, spec)
        self.container_id = cid
        try:
            channel = await open_channel(cid, ct.api_version())
            try:
                with anyio.CancelScope(shield=True):
                    await _thread(ct.start_container, cid)
                with anyio.fail_after(self.start_timeout):
                    ready = await channel.receive()
            except BaseException:
                await channel.aclose()
                raise
        except BaseException as exc:
            self.container_id = None
            with anyio.CancelScope(shield=True):
                await _thread(ct.remove_container, cid)
            if isinstance(exc, TimeoutError):
                raise SandboxError("the sandbox executor did not start in time") from exc
            raise
        if ready.get("event") != "ready":
            await channel.aclose()
            await _thread(ct.remove_container, cid)
            raise SandboxError(f"unexpected first message from the executor: {ready!r}")
        self.info = ready
        self._channel = channel
        log.debug("sandbox container %s started (image %s)", cid, self.image)
        self._last_reply = time.monotonic()
        if self.workspace is not None and not ready.get("workspace_writable"):
            await self._teardown()
            raise SandboxError(
                f"workspace {self.workspace} is not writable by the sandbox user "
                f"({self.user}); chown or chmod it"
            )

    async def _teardown(self) -> None:
        channel, cid = self._channel, self.container_id
        self._channel, self.container_id = None, None
        with anyio.CancelScope(shield=True):
            if channel is not None:
                await channel.aclose()  # stdin EOF: the executor exits (dead-man switch)
            if cid is not None:
                await _thread(ct.remove_container, cid)
                log.debug("sandbox container %s removed", cid)

    async def restart(self) -> None:
        """Replace the container with a fresh one: all state and tmpfs files are discarded."""
        if self._closed:
            raise SandboxError("this sandbox is closed")
        async with self._lock:
            await self._teardown()
            await self._boot()
            self._used = self._lost_pending = False

    async def close(self) -> None:
        """Stop and remove the container. Idempotent."""
        self._closed = True
        await self._teardown()

    @property
    def running(self) -> bool:
        return self._channel is not None and not self._channel.closed

    # ------------------------------------------------------------------ calls
    async def _request(self, msg: dict[str, Any], guard: float) -> dict[str, Any]:
        """Send one request and wait for its reply (lock held by the caller).

        A container found dead before the request is sent (killed, max lifetime reached) is
        replaced first, and the call reports ``state_lost`` when it had been used.
        """
        if self._closed:
            raise SandboxError("this sandbox is closed")
        if (
            self._channel is not None
            and not self._channel.closed
            and time.monotonic() - self._last_reply > self.IDLE_PROBE
        ):
            try:  # after idling, make sure the executor is still there (about 1 ms)
                await self._roundtrip(self._channel, {"op": "ping"}, 5.0)
            except (ChannelClosed, TimeoutError):
                self._channel.closed = True
        if self._channel is None or self._channel.closed:
            await self._teardown()
            await self._boot()
            self._lost_pending = self._lost_pending or self._used
        assert self._channel is not None
        if msg.get("op") != "ping":
            self._used = True
        return await self._roundtrip(self._channel, msg, guard)

    async def _roundtrip(self, channel: Channel, msg: dict[str, Any],
                         guard: float) -> dict[str, Any]:
        rid = self._next_id
        self._next_id += 1
        try:
            await channel.send({**msg, "id": rid})
            with anyio.fail_after(guard):
                while True:
                    reply = await channel.receive()
                    if reply.get("id") == rid:
                        self._last_reply = time.monotonic()
                        return reply
                    # stale replies of cancelled calls are dropped here
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                await channel.send({"op": "cancel", "target": rid, "id": None})
            raise

    # `timeout` is the API the issue fixes; it is enforced inside the container (ASYNC109).
    async def _exec(
        self, op: str, payload: dict[str, Any], timeout: float | None  # noqa: ASYNC109
    ) -> ExecResult:
        limit = float(timeout) if timeout is not None else self.timeout
        if limit <= 0:
            raise ValueError("timeout must be positive")
        started = time.monotonic()
        msg = {"op": op, "timeout": limit, "max_output": self.max_output, **payload}
        guard = limit + self.interrupt_grace + self.host_guard
        async with self._lock:
            lost_before = self._lost_pending
            self._lost_pending = False
            try:
                reply = await self._request(msg, guard)
            except TimeoutError:
                # host-side guard: the executor stopped answering; replace the container
                await self._teardown()
                self._lost_pending = False
                return ExecResult(
                    error=ExecError("TimeoutError", f"no answer within {guard:g} s; the sandbox "
                                    "was restarted (host-side guard)"),
                    exit_code=-9, timed_out=True, state_lost=True,
                    duration=time.monotonic() - started,
                )
            except ChannelClosed as exc:
                await self._teardown()
                return ExecResult(
                    error=ExecError("SandboxError", f"{exc}; it will be restarted on the next "
                                    "call (workspace files in the tmpfs are lost)"),
                    exit_code=-9, state_lost=True, duration=time.monotonic() - started,
                )
            lost_before = lost_before or self._lost_pending
            self._lost_pending = False
            if not reply.get("ok"):
                raise SandboxError(str(reply.get("error", "executor error")))
            try:
                return result_from_reply(reply, max_output=self.max_output, lost_before=lost_before,
                                         duration=time.monotonic() - started)
            except ProtocolError as exc:  # never expected: the executor checks what it sends
                await self._teardown()
                return ExecResult(
                    error=ExecError("SandboxError", f"{exc}; the sandbox was restarted"),
                    exit_code=-9, state_lost=True, duration=time.monotonic() - started,
                )

    async def run_python(
        self, code: str, timeout: float | None = None  # noqa: ASYNC109
    ) -> ExecResult:
        """Run Python in the persistent interpreter; a trailing expression's repr is `value`."""
        return await self._observed("python", {"code": code}, timeout)

    async def run_shell(
        self, command: str, timeout: float | None = None  # noqa: ASYNC109
    ) -> ExecResult:
        """Run `bash -c command` in /workspace (stateless: a fresh shell per call, no login
        shell, no rc or profile files)."""
        return await self._observed("shell", {"command": command}, timeout)

    async def _observed(
        self, op: str, payload: dict[str, Any], timeout: float | None  # noqa: ASYNC109
    ) -> ExecResult:
        """`_exec` in a `sandbox.exec {op}` span (inside a tool: a child of its span)."""
        with telemetry.span(f"sandbox.exec {op}", {"agentkit.sandbox.op": op,
                                                  "container.image.name": self.image}) as sp:
            result = await self._exec(op, payload, timeout)
            log.debug("sandbox %s %s: exit %d in %.3fs%s", op, self.container_id,
                      result.exit_code, result.duration, " (timed out)" * result.timed_out)
            if sp.is_recording():
                sp.set_attributes({
                    "container.id": self.container_id or "",
                    "agentkit.sandbox.exit_code": result.exit_code,
                    "agentkit.sandbox.timed_out": result.timed_out,
                    "agentkit.sandbox.state_lost": result.state_lost,
                    "agentkit.sandbox.duration": result.duration,
                    "agentkit.sandbox.error": result.error.type if result.error else ""})
                if telemetry.capture_content():
                    sp.set_attribute("agentkit.sandbox.code",
                                     telemetry.clip(next(iter(payload.values()))))
            return result

    async def _file_op(self, msg: dict[str, Any]) -> dict[str, Any]:
        guard = self.host_guard + self.file_timeout
        async with self._lock:
            try:
                reply = await self._request(msg, guard)
            except TimeoutError:
                await self._teardown()  # the next call starts a fresh one (state_lost)
                raise SandboxError(f"the sandbox did not answer the {msg['op']} of "
                                   f"{msg.get('path')!r} within {guard:g} s; it was restarted "
                                   "(workspace files in the tmpfs are lost)") from None
            except ChannelClosed as exc:
                await self._teardown()
                raise SandboxError(str(exc)) from exc
        if not reply.get("ok"):
            err = str(reply.get("error", "executor error"))
            for name, cls in (("FileNotFoundError", FileNotFoundError),
                              ("PermissionError", PermissionError),
                              ("IsADirectoryError", IsADirectoryError)):
                if err.startswith(name):
                    raise cls(err.partition(": ")[2] or err)
            raise SandboxError(err)
        return reply

    async def upload(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        """Write `data` to `path` (relative to /workspace) inside the sandbox."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        if len(raw) > self.max_transfer:
            raise ValueError(f"upload is larger than max_transfer ({self.max_transfer} bytes)")
        await self._file_op({"op": "put", "path": path, "mode": mode,
                             "data": base64.b64encode(raw).decode()})

    async def download(self, path: str) -> bytes:
        """Read `path` (relative to /workspace) from inside the sandbox (symlinks not followed
        out of the workspace; the read happens in the container, never on the host)."""
        reply = await self._file_op({"op": "get", "path": path})
        data = reply.get("data")
        try:
            if not isinstance(data, str):
                raise ValueError("no data")
            raw = base64.b64decode(data, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise ProtocolError(f"malformed download reply from the sandbox executor: {exc}") \
                from None
        if len(raw) > self.max_transfer:  # the executor refuses these; never trust blindly
            raise SandboxError(f"{path!r} is larger than max_transfer ({self.max_transfer} "
                               "bytes)")
        return raw

    async def ping(self) -> bool:
        """True when the executor answers (used by the pool before handing a sandbox out)."""
        if not self.running:
            return False
        async with self._lock:
            try:
                reply = await self._request({"op": "ping"}, 5)
            except (ChannelClosed, TimeoutError):
                return False
        return bool(reply.get("ok"))

    @classmethod
    def sync(cls, *args: Any, **kwargs: Any) -> SyncDockerSandbox:
        """A blocking wrapper (see `SyncDockerSandbox`)."""
        return SyncDockerSandbox(*args, **kwargs)


class SyncDockerSandbox:
    """Blocking wrapper for scripts: runs a `DockerSandbox` on a private event-loop thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._cm.__enter__()
        self.sandbox = DockerSandbox(*args, **kwargs)

    def __enter__(self) -> SyncDockerSandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._portal.call(self.sandbox.start)

    def run_python(self, code: str, timeout: float | None = None) -> ExecResult:
        return self._portal.call(self.sandbox.run_python, code, timeout)

    def run_shell(self, command: str, timeout: float | None = None) -> ExecResult:
        return self._portal.call(self.sandbox.run_shell, command, timeout)

    def upload(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        self._portal.call(self.sandbox.upload, path, data, mode)

    def download(self, path: str) -> bytes:
        return self._portal.call(self.sandbox.download, path)

    def close(self) -> None:
        if self._portal is None:
            return
        try:
            self._portal.call(self.sandbox.close)
        finally:
            self._cm.__exit__(None, None, None)
            self._portal = None  # type: ignore[assignment]
