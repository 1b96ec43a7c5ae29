"""`code_tools()`: `code_interpreter` (stateful Python) and `shell` on a Docker sandbox.

By default each run gets its own sandbox, created on the first call and closed when the run
ends (also on error or cancellation) through `RunContext.exit_stack`. A sandbox passed in
is shared across runs and never closed by them; a factory (e.g. `pool.acquire`) gives each
run a fresh sandbox that the run closes.
"""

from __future__ import annotations

import inspect
import itertools
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from agentkit.context import RunContext
from agentkit.tooldef import ApprovalRule, Tool

if TYPE_CHECKING:
    from agentkit.sandbox import DockerSandbox, ExecResult

__all__ = ["code_tools", "share_workspace", "summarize_exec"]

SandboxFactory = Callable[[], "DockerSandbox | Awaitable[DockerSandbox]"]
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".bmp")
_groups = itertools.count(1)


def _clip(text: str, limit: int) -> str:
    """Keep the head and tail of `text`, saying how much was left out."""
    if len(text) <= limit:
        return text
    head = text[: limit * 2 // 3]
    tail = text[len(text) - (limit - len(head)):]
    omitted = len(text) - len(head) - len(tail)
    return f"{head}\n… [{omitted} characters omitted] …\n{tail}"


NAME_MAX = 200  # characters of one file name in a summary (the middle is cut)


def _names(label: str, names: list[str], limit: int) -> str:
    """`label` and as many (shortened) names as fit in `limit` characters, then "+N more"."""
    shown: list[str] = []
    used = len(label) + 30  # room for the "+N more" note
    for name in names:
        room = min(NAME_MAX, limit - used - 2)
        if room < min(12, len(name)):
            break
        if len(name) > room:
            name = name[: room // 2 - 1] + "…" + name[-(room // 2 - 1) :]
        shown.append(name)
        used += len(name) + 2
    more = len(names) - len(shown)
    text = label + ", ".join(shown) + (f" … (+{more} more)" if more else "")
    return text[:limit]


def _shares(sizes: list[int], budget: int) -> list[int]:
    """Split `budget` over parts of these sizes: small parts whole, the rest evenly."""
    shares = [0] * len(sizes)
    left, todo = budget, sorted(range(len(sizes)), key=lambda k: sizes[k])
    for n, k in enumerate(todo):
        shares[k] = min(sizes[k], max(0, left // (len(todo) - n)))
        left -= shares[k]
    return shares


def summarize_exec(result: ExecResult, *, kind: str = "python", max_chars: int = 8_000,
                   timeout: float | None = None) -> str:
    """What the model sees of an `ExecResult`: output, value, error, file lists and notices,
    all within `max_chars` characters in total (each part clipped with a notice)."""
    notes: list[str] = []
    if result.state_lost:
        notes.append("[note: the sandbox was restarted before this call; variables, imports "
                     "and temporary files from earlier calls are gone]")
    if result.truncated:
        notes.append("[output exceeded the sandbox's limit and was cut; print less, or write "
                     "large output to a file]")
    if result.timed_out:
        limit = f" ({timeout:g} s)" if timeout else ""
        notes.append(f"[timed out: the code ran longer than the time limit{limit} and was "
                     "stopped; make it faster or pass a larger timeout]")
    if result.oom_killed:
        notes.append("[killed: the sandbox ran out of memory; use less data at once]")
    texts: list[tuple[str, str]] = []  # (heading, body) of the parts that get clipped
    if result.stdout:
        texts.append(("stdout:\n", result.stdout.rstrip("\n")))
    if result.stderr:
        texts.append(("stderr:\n", result.stderr.rstrip("\n")))
    if result.value is not None:
        texts.append(("result: ", result.value))
    if result.error is not None and not (result.timed_out and kind == "shell"):
        texts.append(("error:\n", str(result.error)))
    elif kind == "shell" and result.exit_code != 0:
        notes.append(f"exit code: {result.exit_code}")
    images = [f for f in result.files if f.lower().endswith(IMAGE_EXTENSIONS)]
    others = [f for f in result.files if f not in images]
    lists = [(label, names) for label, names in (
        ("files created or changed (in /workspace): ", others),
        ("images saved (in /workspace): ", images)) if names]
    if not texts and not lists and not notes:
        if kind == "python":
            return ("(ran without output; print() values or end with an expression to see "
                    "its value)")
        return "(no output; exit code 0)"
    budget = max(0, max_chars - sum(len(n) + 1 for n in notes) - 60 * (len(texts) + 1))
    sizes = [len(h) + len(b) for h, b in texts] + [
        len(label) + sum(min(len(n), NAME_MAX) + 2 for n in names) + 30
        for label, names in lists]
    shares = _shares(sizes, budget)
    parts = [h + _clip(b, max(0, share - len(h)))
             for (h, b), share in zip(texts, shares[: len(texts)], strict=True)]
    parts += [_names(label, names, share)
              for (label, names), share in zip(lists, shares[len(texts):], strict=True)]
    order = notes[:1] if result.state_lost else []
    text = "\n".join(order + parts + notes[len(order):])
    if len(text) > max_chars:  # never expected: the shares above add up to less
        text = _clip(text, max(0, max_chars - 60))
    return text


def code_tools(
    sandbox: DockerSandbox | SandboxFactory | None = None,
    *,
    max_output_chars: int = 8_000,
    max_timeout: float = 600.0,
    needs_approval: ApprovalRule = False,
    **sandbox_options: Any,
) -> list[Tool]:
    """`code_interpreter` and `shell`, sharing one sandbox per run.

    `sandbox`: None (a `DockerSandbox(**sandbox_options)` per run, created lazily and
    closed when the run ends), a `DockerSandbox` (shared across runs, started on first use,
    never closed by a run), or a factory returning one (per run, closed by the run; e.g.
    `pool.acquire`). Output beyond `max_output_chars` is clipped with a notice.
    `needs_approval` (True, or `(ctx, arguments) -> bool`): a person approves each call.
    """
    group = next(_groups)
    key = f"agentkit.tools.sandbox#{group}"
    shared: DockerSandbox | None = None
    factory: SandboxFactory | None = None
    if sandbox is not None and hasattr(sandbox, "run_python"):
        shared = sandbox
    elif callable(sandbox):
        factory = sandbox
    elif sandbox is not None:
        raise TypeError("sandbox must be a DockerSandbox, a factory returning one, or None")
    if shared is not None and sandbox_options:
        raise TypeError("sandbox options cannot be combined with a sandbox instance")
    if factory is None and shared is None and sandbox_options:
        from agentkit.sandbox import DockerSandbox

        try:  # fail now, not at the model's first call
            inspect.signature(DockerSandbox).bind(**sandbox_options)
        except TypeError as exc:
            raise TypeError(f"invalid DockerSandbox option: {exc}") from None

    async def _new_sandbox() -> DockerSandbox:
        if factory is not None:
            made = factory()
            return await made if inspect.isawaitable(made) else made
        from agentkit.sandbox import DockerSandbox

        return DockerSandbox(**sandbox_options)

    async def get_sandbox(ctx: RunContext[Any] | None) -> DockerSandbox:
        from agentkit.sandbox import SandboxError

        if shared is not None:
            try:
                await shared.start()
            except SandboxError as exc:
                raise SandboxError(f"the code sandbox could not start: {exc}") from None
            return shared
        if ctx is None:
            raise RuntimeError("code tools need a run context (call them through an Agent) "
                               "or a sandbox passed to code_tools(sandbox=...)")
        import anyio

        lock = ctx.state.setdefault(key + ".lock", anyio.Lock())
        async with lock:
            existing = ctx.state.get(key)
            if existing is not None:
                return existing
            sb = await _new_sandbox()
            ctx.exit_stack.push_async_callback(sb.close)  # registered before start: no leak
            try:
                await sb.start()
            except SandboxError as exc:
                await sb.close()
                raise SandboxError(f"the code sandbox could not start: {exc}") from None
            ctx.state[key] = sb
            return sb

    def _limit(timeout: float | None) -> float | None:
        if timeout is None:
            return None
        return min(float(timeout), max_timeout)

    async def code_interpreter(
        ctx: RunContext[Any], code: str,
        timeout: Annotated[float | None, Field(gt=0)] = None,
    ) -> str:
        """Run Python code in a sandbox. State (variables, imports) persists between calls in
        this conversation. The working directory is /workspace; files written there persist.
        The value of a final expression is shown; print() output is captured; matplotlib
        figures are saved as images automatically.

        Args:
            code: Python source to run.
            timeout: Seconds before the code is stopped (default: the sandbox's limit).
        """
        sb = await get_sandbox(ctx)
        limit = _limit(timeout)
        result = await sb.run_python(code, timeout=limit)
        return summarize_exec(result, kind="python", max_chars=max_output_chars,
                              timeout=limit or getattr(sb, "timeout", None))

    async def shell(
        ctx: RunContext[Any], command: str,
        timeout: Annotated[float | None, Field(gt=0)] = None,
    ) -> str:
        """Run a bash command in the sandbox, in /workspace (the same files code_interpreter
        sees). Each call is a fresh shell: cd and variables do not carry over.

        Args:
            command: The bash command line.
            timeout: Seconds before the command is stopped (default: the sandbox's limit).
        """
        sb = await get_sandbox(ctx)
        limit = _limit(timeout)
        result = await sb.run_shell(command, timeout=limit)
        return summarize_exec(result, kind="shell", max_chars=max_output_chars,
                              timeout=limit or getattr(sb, "timeout", None))

    return [Tool.from_function(code_interpreter, needs_approval=needs_approval),
            Tool.from_function(shell, needs_approval=needs_approval)]


def share_workspace(path: str | os.PathLike[str], user: str = "1000:1000") -> None:
    """Make a host directory usable as a sandbox workspace by the sandbox `user` ("uid:gid").

    As root the tree is handed to that user (symlinks themselves, never their targets);
    otherwise, unless we are that user, directories are opened to all (mode 0o777).
    Use it when `file_tools(dir)` and `DockerSandbox(workspace=dir)` share a directory.
    """
    uid, _, gid = user.partition(":")
    uid_n, gid_n = int(uid), int(gid or uid)
    root = os.fspath(path)
    euid = os.geteuid() if hasattr(os, "geteuid") else -1
    for dirpath, dirnames, filenames in os.walk(root):
        entries = [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]
        for entry in entries:
            if euid == 0:
                os.lchown(entry, uid_n, gid_n)
            elif euid != uid_n and os.path.isdir(entry) and not os.path.islink(entry):
                os.chmod(entry, 0o777)
