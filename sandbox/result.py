"""Result and error types returned by the sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ExecError", "ExecResult", "ProtocolError", "SandboxError", "result_from_reply"]

VALUE_LIMIT = 20000 + 200  # the executor caps values at 20000 characters plus a note
_NOTE = 200  # room for the executor's truncation notices
FILES_MAX = 1000


class SandboxError(RuntimeError):
    """The sandbox could not do what was asked (daemon, image, container or protocol trouble)."""


class ProtocolError(SandboxError):
    """The executor sent a reply that does not follow the protocol."""


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


def _field(reply: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = reply.get(key, default)
    if value is None and default is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"malformed reply from the sandbox executor: {key!r} is "
                            f"{type(value).__name__}, not {getattr(kind, '__name__', kind)}")
    return value


def result_from_reply(reply: dict[str, Any], *, max_output: int, duration: float,
                      lost_before: bool = False) -> ExecResult:
    """Build an `ExecResult` from an executor reply, checking every field's type (a malformed
    reply raises `ProtocolError`, never a bare ValueError) and enforcing the output caps."""
    stdout = _field(reply, "stdout", str, "")
    stderr = _field(reply, "stderr", str, "")
    value = _field(reply, "value", str, None)
    exit_code = _field(reply, "exit_code", int, 0)
    err = _field(reply, "error", dict, None)
    if err is not None:
        for key in ("type", "message", "traceback"):
            _field(err, key, str, "")
    files = _field(reply, "files", list, [])
    if not all(isinstance(f, str) for f in files):
        raise ProtocolError("malformed reply from the sandbox executor: 'files' holds non-strings")
    kept, used = [], 0  # the executor caps the list too: FILES_MAX names, max_output chars
    for name in files[:FILES_MAX]:
        used += len(name) + 2
        if used > max_output:
            break
        kept.append(name)
    files = kept
    truncated = bool(_field(reply, "truncated", bool, False))
    room = max_output + 2 * _NOTE
    if len(stdout) + len(stderr) > room:  # the executor enforces this; never trust blindly
        stdout, stderr, truncated = stdout[:room], stderr[: max(0, room - len(stdout))], True
    if value is not None and len(value) > VALUE_LIMIT:
        value, truncated = value[:VALUE_LIMIT], True
    return ExecResult(
        stdout=stdout,
        stderr=stderr,
        value=value,
        error=ExecError.from_dict(err),
        exit_code=exit_code,
        timed_out=_field(reply, "timed_out", bool, False),
        truncated=truncated,
        state_lost=_field(reply, "state_lost", bool, False) or lost_before,
        files=files,
        duration=duration,
        oom_killed=_field(reply, "oom_killed", bool, False),
    )
