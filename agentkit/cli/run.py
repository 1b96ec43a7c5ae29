"""`agentkit run "task"`: one agent run against a real server, shown live."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["register", "report_failure"]

BUILTINS = ("code", "files", "web")


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run an agent on a task and watch it think")
    p.add_argument("task", help="what the agent should do")
    p.add_argument("--model", default=None, help="model name (default: qwen3-max on DashScope)")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible base URL")
    p.add_argument("--api-key", default=None, help="API key (default: from the environment)")
    from agentkit.wire import list_profiles

    p.add_argument("--profile", default="auto", choices=["auto", *list_profiles()],
                   help="server dialect (default: guessed from the URL)")
    p.add_argument("--no-thinking", action="store_true", help="Instruct mode: no reasoning")
    p.add_argument("--tools", default="",
                   help=f"built-in tools, comma-separated: {','.join(BUILTINS)}")
    p.add_argument("--root", default=".", help="root directory for the file tools")
    p.add_argument("--write", action="store_true",
                   help="let the file tools write under --root (read-only by default)")
    p.add_argument("--instructions", default="You are a helpful assistant. Use tools when useful.")
    p.add_argument("--max-steps", type=int, default=30)
    p.add_argument("--json", action="store_true", help="print events as JSON lines")
    p.set_defaults(func=_run)


def build_tools(names: str, root: str, write: bool = False) -> list[Any]:
    tools: list[Any] = []
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        if name == "code":
            from agentkit.tools import code_tools

            tools += code_tools()
        elif name == "files":
            from agentkit.tools import file_tools

            tools += file_tools(root, read_only=not write)
        elif name == "web":
            from agentkit.tools import web_tools

            tools += web_tools()
        else:
            raise SystemExit(f"unknown tool set {name!r}; choose from {', '.join(BUILTINS)}")
    return tools


NO_KEY_HELP = (
    "No API key for {url}. Set one of:\n"
    "  export DASHSCOPE_API_KEY=sk-...   # Qwen3-Max on Alibaba Cloud Model Studio\n"
    "  export OPENAI_BASE_URL=... OPENAI_API_KEY=...   # another OpenAI-compatible server\n"
    "or pass --base-url (and --api-key) for a server such as vLLM or Ollama.\n"
    "To see agentkit work offline, run: agentkit demo"
)


def report_failure(args: argparse.Namespace, exc: BaseException, text: str, code: int) -> int:
    """Report a failure once: a `run_failed` JSON event last on stdout, or text on stderr."""
    from agentkit.textsafe import terminal_text, valid_utf8

    if args.json:
        from agentkit.events import RunFailed

        event = RunFailed.from_error(exc)
        if text != str(exc):
            event.message = text
        event.message = valid_utf8(event.message)
        sys.stdout.write(event.model_dump_json() + "\n")
        sys.stdout.flush()
    else:  # its text may quote the server or a tool: no raw control characters
        print(terminal_text(text), file=sys.stderr)
    return code


def _run(args: argparse.Namespace) -> int:
    import anyio

    from agentkit import Agent, AgentError, UserError
    from agentkit.models import OpenAICompatModel

    from .render import EventPrinter

    printer = EventPrinter(sys.stdout, as_json=args.json)
    try:
        model = OpenAICompatModel(args.model, base_url=args.base_url, api_key=args.api_key,
                                  profile=args.profile, thinking=not args.no_thinking)
    except UserError as exc:
        if not str(exc).startswith("No API key"):
            return report_failure(args, exc, f"error: {exc}", 2)
        from agentkit.wire.profiles import DASHSCOPE_DEFAULT_BASE_URL

        url = args.base_url or os.environ.get("OPENAI_BASE_URL") or DASHSCOPE_DEFAULT_BASE_URL
        return report_failure(args, exc, NO_KEY_HELP.format(url=url), 2)
    try:
        tools = build_tools(args.tools, args.root, args.write)
    except ValueError as exc:  # e.g. a --root that does not exist
        return report_failure(args, exc, f"error: {exc}", 2)
    try:
        agent: Agent[Any] = Agent(model, args.instructions, tools, max_steps=args.max_steps)

        async def main() -> None:
            try:
                async with agent.stream(args.task) as stream:
                    async for event in stream:
                        printer(event)
            finally:
                await model.aclose()

        anyio.run(main)
    except UserError as exc:
        return report_failure(args, exc, f"error: {exc}", 2)
    except AgentError as exc:
        return report_failure(args, exc, f"\nrun failed: {type(exc).__name__}: {exc}", 1)
    return 0
