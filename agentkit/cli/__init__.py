"""The `agentkit` command line. Subcommands import what they need when they run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentkit",
        description="Thinking-mode tool-calling agents: run one, watch it think, test it offline.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from .run import register as register_run

    register_run(sub)
    from .demo import register as register_demo

    register_demo(sub)
    from agentkit.sandbox.cli import register as register_sandbox

    register_sandbox(sub)
    from agentkit.tau2.cli import register as register_tau2

    register_tau2(sub)
    from agentkit.mcp.cli import register as register_mcp

    register_mcp(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code = int(func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `agentkit ... | head`: the reader left; stop quietly
        _silence_stdout()
        return 141  # 128 + SIGPIPE, as a command killed by the signal would report


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file: nothing left to flush
        pass
    finally:
        os.close(devnull)
