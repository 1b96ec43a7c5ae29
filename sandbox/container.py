"""Docker SDK side of the sandbox (blocking; callers run these in worker threads).

Containers are labelled with their owning process: host name, boot id, PID namespace, pid and
start time (``agentkit.owner_*``), so that `reap_orphans` removes only those whose owner is
certainly dead; together with the executor's own dead-man switch (stdin EOF, max lifetime
timer) and ``auto_remove`` nothing outlives its host for long.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .result import SandboxError

__all__ = [
    "LABEL",
    "ContainerSpec",
    "create_container",
    "docker_client",
    "executor_command",
    "owner_is_dead",
    "owner_labels",
    "parse_size",
    "reap_orphans",
    "remove_container",
]

LABEL = "agentkit.sandbox"
# Docker's default masked paths plus host details the sandbox need not show (kernel command
# line, host memory and devices, hardware ids); see README.md for what stays visible
MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
    "/proc/cmdline", "/proc/meminfo", "/proc/vmstat", "/proc/zoneinfo", "/proc/buddyinfo",
    "/proc/pagetypeinfo", "/proc/slabinfo", "/proc/swaps", "/proc/iomem", "/proc/ioports",
    "/proc/modules", "/proc/config.gz", "/proc/partitions", "/proc/diskstats",
    "/proc/interrupts", "/proc/softirqs", "/proc/locks", "/proc/mtrr", "/proc/kallsyms",
    "/proc/devices", "/proc/misc", "/proc/crypto", "/proc/vmallocinfo",
    "/sys/devices/virtual/dmi", "/sys/class/dmi", "/sys/kernel", "/sys/module",
    "/sys/block", "/sys/class/block", "/sys/bus", "/sys/hypervisor",
]
RUNTIME = Path(__file__).resolve().parent / "runtime"
_client: Any = None
_client_lock = threading.Lock()


def docker_client() -> Any:
    """A process-wide Docker SDK client (created on first use)."""
    global _client
    with _client_lock:
        if _client is None:
            import docker
            import docker.errors

            try:
                client = docker.from_env(timeout=120)
                client.ping()
            except docker.errors.DockerException as exc:
                raise SandboxError(
                    f"cannot reach the Docker daemon ({exc}); is it running? "
                    "Try `agentkit sandbox doctor`."
                ) from exc
            _client = client
        return _client


def executor_command(config: dict[str, Any]) -> list[str]:
    """The container command: the bootstrap loader plus the runtime sources and config (the
    runtime is not baked into the image, so editing it needs no rebuild)."""
    modules = {name: (RUNTIME / f"{name}.py").read_text()
               for name in ("common", "checks", "files", "worker", "supervisor")}
    payload = json.dumps({"modules": modules, "config": config})
    return ["python3", "-I", "-B", "-c", (RUNTIME / "bootstrap.py").read_text(), payload]


def parse_size(size: str | int) -> int:
    """Bytes in a Docker-style size: an int, or "512k", "64m", "1g" (powers of 1024)."""
    if isinstance(size, int) and not isinstance(size, bool):
        value = size
    else:
        match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)b?\s*", str(size), re.IGNORECASE)
        if match is None:
            raise ValueError(f"bad size {size!r}: use bytes or a number with k, m, g or t")
        value = int(match[1]) * 1024 ** " kmgt".index(match[2].lower() or " ")
    if value <= 0:
        raise ValueError(f"size {size!r} must be positive")
    return value


def _proc_start(pid: int) -> str | None:
    """Start time of a process (clock ticks since boot), to tell a live owner from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()[19].decode()


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _pid_namespace() -> str:
    """This process's PID namespace ("pid:[4026531836]"): pids mean something only in it."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def owner_labels() -> dict[str, str]:
    pid = os.getpid()
    return {
        LABEL: "1",
        "agentkit.owner_pid": str(pid),
        "agentkit.owner_host": socket.gethostname(),
        "agentkit.owner_start": _proc_start(pid) or "",
        "agentkit.owner_boot": _boot_id(),
        "agentkit.owner_pidns": _pid_namespace(),
    }


def owner_is_dead(labels: dict[str, str]) -> bool:
    """True only when the labelled owner process is certainly gone: it ran on this kernel
    since its last boot and in our PID namespace (else its pid means nothing here, e.g. an
    agentkit in another container sharing the Docker socket), and that pid is now free or
    belongs to a later process. Unknown or missing labels: it may be alive."""
    me = owner_labels()
    for key in ("agentkit.owner_host", "agentkit.owner_boot", "agentkit.owner_pidns"):
        if not me[key] or labels.get(key) != me[key]:
            return False
    try:
        pid = int(labels.get("agentkit.owner_pid", ""))
    except ValueError:
        return False
    start = labels.get("agentkit.owner_start", "")
    if pid <= 0 or not start:
        return False
    return _proc_start(pid) != start


@dataclass
class ContainerSpec:
    """Everything needed to create one sandbox container."""

    image: str
    command: list[str]
    workspace: str | None = None
    network: bool | str = False
    memory: str | int = "1g"
    cpus: float = 1.0
    pids: int = 256
    tmp_size: str = "256m"
    workspace_size: str = "1g"
    user: str = "1000:1000"
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    read_only: bool = True
    nofile: int = 1024
    max_file_size: int | None = 1 << 30  # RLIMIT_FSIZE in bytes (None: unlimited)


def _uid_gid(user: str) -> tuple[str, str]:
    uid, _, gid = user.partition(":")
    return uid, gid or uid


def create_container(spec: ContainerSpec) -> str:
    """Create (not start) a locked-down container; returns its id."""
    import docker.errors
    from docker.types import LogConfig, Ulimit

    client = docker_client()
    uid, gid = _uid_gid(spec.user)
    tmpfs = {"/tmp": f"size={spec.tmp_size},mode=1777,exec,nosuid,nodev"}
    binds: dict[str, dict[str, str]] = {}
    if spec.workspace is None:
        tmpfs["/workspace"] = (
            f"size={spec.workspace_size},mode=0755,uid={uid},gid={gid},exec,nosuid,nodev"
        )
    else:
        binds[spec.workspace] = {"bind": "/workspace", "mode": "rw"}
    if spec.network is False:
        network_mode = "none"
    elif spec.network is True:
        network_mode = "bridge"
    else:
        network_mode = str(spec.network)
    host_config = client.api.create_host_config(
        network_mode=network_mode,
        mem_limit=spec.memory,
        memswap_limit=spec.memory,
        nano_cpus=int(spec.cpus * 1e9),
        pids_limit=spec.pids,
        read_only=spec.read_only,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        tmpfs=tmpfs,
        binds=binds or None,
        auto_remove=True,
        ulimits=[
            Ulimit(name="core", soft=0, hard=0),
            Ulimit(name="nofile", soft=spec.nofile, hard=spec.nofile),
            *([Ulimit(name="fsize", soft=spec.max_file_size, hard=spec.max_file_size)]
              if spec.max_file_size is not None else []),
        ],
        shm_size="16m",
        # stdout is the protocol channel: a log driver would keep every reply (downloads
        # included) on the host's disk
        log_config=LogConfig(type=LogConfig.types.NONE),
    )
    host_config["MaskedPaths"] = MASKED_PATHS
    host_config["CgroupnsMode"] = "private"  # /proc/self/cgroup: "/", not the container id
    try:
        created = client.api.create_container(
            spec.image,
            command=spec.command,
            user=spec.user,
            working_dir="/workspace",
            stdin_open=True,  # with detach=False this also sets StdinOnce (dead-man switch)
            tty=False,
            environment=spec.env,
            labels={**spec.labels, **owner_labels()},
            host_config=host_config,
            hostname="sandbox",
            network_disabled=network_mode == "none",
        )
    except docker.errors.ImageNotFound as exc:
        raise SandboxError(
            f"sandbox image {spec.image!r} is missing: run `agentkit sandbox build` "
            "(or `python -m agentkit.sandbox build --offline` on an air-gapped host)"
        ) from exc
    except docker.errors.APIError as exc:
        raise SandboxError(f"cannot create the sandbox container: {exc}") from exc
    return str(created["Id"])


def start_container(container_id: str) -> None:
    import docker.errors

    try:
        docker_client().api.start(container_id)
    except docker.errors.APIError as exc:
        raise SandboxError(f"cannot start the sandbox container: {exc}") from exc


def remove_container(container_id: str, wait: float = 10.0) -> None:
    """Kill and remove; a container that is already gone (auto-removed) is fine. When its
    removal is already in progress (auto_remove), wait up to `wait` s until it is gone."""
    import docker.errors

    api = docker_client().api
    try:
        api.remove_container(container_id, force=True)
        return
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as exc:
        if exc.status_code != 409:  # 409: removal already in progress (auto_remove)
            raise
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            api.inspect_container(container_id)
        except docker.errors.NotFound:
            return
        time.sleep(0.02)


def api_version() -> str:
    return str(docker_client().api.api_version)


def list_sandboxes(label: str | None = None) -> list[dict[str, Any]]:
    """Sandbox containers (running or not), optionally only those carrying `label`."""
    filters = [f"{LABEL}=1"] + ([label] if label else [])
    return list(docker_client().api.containers(all=True, filters={"label": filters}))


def reap_orphans() -> list[str]:
    """Remove sandbox containers whose owner process is certainly gone (`owner_is_dead`);
    return their ids. A container whose owner may be alive is never touched."""
    reaped = []
    for info in list_sandboxes():
        if not owner_is_dead(info.get("Labels") or {}):
            continue
        remove_container(info["Id"])
        reaped.append(str(info["Id"]))
    return reaped
