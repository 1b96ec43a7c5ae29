"""Result and error types returned by the sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ExecError", "ExecResult", "SandboxError"]


class SandboxError(RuntimeError):
    """The sandbox could not do what was asked (daemon, image, container or protocol trouble)."""


@dataclass(frozen=True)
class ExecError:
    """An error raised by (or imposed on) the executed code."""

    type: str
    message: str
    traceback: str = ""

    def __str__(self) -> str:
        if self.traceback:
            return self.traceback.rstrip("\n")
        return f"{self.type}: {self.message}" if self.message else self.type

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ExecError | None:
        if not data:
            return None
        return cls(
            type=str(data.get("type", "Error")),
            message=str(data.get("message", "")),
            traceback=str(data.get("traceback", "")),
        )


@dataclass(frozen=True)
class ExecResult:
    """Outcome of one `run_python` / `run_shell` call.

    `value` is the repr of a trailing expression (Python only); `error` is None on success;
    `exit_code` is 0 on success, the `sys.exit`/shell status, or -signal when killed;
    `state_lost` tells that the interpreter (or the whole container) was restarted, so
    variables and imports from earlier calls are gone; `files` lists workspace paths
    (relative to the workspace) created or changed by the call.
    """

    stdout: str = ""
    stderr: str = ""
    value: str | None = None
    error: ExecError | None = None
    exit_code: int = 0
    timed_out: bool = False
    truncated: bool = False
    state_lost: bool = False
    files: list[str] = field(default_factory=list)
    duration: float = 0.0
    oom_killed: bool = False

    @property
    def ok(self) -> bool:
        """True when the code ran to completion without an error."""
        return self.error is None and self.exit_code == 0 and not self.timed_out
