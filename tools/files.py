"""`file_tools(root)`: read_file, write_file, edit_file, list_files, glob, grep (+ delete, move).

Every path the model gives is confined to `root` (see `agentkit.tools.paths`).
"""

from __future__ import annotations

import os
from typing import Any

from agentkit.tooldef import ApprovalRule, Tool

from .fileops import FileOps

__all__ = ["file_tools"]


def file_tools(
    root: str | os.PathLike[str] | Any,
    read_only: bool = False,
    *,
    allow_delete: bool = False,
    allow_move: bool = False,
    max_write_bytes: int = 10 * 1024 * 1024,
    max_read_chars: int = 100_000,
    max_results: int = 200,
    time_budget: float | None = 60.0,
    needs_approval: ApprovalRule = False,
) -> list[Tool]:
    """File tools confined to `root`.

    Read-only mode exposes only read_file, list_files, glob and grep (and the write methods
    refuse anyway). `delete_file` and `move_file` are added only when enabled. Refused
    everywhere: `..`, absolute paths outside the root, symlinks pointing outside, NUL bytes,
    device files, FIFOs and sockets. Writes are atomic, create parent directories and are
    capped at `max_write_bytes`. One list_files/glob/grep stops after `time_budget` seconds
    with what it found so far (and as soon as its call times out or is cancelled).

    To work on a sandbox's workspace, pass the host directory the sandbox mounts as its
    workspace (`DockerSandbox(workspace=dir)`): `file_tools(dir)` then reads and writes the
    very files the sandboxed code sees at `/workspace`. Passing the sandbox itself as `root`
    does the same (it must have been created with a host `workspace`).

    `needs_approval` (True, or `(ctx, arguments) -> bool`) applies to the tools that change
    files (write, edit, delete, move): a person approves each such call before it runs.
    """
    if hasattr(root, "run_python") and hasattr(root, "workspace"):
        if root.workspace is None:
            raise ValueError("this sandbox keeps /workspace in its own tmpfs; create it with "
                             "DockerSandbox(workspace=host_dir) to share files with file_tools")
        root = root.workspace
    ops = FileOps(root, read_only=read_only, max_write_bytes=max_write_bytes,
                  max_read_chars=max_read_chars, max_results=max_results,
                  time_budget=time_budget)
    where = "Paths are relative to the working directory root (absolute paths must lie inside it)."

    def read_file(path: str, start_line: int = 1, end_line: int | None = None) -> str:
        """Read a text file, with line numbers. Long output is cut; continue with start_line.

        Args:
            path: File to read.
            start_line: First line to show (counting from 1).
            end_line: Last line to show (inclusive); omit for the rest of the file.
        """
        return ops.read(path, start_line, end_line)

    def write_file(path: str, content: str) -> str:
        """Create or overwrite a text file (UTF-8) with `content`; parent directories are made.

        Args:
            path: File to write.
            content: The complete new content of the file.
        """
        return ops.write(path, content)

    def edit_file(path: str, old_string: str, new_string: str, replace_all: bool = False) -> str:
        """Replace an exact string in a file. old_string must occur exactly once unless
        replace_all is true; copy it exactly from read_file output (without line numbers).

        Args:
            path: File to edit.
            old_string: The exact text to replace, including whitespace and indentation.
            new_string: The replacement text.
            replace_all: Replace every occurrence instead of requiring a unique one.
        """
        return ops.edit(path, old_string, new_string, replace_all)

    def list_files(path: str = ".", recursive: bool = False) -> str:
        """List a directory: subdirectories end with '/', files show their size.

        Args:
            path: Directory to list (default: the root).
            recursive: Also list everything below it.
        """
        return ops.list(path, recursive)

    def glob(pattern: str, path: str = ".") -> str:
        """Find paths matching a glob pattern such as '**/*.py' or 'src/*.{js,ts}'.

        Args:
            pattern: Glob relative to `path`; '**' matches any number of directories.
            path: Directory to search from.
        """
        return ops.glob(pattern, path)

    def grep(pattern: str, path: str = ".", include: str | None = None,
             ignore_case: bool = False, max_results: int = 100) -> str:
        """Search file contents with a regular expression; prints path:line: text.

        Args:
            pattern: Regular expression (Python syntax).
            path: File or directory to search.
            include: Only search files matching this glob, e.g. '*.py'.
            ignore_case: Match without regard to case.
            max_results: Stop after this many matching lines.
        """
        return ops.grep(pattern, path, include, ignore_case, max_results)

    def delete_file(path: str) -> str:
        """Delete a file (or an empty directory).

        Args:
            path: File or empty directory to delete.
        """
        return ops.delete(path)

    def move_file(source: str, destination: str, overwrite: bool = False) -> str:
        """Move or rename a file or directory.

        Args:
            source: Existing path.
            destination: New path (including the file name); parent directories are made.
            overwrite: Replace an existing destination file.
        """
        return ops.move(source, destination, overwrite)

    funcs: list[Any] = [read_file, list_files, glob, grep]
    if not read_only:
        funcs[1:1] = [write_file, edit_file]
        if allow_delete:
            funcs.append(delete_file)
        if allow_move:
            funcs.append(move_file)
    changes = (write_file, edit_file, delete_file, move_file)
    tools = []
    for fn in funcs:
        t = Tool.from_function(fn, needs_approval=needs_approval if fn in changes else False)
        t.description = f"{t.description}\n{where}"
        tools.append(t)
    return tools
