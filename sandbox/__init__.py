"""Docker sandbox: persistent, locked-down, fast code execution.

Public API (stable; the built-in tools build on it)::

    from agentkit.sandbox import DockerSandbox, ExecResult

    async with DockerSandbox(network=False, memory="1g", cpus=1.0, pids=256, timeout=30) as sb:
        r: ExecResult = await sb.run_python("x = 1\\nx + 1", timeout=None)   # r.value == "2"
        r = await sb.run_shell("ls -la", timeout=None)                       # stateless
        await sb.upload("data/in.csv", b"a,b\\n1,2\\n")                      # workspace-relative
        data: bytes = await sb.download("data/in.csv")
    # or: sb = DockerSandbox(); await sb.start(); ...; await sb.close()  (close is idempotent)
    # await sb.restart(): a fresh container (state and tmpfs files discarded)

    with SyncDockerSandbox() as sb:                 # blocking wrapper for scripts
        print(sb.run_python("print('hi')").stdout)

    async with SandboxPool(size=2) as pool:        # warm sandboxes, refilled in the background
        async with pool.sandbox() as sb: ...        # or: sb = await pool.acquire(); ...close()

`ExecResult` fields: stdout, stderr, value, error (ExecError | None), exit_code, timed_out,
truncated, state_lost, files, duration (+ oom_killed).  Images: `DEFAULT_IMAGE`,
`ensure_image()`, `build_image(offline=...)`; CLI: `python -m agentkit.sandbox build|doctor`.
Nothing here imports the Docker SDK until a sandbox starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentkit.lazy import lazy_exports

if TYPE_CHECKING:
    from .image import DEFAULT_IMAGE, build_image, default_image, ensure_image
    from .pool import SandboxPool
    from .result import ExecError, ExecResult, SandboxError
    from .sandbox import DockerSandbox, SyncDockerSandbox

__all__ = [
    "DEFAULT_IMAGE",
    "DockerSandbox",
    "ExecError",
    "ExecResult",
    "SandboxError",
    "SandboxPool",
    "SyncDockerSandbox",
    "build_image",
    "default_image",
    "ensure_image",
]

_WHERE = {
    "DEFAULT_IMAGE": "image",
    "build_image": "image",
    "default_image": "image",
    "ensure_image": "image",
    "SandboxPool": "pool",
    "ExecError": "result",
    "ExecResult": "result",
    "SandboxError": "result",
    "DockerSandbox": "sandbox",
    "SyncDockerSandbox": "sandbox",
}

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
