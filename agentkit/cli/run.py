"""`agentkit run "task"`: one agent run against a real server, shown live."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]

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
    "No API key found. Set one of:\n"
    "  export DASHSCOPE_API_KEY=sk-...   # Qwen3-Max on Alibaba Cloud Model Studio\n"
    "  export OPENAI_BASE_URL=... OPENAI_API_KEY=...   # another OpenAI-compatible server\n"
    "or pass --base-url (and --api-key) for a server such as vLLM or Ollama.\n"
    "To see agentkit work offline, run: agentkit demo"
)


def _run(args: argparse.Namespace) -> int:
    import anyio

    from agentkit import Agent, AgentError, UserError
    from agentkit.models import OpenAICompatModel
    from agentkit.textsafe import terminal_text

    from .render import EventPrinter

    printer = EventPrinter(sys.stdout, as_json=args.json)
    try:
        model = OpenAICompatModel(args.model, base_url=args.base_url, api_key=args.api_key,
                                  profile=args.profile, thinking=not args.no_thinking)
    except UserError as exc:
        print(f"{exc}\n\n{NO_KEY_HELP}", file=sys.stderr)
        return 2
    try:
        tools = build_tools(args.tools, args.root, args.write)
    except ValueError as exc:  # e.g. a --root that does not exist
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        agent: Agent[Any] = Agent(model, args.instructions, tools, max_steps=args.max_steps)

        async def main() -> None:
            try:
                async for event in agent.stream(args.task):
                    printer(event)
            finally:
                await model.aclose()

        anyio.run(main)
    except UserError as exc:
        print(f"error: {terminal_text(str(exc))}", file=sys.stderr)
        return 2
    except AgentError as exc:  # its text may quote the server or a tool: no raw controls
        print(f"\nrun failed: {type(exc).__name__}: {terminal_text(str(exc))}", file=sys.stderr)
        return 1
    return 0
